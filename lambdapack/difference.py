"""What differs between two zips, built by anything (``lambdapack diff``).

Both central directories are compared entry by entry (by name) before any
content is read: the CRC-32 and uncompressed size tell a content change, the
other header fields tell metadata changes. No member is decompressed; the
only members read are the small files that name a distribution's files and
version (``*.dist-info/RECORD``, ``package.json``), to group the entries by
distribution. The two files are compared byte by byte only when the central
directories agree, to tell "identical" from "differs only in local headers or
compressed bytes".
"""

from __future__ import annotations

import bisect
import os
import re
import struct
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .contents import Distribution, UnreadableZip, ZipPackage

#: What can differ in an entry present in both zips, in the order they are reported.
KINDS = (
    "content",  # CRC-32 or uncompressed size
    "mode",  # external attributes (Unix mode and file type, DOS attributes)
    "timestamp",  # DOS date and time
    "compression method",  # stored, deflated, …
    "compression level",  # same method and content, another compressed size
    "extra fields",  # extra field bytes, zip64's aside
    "zip64",  # a zip64 extra field in one zip's entry only
    "made by",  # "version made by" (system and spec version) or "version needed to extract"
    "flags",  # general-purpose bit flags (UTF-8 names, data descriptor, deflate options)
    "internal attributes",  # Info-ZIP's text-file bit
    "comment",  # the entry's comment
)
#: The group of files no distribution owns.
OWN_CODE = "own code"
#: The group of directory entries (``name/``): metadata, never content.
DIRECTORIES = "directory entries"

_PLURALS = {
    "content": "contents",
    "mode": "modes",
    "timestamp": "timestamps",
    "compression method": "compression methods",
    "compression level": "compression levels",
    "extra fields": "extra fields",
    "zip64": "zip64 fields",
    "made by": "made by",
    "flags": "flags",
    "internal attributes": "internal attributes",
    "comment": "comments",
}
_ZIP64_EXTRA = 0x0001
_ZIP64_LOCATOR = b"PK\x06\x07"
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True, slots=True)
class EntryChange:
    """An entry in one zip only (``kinds`` empty), or in both with what differs."""

    name: str
    group: str  # the key of its DistributionChange
    kinds: tuple[str, ...]
    size_a: int | None  # uncompressed bytes; None: not in A
    size_b: int | None
    compressed_a: int | None  # bytes in the zip; None: not in A
    compressed_b: int | None

    @property
    def compressed_delta(self) -> int:
        return (self.compressed_b or 0) - (self.compressed_a or 0)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "group": self.group,
            "kinds": list(self.kinds),
            "size_a": self.size_a,
            "size_b": self.size_b,
            "compressed_a": self.compressed_a,
            "compressed_b": self.compressed_b,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DistributionChange:
    """The differing entries of one distribution (or of the own code, or the
    directory entries), with its version in each zip."""

    key: str  # "lpfix-base"; npm: the package's directory; or OWN_CODE, DIRECTORIES
    name: str
    kind: str  # "distribution", "own code" or "directories"
    version_a: str | None  # None: not in A (or not a distribution)
    version_b: str | None
    only_a: tuple[EntryChange, ...]
    only_b: tuple[EntryChange, ...]
    changed: tuple[EntryChange, ...]

    @property
    def compressed_delta(self) -> int:
        """Bytes in B's zip minus bytes in A's, for this group's entries (headers aside)."""
        return sum(e.compressed_delta for e in (*self.only_a, *self.only_b, *self.changed))

    @property
    def size_delta(self) -> int:
        """Uncompressed bytes in B minus in A."""
        return sum((e.size_b or 0) - (e.size_a or 0) for e in (*self.only_a, *self.only_b, *self.changed))

    @property
    def content_files(self) -> int:
        """Files added, removed or with another content (directory entries never count)."""
        if self.kind == "directories":
            return 0
        return len(self.only_a) + len(self.only_b) + sum("content" in e.kinds for e in self.changed)

    @property
    def content_changed(self) -> bool:
        return self.content_files > 0 or (self.kind == "distribution" and self.version_a != self.version_b)

    def label(self) -> str:
        if self.kind != "distribution":
            return self.name
        if self.version_a == self.version_b:
            return f"{self.name} {self.version_a}"
        if self.version_a is None:
            return f"{self.name} {self.version_b} (only in B)"
        if self.version_b is None:
            return f"{self.name} {self.version_a} (only in A)"
        return f"{self.name} {self.version_a} → {self.version_b}"

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "name": self.name,
            "kind": self.kind,
            "version_a": self.version_a,
            "version_b": self.version_b,
            "content_changed": self.content_changed,
            "compressed_delta": self.compressed_delta,
            "size_delta": self.size_delta,
            "only_a": [e.name for e in self.only_a],
            "only_b": [e.name for e in self.only_b],
            "changed": [e.name for e in self.changed],
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ZipSide:
    """One of the two zips as a whole."""

    path: str
    size: int  # bytes of the zip file
    entries: int  # central directory records (directories and duplicates included)
    zip64: bool  # has a zip64 end-of-central-directory record

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "entries": self.entries, "zip64": self.zip64}


@dataclass(frozen=True, kw_only=True, slots=True)
class Difference:
    a: ZipSide
    b: ZipSide
    #: The two files have the same bytes.
    identical: bool
    #: The same files with the same contents (directory entries and metadata aside).
    same_contents: bool
    #: One line: what differs, content first.
    verdict: str
    only_a: tuple[EntryChange, ...]
    only_b: tuple[EntryChange, ...]
    changed: tuple[EntryChange, ...]
    #: Groups with a difference: distributions, then own code, then directory entries.
    groups: tuple[DistributionChange, ...]
    #: For entries in both zips: kind -> how many entries differ in it.
    metadata: tuple[tuple[str, int], ...]
    #: Entries in both zips that would have to move to give A's order (0: same relative order).
    reordered: int
    #: Differences of the archive as a whole: "order", "duplicate names", "zip64 end record", "comment".
    archive: tuple[str, ...]
    #: When the central directories agree but the bytes do not: the first differing byte.
    first_difference: int | None

    @property
    def zipped_delta(self) -> int:
        """B's zip file size minus A's."""
        return self.b.size - self.a.size

    def to_json(self) -> dict[str, object]:
        return {
            "version": 1,
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "identical": self.identical,
            "same_contents": self.same_contents,
            "verdict": self.verdict,
            "zipped_delta": self.zipped_delta,
            "metadata": dict(self.metadata),
            "reordered": self.reordered,
            "archive": list(self.archive),
            "first_difference": self.first_difference,
            "groups": [g.to_json() for g in self.groups],
            "only_a": [e.to_json() for e in self.only_a],
            "only_b": [e.to_json() for e in self.only_b],
            "changed": [e.to_json() for e in self.changed],
        }


def compare(a: str | Path, b: str | Path) -> Difference:
    """What differs between the zips ``a`` and ``b``: raises ConfigError for a
    missing file, UnreadableZip for a file that is not a readable zip."""
    path_a, path_b = Path(a), Path(b)
    with ZipPackage(path_a) as package_a, ZipPackage(path_b) as package_b:
        side_a, infos_a = _side(path_a, package_a)
        side_b, infos_b = _side(path_b, package_b)
        common = [n for n in infos_a if n in infos_b]
        local_a, local_b = _local_extras(path_a, infos_a, common), _local_extras(path_b, infos_b, common)
        changed = [
            (name, kinds)
            for name in common
            if (kinds := _kinds(infos_a[name], infos_b[name], local_a.get(name), local_b.get(name)))
        ]
        only_a = [n for n in infos_a if n not in infos_b]
        only_b = [n for n in infos_b if n not in infos_a]
        reordered = _moved(common, infos_b)
        archive = tuple(
            what
            for what, differs in (
                ("order", reordered > 0),
                ("duplicate names", side_a.entries - len(infos_a) != side_b.entries - len(infos_b)),
                ("zip64 end record", side_a.zip64 != side_b.zip64),
                ("comment", package_a.comment != package_b.comment),
            )
            if differs
        )
        first = None
        if not (changed or only_a or only_b or archive):
            first = _first_difference(path_a, path_b)
        needs_owners = bool(changed or only_a or only_b)
        owners_a = _Owners(package_a.owners() if needs_owners else {})
        owners_b = _Owners(package_b.owners() if needs_owners else {})

    def entry(name: str, kinds: tuple[str, ...] = ()) -> EntryChange:
        info_a, info_b = infos_a.get(name), infos_b.get(name)
        return EntryChange(
            name=name,
            group=_group(
                name, owners_a.key(name) if info_a else None, owners_b.key(name) if info_b else None
            ),
            kinds=kinds,
            size_a=info_a.file_size if info_a else None,
            size_b=info_b.file_size if info_b else None,
            compressed_a=info_a.compress_size if info_a else None,
            compressed_b=info_b.compress_size if info_b else None,
        )

    entries_a = tuple(entry(n) for n in sorted(only_a))
    entries_b = tuple(entry(n) for n in sorted(only_b))
    entries_changed = tuple(entry(n, k) for n, k in sorted(changed))
    groups = _groups(entries_a, entries_b, entries_changed, owners_a, owners_b)
    counts = {kind: 0 for kind in KINDS}
    for change in entries_changed:
        for kind in change.kinds:
            counts[kind] += 1
    metadata = tuple((k, n) for k, n in counts.items() if n)
    identical = first is None and not (changed or only_a or only_b or archive)
    same_contents = not any(g.content_changed for g in groups)
    verdict = _verdict(
        identical=identical,
        groups=groups,
        metadata=metadata,
        reordered=reordered,
        archive=archive,
        zipped_delta=side_b.size - side_a.size,
        first_difference=first,
    )
    return Difference(
        a=side_a,
        b=side_b,
        identical=identical,
        same_contents=same_contents,
        verdict=verdict,
        only_a=entries_a,
        only_b=entries_b,
        changed=entries_changed,
        groups=groups,
        metadata=metadata,
        reordered=reordered,
        archive=archive,
        first_difference=first,
    )


#: The name lambdapack exports (``lambdapack.compare_zips``).
compare_zips = compare


def signed_size(delta: int) -> str:
    from .render import human_size

    return ("-" if delta < 0 else "+") + human_size(abs(delta))


# -- reading ---------------------------------------------------------------------------------------


def _side(path: Path, package: ZipPackage) -> tuple[ZipSide, dict[str, zipfile.ZipInfo]]:
    """The zip as a whole, and its central directory by name (the last of
    duplicates wins, as for extractors), in central directory order."""
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in package.infos:
        infos.pop(info.filename, None)
        infos[info.filename] = info
    size = package.zipped_size or 0
    side = ZipSide(path=str(path), size=size, entries=len(package.infos), zip64=_has_zip64_end(path, package))
    return side, infos


def _has_zip64_end(path: Path, package: ZipPackage) -> bool:
    """Whether a zip64 end-of-central-directory locator precedes the end record."""
    size = package.zipped_size or 0
    at = size - 22 - len(package.comment) - 20
    if at < 0:
        return False
    try:
        with path.open("rb") as f:
            f.seek(at)
            return f.read(4) == _ZIP64_LOCATOR
    except OSError as exc:
        raise UnreadableZip(f"{path}: cannot read ({exc.strerror or exc})") from None


def _first_difference(a: Path, b: Path) -> int | None:
    """The offset of the first byte that differs (the shorter file's size when
    one is a prefix of the other), or None: the same bytes."""
    offset = 0
    try:
        with a.open("rb") as fa, b.open("rb") as fb:
            while True:
                chunk_a, chunk_b = fa.read(_CHUNK), fb.read(_CHUNK)
                if chunk_a != chunk_b:
                    same = next(
                        (i for i, (x, y) in enumerate(zip(chunk_a, chunk_b, strict=False)) if x != y),
                        min(len(chunk_a), len(chunk_b)),
                    )
                    return offset + same
                if not chunk_a:
                    return None
                offset += len(chunk_a)
    except OSError as exc:
        raise UnreadableZip(f"{exc.filename or a}: cannot read ({exc.strerror or exc})") from None


def _local_extras(path: Path, infos: Mapping[str, zipfile.ZipInfo], names: Sequence[str]) -> dict[str, bytes]:
    """The extra field of each entry's local header (where a zip64 field may
    be although the central directory has none): the header, the name and
    the extra field, one read per entry, never its data. An entry whose local
    header is not where the central directory says is left out."""
    found: dict[str, bytes] = {}
    try:
        with path.open("rb") as f:
            fd = f.fileno()
            for name in sorted(names, key=lambda n: infos[n].header_offset):
                offset = infos[name].header_offset
                header = os.pread(fd, 30 + len(infos[name].orig_filename.encode()) + 64, offset)
                if len(header) < 30 or header[:4] != b"PK\x03\x04":
                    continue
                name_length, extra_length = struct.unpack_from("<HH", header, 26)
                end = 30 + name_length + extra_length
                if len(header) < end:
                    header = os.pread(fd, end, offset)
                found[name] = header[30 + name_length : end]
    except OSError as exc:
        raise UnreadableZip(f"{path}: cannot read ({exc.strerror or exc})") from None
    return found


def _kinds(
    x: zipfile.ZipInfo, y: zipfile.ZipInfo, local_x: bytes | None = None, local_y: bytes | None = None
) -> tuple[str, ...]:
    """What differs between two entries of the same name (``local_*``: their
    local headers' extra fields, compared with the central directory's)."""
    content = x.CRC != y.CRC or x.file_size != y.file_size
    extras_x = [*_extras(x.extra), *_extras(local_x or b"")]
    extras_y = [*_extras(y.extra), *_extras(local_y or b"")]
    zip64_x, zip64_y = (any(tag == _ZIP64_EXTRA for tag, _ in e) for e in (extras_x, extras_y))
    found = {
        "content": content,
        "mode": x.external_attr != y.external_attr,
        "timestamp": x.date_time != y.date_time,
        "compression method": x.compress_type != y.compress_type,
        "compression level": x.compress_type == y.compress_type
        and not content
        and x.compress_size != y.compress_size,
        "extra fields": [e for e in extras_x if e[0] != _ZIP64_EXTRA]
        != [e for e in extras_y if e[0] != _ZIP64_EXTRA],
        "zip64": zip64_x != zip64_y,
        "made by": (x.create_system, x.create_version, x.extract_version)
        != (y.create_system, y.create_version, y.extract_version),
        "flags": x.flag_bits != y.flag_bits,
        "internal attributes": x.internal_attr != y.internal_attr,
        "comment": x.comment != y.comment,
    }
    return tuple(kind for kind in KINDS if found[kind])


def _extras(extra: bytes) -> list[tuple[int, bytes]]:
    """The (header id, data) fields of an extra field; a malformed one as one field of id -1."""
    fields = []
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        if at + 4 + size > len(extra):
            break
        fields.append((tag, extra[at + 4 : at + 4 + size]))
        at += 4 + size
    if at != len(extra):
        fields.append((-1, extra[at:]))
    return fields


def _moved(common_in_a_order: Sequence[str], infos_b: Mapping[str, object]) -> int:
    """How many entries would have to move for B's order of the common entries
    to be A's: their number less the longest run in the same relative order."""
    position = {name: i for i, name in enumerate(infos_b)}
    tails: list[int] = []  # patience sorting: the longest increasing subsequence's length
    for name in common_in_a_order:
        p = position[name]
        i = bisect.bisect_left(tails, p)
        if i == len(tails):
            tails.append(p)
        else:
            tails[i] = p
    return len(common_in_a_order) - len(tails)


# -- grouping --------------------------------------------------------------------------------------


class _Owners:
    """A zip's distributions by group key, and each file's key."""

    def __init__(self, owners: Mapping[str, Distribution]) -> None:
        self._owners = owners
        self._keys = {dist: _key(dist) for dist in set(owners.values())}
        self.by_key: dict[str, Distribution] = {}
        for dist in sorted(self._keys, key=lambda d: (d.metadata, d.name, d.version)):
            self.by_key.setdefault(self._keys[dist], dist)

    def key(self, name: str) -> str:
        if name.endswith("/"):
            return DIRECTORIES
        dist = self._owners.get(name)
        return OWN_CODE if dist is None else self._keys[dist]


def _key(dist: Distribution) -> str:
    """A distribution's group: Python's normalized name (its dist-info's name
    changes with its version), or an npm package's directory (nested copies of
    one package in other versions are other groups)."""
    if dist.metadata.endswith(".dist-info"):
        return _normalize(dist.name)
    return dist.metadata.removesuffix("/package.json")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _group(name: str, key_a: str | None, key_b: str | None) -> str:
    """The group of an entry (the lesser key when A and B disagree: the same either way round)."""
    keys = [k for k in (key_a, key_b) if k is not None]
    return min(keys) if keys else OWN_CODE


def _groups(
    only_a: Sequence[EntryChange],
    only_b: Sequence[EntryChange],
    changed: Sequence[EntryChange],
    owners_a: _Owners,
    owners_b: _Owners,
) -> tuple[DistributionChange, ...]:
    keys = sorted({e.group for e in (*only_a, *only_b, *changed)})
    made = []
    for key in keys:
        dist_a, dist_b = owners_a.by_key.get(key), owners_b.by_key.get(key)
        if key in (OWN_CODE, DIRECTORIES):
            kind, name = ("own code" if key == OWN_CODE else "directories"), key
        else:
            kind = "distribution"
            dist = dist_b or dist_a
            if dist is None:
                name = key
            elif dist.metadata.endswith(".dist-info"):
                name = key  # the normalized name
            else:
                name = (
                    dist.name if key.count("node_modules/") < 2 else f"{dist.name} ({key})"
                )  # a nested copy
        made.append(
            DistributionChange(
                key=key,
                name=name,
                kind=kind,
                version_a=dist_a.version if dist_a is not None and kind == "distribution" else None,
                version_b=dist_b.version if dist_b is not None and kind == "distribution" else None,
                only_a=_of(key, only_a),
                only_b=_of(key, only_b),
                changed=_of(key, changed),
            )
        )
    order = {"distribution": 0, "own code": 1, "directories": 2}
    return tuple(sorted(made, key=lambda g: (not g.content_changed, order[g.kind], g.key)))


def _of(key: str, entries: Iterable[EntryChange]) -> tuple[EntryChange, ...]:
    return tuple(e for e in entries if e.group == key)


# -- the verdict -----------------------------------------------------------------------------------


def _verdict(
    *,
    identical: bool,
    groups: Sequence[DistributionChange],
    metadata: Sequence[tuple[str, int]],
    reordered: int,
    archive: Sequence[str],
    zipped_delta: int,
    first_difference: int | None,
) -> str:
    if identical:
        return "identical (same bytes)"
    content = [g for g in groups if g.content_changed]
    distributions = sum(g.kind == "distribution" for g in content)
    own = sum(g.content_files for g in content if g.kind == "own code")
    parts = []
    if distributions:
        parts.append(_count(distributions, "distribution") + " changed")
    if own:
        parts.append(_count(own, "own file"))
    described = _metadata_text(groups, metadata, reordered, archive)
    if parts:
        head = f"{', '.join(parts)} ({signed_size(zipped_delta)} zipped)"
        return f"{head}; metadata too: {described}" if described else head
    if described:
        return f"same contents, different metadata: {described}"
    where = f" from byte {first_difference:,}" if first_difference is not None else ""
    return f"same contents and central directory, different bytes{where} (local headers or compressed data)"


def _metadata_text(
    groups: Sequence[DistributionChange],
    metadata: Sequence[tuple[str, int]],
    reordered: int,
    archive: Sequence[str],
) -> str:
    items: list[str] = []
    for kind, count in metadata:
        if kind == "content":
            continue
        # "timestamps on 1,204 entries, modes on 12": the noun once, on the first
        items.append(
            f"{_PLURALS[kind]} on {_count(count, 'entry', 'entries') if not items else f'{count:,}'}"
        )
    directories = next((g for g in groups if g.kind == "directories"), None)
    if directories is not None:
        for side, entries in (("A", directories.only_a), ("B", directories.only_b)):
            if entries:
                items.append(f"{_count(len(entries), 'directory entry', 'directory entries')} only in {side}")
    if reordered:
        items.append(f"entries in another order ({reordered:,} moved)")
    if "duplicate names" in archive:
        items.append("other duplicate names")
    if "zip64 end record" in archive:
        items.append("a zip64 end record in one zip only")
    if "comment" in archive:
        items.append("archive comment")
    return ", ".join(items)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"
