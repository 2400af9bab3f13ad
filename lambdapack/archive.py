"""Write deterministic ZIP files, atomically.

The determinism contract (docs/determinism.md) is kept here:

* entries sorted by their UTF-8 name; files only, no directory entries;
* every timestamp the same: 1980-01-01 00:00:00, or ``SOURCE_DATE_EPOCH``
  (UTC, rounded down to DOS's 2-second resolution, clamped to 1980..2107);
* mode 0644, or 0755 when the owner-execute bit is set; "version made by"
  Unix 2.0; no extra fields, no comments, no data descriptors;
* raw deflate by libdeflate at level 6, from the ``deflate`` package pinned
  by lambdapack (never the host's zlib or zlib-ng), stored when deflate does
  not shrink the entry; CRC-32 from the same library;
* written to a temporary file beside the target and renamed into place.

The writer is lambdapack's own (not :mod:`zipfile`) so that every header byte
is decided here, whatever the Python version.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import ArchiveError, os_error

COMPRESS_LEVEL = 6
DOS_EPOCH = 315532800  # 1980-01-01T00:00:00Z
_MAX_DOS = 4354819198  # 2107-12-31T23:59:58Z
_MADE_BY = (3 << 8) | 20  # Unix, spec 2.0
_NEEDED = 20
_NEEDED_ZIP64 = 45
_UTF8_FLAG = 0x800
_STORED = 0
_DEFLATED = 8
_MAX32 = 0xFFFFFFFF
_MAX16 = 0xFFFF


@dataclass(frozen=True, kw_only=True, slots=True)
class Compressed:
    """A file's bytes as stored in a zip entry."""

    method: int  # 0 stored, 8 deflated
    crc: int
    size: int  # uncompressed
    payload: bytes | bytearray | memoryview


@dataclass(frozen=True, kw_only=True, slots=True)
class ArchiveEntry:
    """A file in the zip: its name there, where to read it, its exec bit, and
    its compressed form when already known (taken verbatim)."""

    name: str
    path: str | Path  # a str from the source walk (cheaper to make than a Path, for 20,000 files)
    executable: bool
    compressed: Compressed | None = None


def compress(data: bytes) -> Compressed:
    """The entry for ``data``: deflated by the pinned libdeflate, or stored."""
    import deflate  # here, not at the top: a no-op build never compresses

    crc = deflate.crc32(data)
    if data:
        deflated = deflate.deflate_compress(data, COMPRESS_LEVEL)
        if len(deflated) < len(data):
            return Compressed(method=_DEFLATED, crc=crc, size=len(data), payload=deflated)
    return Compressed(method=_STORED, crc=crc, size=len(data), payload=data)


def compress_file(path: str | Path) -> Compressed:
    try:
        return compress(Path(path).read_bytes())
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror}") from None


def name_problem(name: str) -> str | None:
    """Why ``name`` is unsafe as a zip entry (extractors could write outside
    their target directory, or read it differently), or None."""
    if not name:
        return "empty"
    if "\\" in name:
        return "a backslash, a directory separator for Windows tools"
    if name.startswith("/") or (len(name) > 1 and name[0].isalpha() and name[1] == ":"):
        return "an absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "a '..' component"
    if "" in parts[:-1] or "." in parts:
        return "an empty or '.' component"
    if "\0" in name:
        return "a NUL character"
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class WrittenArchive:
    path: Path
    size: int
    sha256: bytes  # raw digest
    entries: int
    uncompressed: int


def dos_timestamp(epoch: int | None) -> tuple[int, int]:
    """(DOS time, DOS date) for ``epoch`` seconds (None: 1980-01-01), in UTC."""
    seconds = DOS_EPOCH if epoch is None else min(max(epoch, DOS_EPOCH), _MAX_DOS)
    t = time.gmtime(seconds)
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    dos_date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    return dos_time, dos_date


def write(
    entries: Iterable[ArchiveEntry], dest: Path, *, epoch: int | None = None, replace: bool = True
) -> WrittenArchive:
    """Write ``entries`` to ``dest`` deterministically; replace it atomically.

    With ``replace=False`` the zip is left in its temporary file beside
    ``dest`` (``WrittenArchive.path``; named by :func:`temporary_name`), for the
    caller to rename into place when the manifest allows it."""
    ordered = sorted(entries, key=lambda e: e.name.encode("utf-8"))
    names = [e.name for e in ordered]
    unsafe = [f"{n!r} ({problem})" for n in names if (problem := name_problem(n))]
    if unsafe:
        raise ArchiveError(f"refusing to write unsafe entry names into {dest.name}: {', '.join(unsafe[:3])}")
    duplicates = sorted({n for a, n in itertools.pairwise(names) if a == n})
    if duplicates:
        raise ArchiveError(f"duplicate entries in {dest.name}: {', '.join(duplicates[:5])}")
    import tempfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            out = _HashingWriter(raw)
            count, uncompressed = _write_zip(out, ordered, dos_timestamp(epoch))
            raw.flush()
            os.fsync(raw.fileno())
        tmp.chmod(0o644)
        if replace:
            tmp.replace(dest)
    except OSError as exc:  # a full disk, a vanished directory …: name the zip
        tmp.unlink(missing_ok=True)
        if exc.filename is None:
            exc = OSError(exc.errno, exc.strerror, str(dest))
        raise os_error(exc, "cannot write the zip") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return WrittenArchive(
        path=dest if replace else tmp,
        size=out.size,
        sha256=out.digest(),
        entries=count,
        uncompressed=uncompressed,
    )


#: ``.<zip name>.<pid>.<random>.tmp``: a zip being written by process ``pid`` (or its
#: SBOM, ``.<name>.cdx.json.<pid>.<random>.tmp``: lambdapack.sbom.write_pending; or the
#: manifest, the state or the plans: ``.<name>.json.<pid>.<random>.tmp``, atomic.write_bytes).
_TEMPORARY = re.compile(r"^\..+\.(?:zip|json)\.(\d+)\.[^.]+\.tmp$")


def stale_temporaries(directory: Path) -> list[Path]:
    """Temporary zips, SBOMs and manifests in ``directory`` left by builds that died (their
    process is gone)."""
    found = []
    try:
        paths = list(directory.iterdir())
    except OSError:
        return []
    for path in paths:
        match = _TEMPORARY.match(path.name)
        if match and not process_alive(int(match.group(1))):
            found.append(path)
    return sorted(found)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (this one included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


class _HashingWriter:
    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._raw.write(data)
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> bytes:
        return self._hash.digest()


def _write_zip(out: _HashingWriter, entries: list[ArchiveEntry], stamp: tuple[int, int]) -> tuple[int, int]:
    dos_time, dos_date = stamp
    central = bytearray()
    uncompressed = 0
    for entry in entries:
        item = entry.compressed or compress_file(entry.path)
        uncompressed += item.size
        method, payload, crc = item.method, item.payload, item.crc
        name = entry.name.encode("utf-8")
        flags = 0 if name.isascii() else _UTF8_FLAG
        offset = out.size
        if offset > _MAX32 or item.size > _MAX32:
            raise ArchiveError("archive exceeds 4 GiB, far beyond Lambda's limits")
        out.write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                _NEEDED,
                flags,
                method,
                dos_time,
                dos_date,
                crc,
                len(payload),
                item.size,
                len(name),
                0,
            )
        )
        out.write(name)
        out.write(payload)
        mode = 0o100755 if entry.executable else 0o100644
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            _MADE_BY,
            _NEEDED,
            flags,
            method,
            dos_time,
            dos_date,
            crc,
            len(payload),
            item.size,
            len(name),
            0,
            0,
            0,
            0,
            mode << 16,
            offset,
        )
        central += name
    cd_offset = out.size
    out.write(bytes(central))
    count = len(entries)
    if count > _MAX16 or cd_offset > _MAX32:
        zip64_offset = out.size
        out.write(
            struct.pack(
                "<IQHHIIQQQQ",
                0x06064B50,
                44,
                (3 << 8) | _NEEDED_ZIP64,
                _NEEDED_ZIP64,
                0,
                0,
                count,
                count,
                len(central),
                cd_offset,
            )
        )
        out.write(struct.pack("<IIQI", 0x07064B50, 0, zip64_offset, 1))
    out.write(
        struct.pack(
            "<IHHHHIIH",
            0x06054B50,
            0,
            0,
            min(count, _MAX16),
            min(count, _MAX16),
            min(len(central), _MAX32),
            min(cd_offset, _MAX32),
            0,
        )
    )
    return count, uncompressed
