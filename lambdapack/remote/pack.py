"""One remote cache object: a cache entry's files in one stream, with the
SHA-256 of its body and, when a signing key is set, an HMAC-SHA256 signature.

Layout: ``b"LPRC\\x01"``, the header's length (4 bytes, little-endian), the
header (JSON), then the members' bytes one after another. The header::

    {"kind": "deps", "key": "<cache key>",
     "members": [[name, codec, stored size, size], ...],
     "sha256": "<hex SHA-256 of the body>", "signature": "<hex HMAC>" | null}

A member is stored as it is ("raw": the dependency set's payload is already
deflated) or zlib-compressed ("zlib": its JSON and text files). The signature
covers the object's name in the bucket, its kind and key, the members and the
body's SHA-256, so neither a changed byte nor a valid object copied under
another key passes. Packing and unpacking stream in chunks: memory stays
bounded whatever an entry's size.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAGIC = b"LPRC\x01"
_LENGTH = struct.Struct("<I")
_CHUNK = 1 << 20
#: The largest header lambdapack reads (a header lists a few members).
_MAX_HEADER = 1 << 20
#: The most an object may unpack to (a dependency set is at most Lambda's 250 MB unzipped, its
#: payload less): a larger claim is refused before anything is written.
MAX_UNPACKED = 2 << 30
#: Members compressed with zlib (the rest, already compressed, are stored as they are).
_TEXT_SUFFIXES = (".json", ".txt")


class Rejected(Exception):
    """An object that must not be used; the message says why (one line)."""

    def __init__(self, message: str, *, untrusted: bool = False) -> None:
        super().__init__(message)
        #: A signature problem (as opposed to a damaged object).
        self.untrusted = untrusted


@dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    name: str
    codec: str  # "raw" or "zlib"
    stored: int  # bytes in the object
    size: int  # bytes once unpacked


def pack(
    files: Mapping[str, Path], out: IO[bytes], *, name: str, kind: str, key: str, signing_key: str | None
) -> int:
    """Write ``files`` (member name -> path) as one object named ``name`` to
    ``out``; returns the bytes written."""
    import tempfile

    members: list[Member] = []
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as body:
        for member_name in sorted(files):
            path = files[member_name]
            codec = "zlib" if member_name.endswith(_TEXT_SUFFIXES) else "raw"
            compressor = zlib.compressobj(6) if codec == "zlib" else None
            stored = size = 0
            with path.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    size += len(chunk)
                    data = compressor.compress(chunk) if compressor else chunk
                    body.write(data)
                    digest.update(data)
                    stored += len(data)
            if compressor is not None:
                tail = compressor.flush()
                body.write(tail)
                digest.update(tail)
                stored += len(tail)
            members.append(Member(name=member_name, codec=codec, stored=stored, size=size))
        header = _header(name, kind, key, members, digest.hexdigest(), signing_key)
        out.write(MAGIC + _LENGTH.pack(len(header)) + header)
        body.seek(0)
        total = len(MAGIC) + _LENGTH.size + len(header)
        while chunk := body.read(_CHUNK):
            out.write(chunk)
            total += len(chunk)
    return total


def unpack(
    source: IO[bytes], into: Path, *, name: str, kind: str, key: str, signing_key: str | None
) -> dict[str, Path]:
    """Check the object ``name`` read from ``source`` (its SHA-256, then its
    signature when ``signing_key`` is set) and write its members into the
    directory ``into``; returns member name -> path. Raises :class:`Rejected`."""
    head = source.read(len(MAGIC) + _LENGTH.size)
    if len(head) < len(MAGIC) + _LENGTH.size or not head.startswith(MAGIC):
        raise Rejected("not a lambdapack cache object (or a newer format)")
    (length,) = _LENGTH.unpack_from(head, len(MAGIC))
    if length > _MAX_HEADER:
        raise Rejected("its header is damaged")
    raw = source.read(length)
    try:
        header = json.loads(raw)
        members = [Member(name=m[0], codec=m[1], stored=int(m[2]), size=int(m[3])) for m in header["members"]]
        claimed = str(header["sha256"])
        signature = header.get("signature")
    except (ValueError, KeyError, TypeError, IndexError):
        raise Rejected("its header is damaged") from None
    if header.get("kind") != kind or header.get("key") != key:
        raise Rejected("it was stored under another name")
    if any(_unsafe(m.name) or m.codec not in ("raw", "zlib") or min(m.size, m.stored) < 0 for m in members):
        raise Rejected("its header is damaged")
    if sum(m.size for m in members) > MAX_UNPACKED:
        raise Rejected(f"it claims more than {MAX_UNPACKED >> 30} GiB")
    if signing_key is not None:
        if not isinstance(signature, str):
            raise Rejected("it is not signed", untrusted=True)
        expected = _signature(signing_key, name, kind, key, members, claimed)
        if not hmac.compare_digest(signature, expected):
            raise Rejected("its signature does not match the signing key", untrusted=True)
    digest = hashlib.sha256()
    out: dict[str, Path] = {}
    into.mkdir(parents=True, exist_ok=True)
    for member in members:
        target = into / member.name
        decompressor = zlib.decompressobj() if member.codec == "zlib" else None
        left, written = member.stored, 0
        with target.open("wb") as sink:
            while left:
                chunk = source.read(min(left, _CHUNK))
                if not chunk:
                    raise Rejected("it is truncated")
                left -= len(chunk)
                digest.update(chunk)
                try:
                    data = decompressor.decompress(chunk, member.size + 1) if decompressor else chunk
                except zlib.error:
                    raise Rejected(f"its member {member.name} is damaged") from None
                written += len(data)
                if written > member.size:
                    raise Rejected(f"its member {member.name} is damaged")
                sink.write(data)
        if written != member.size:
            raise Rejected(f"its member {member.name} is damaged")
        out[member.name] = target
    if source.read(1):
        raise Rejected("it has bytes after its last member")
    if digest.hexdigest() != claimed:
        raise Rejected("its content does not match its SHA-256")
    return out


def _header(
    name: str, kind: str, key: str, members: Sequence[Member], sha256: str, signing_key: str | None
) -> bytes:
    signature = None if signing_key is None else _signature(signing_key, name, kind, key, members, sha256)
    document = {
        "kind": kind,
        "key": key,
        "members": [[m.name, m.codec, m.stored, m.size] for m in members],
        "sha256": sha256,
        "signature": signature,
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def _signature(
    signing_key: str, name: str, kind: str, key: str, members: Sequence[Member], sha256: str
) -> str:
    signed = json.dumps(
        [MAGIC.hex(), name, kind, key, [[m.name, m.codec, m.stored, m.size] for m in members], sha256],
        separators=(",", ":"),
    )
    return hmac.new(signing_key.encode("utf-8"), signed.encode("utf-8"), hashlib.sha256).hexdigest()


def _unsafe(name: object) -> bool:
    return not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith(".")
