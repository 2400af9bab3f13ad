"""A package's files, whether staged on disk or already in a zip, behind one
interface, with each file's owning distribution (as the package's language
tells it: lambdapack.ecosystem).

Verification and inspection read packages only through :class:`Package`, so
they work the same on lambdapack's staging tree and on any zip built by
anything (``zip``, ``zipfile``, other tools).
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .archive import ArchiveEntry, Compressed
from .errors import EXIT_CHECK, ConfigError, LambdapackError


@dataclass(frozen=True, kw_only=True, slots=True)
class PackageFile:
    name: str
    size: int  # uncompressed bytes
    compressed: int | None = None  # bytes in the zip, when known
    mode: int | None = None  # Unix permission bits, when known


@dataclass(frozen=True, kw_only=True, slots=True)
class Distribution:
    name: str
    version: str
    metadata: str  # the directory that declares it ("name-version.dist-info")

    def label(self) -> str:
        return f"{self.name} {self.version}"


class Package:
    """Files of a package; subclasses say where the bytes come from."""

    label: str
    files: tuple[PackageFile, ...]
    zipped_size: int | None
    #: Finds each file's distribution; None: ask every language.
    ownership: Callable[[Package], dict[str, Distribution]] | None = None
    _owner_map: dict[str, Distribution] | None = None

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def head(self, name: str, size: int) -> bytes:
        return self.read(name)[:size]

    def owners(self) -> Mapping[str, Distribution]:
        """Each file's owning distribution (cached); files of the function's own code are absent."""
        if self._owner_map is None:
            if self.ownership is not None:
                self._owner_map = self.ownership(self)
            else:
                from lambdapack.ecosystem import owners_any

                self._owner_map = owners_any(self)
        return self._owner_map

    def distributions(self) -> tuple[Distribution, ...]:
        return tuple(sorted(set(self.owners().values()), key=lambda d: d.name.lower()))


class StagedPackage(Package):
    """Entries about to be zipped (files on disk)."""

    def __init__(
        self,
        entries: Sequence[ArchiveEntry],
        label: str,
        ownership: Callable[[Package], dict[str, Distribution]] | None = None,
    ) -> None:
        self.label = label
        self.ownership = ownership
        self._paths = {e.name: e.path for e in entries}  # as given: 20,000 Path objects cost 10 ms
        #: Entries with their compressed bytes (cached dependencies) are read from those, checked
        #: by CRC when cached: a set fetched from a remote cache has no installed tree.
        self._compressed = {e.name: e.compressed for e in entries if e.compressed is not None}
        self.files = tuple(
            PackageFile(
                name=e.name,
                size=e.compressed.size if e.compressed else Path(e.path).stat().st_size,
                mode=0o755 if e.executable else 0o644,
            )
            for e in sorted(entries, key=lambda e: e.name)
        )
        self.zipped_size = None

    def read(self, name: str) -> bytes:
        compressed = self._compressed.get(name)
        if compressed is not None:
            return _inflate(compressed)
        return Path(self._paths[name]).read_bytes()

    def head(self, name: str, size: int) -> bytes:
        compressed = self._compressed.get(name)
        if compressed is not None:
            return _inflate(compressed, size)
        with Path(self._paths[name]).open("rb") as f:
            return f.read(size)


def _inflate(compressed: Compressed, size: int = -1) -> bytes:
    """A file's bytes from its zip entry's (the first ``size`` when given)."""
    if compressed.method == 0:
        data = bytes(compressed.payload)
        return data if size < 0 else data[:size]
    inflater = zlib.decompressobj(-15)
    return inflater.decompress(compressed.payload, max(size, 0))


class ZipPackage(Package):
    """A zip file built by anything."""

    def __init__(
        self,
        path: Path,
        label: str | None = None,
        ownership: Callable[[Package], dict[str, Distribution]] | None = None,
    ) -> None:
        self.label = label or str(path)
        self.ownership = ownership
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such file"]) from None
        except IsADirectoryError:
            raise ConfigError([f"{path}: a directory, not a zip file"]) from None
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise UnreadableZip(f"{path}: not a readable zip file ({exc})") from None
        #: Every member as the central directory lists it (duplicates and directories included).
        self.infos = tuple(self._zip.infolist())
        #: The archive comment (bytes of the end record).
        self.comment = self._zip.comment
        #: Members that could not be read (a bad CRC, a corrupt stream …): name -> why.
        self.unreadable: dict[str, str] = {}
        self.zipped_size = path.stat().st_size
        self.files = tuple(
            PackageFile(
                name=info.filename,
                size=info.file_size,
                compressed=info.compress_size,
                mode=_zip_mode(info),
            )
            for info in sorted(self._zip.infolist(), key=lambda i: i.filename)
            if not info.is_dir()
        )

    def read(self, name: str) -> bytes:
        """The member's bytes; b"" (and an entry in ``unreadable``) when it is
        corrupt or larger than READ_LIMIT (memory stays bounded on any zip)."""
        try:
            if self._zip.getinfo(name).file_size > READ_LIMIT:
                self.unreadable.setdefault(name, f"larger than {READ_LIMIT:,} bytes; not read")
                return b""
            return self._zip.read(name)
        except _MEMBER_ERRORS as exc:
            self.unreadable.setdefault(name, str(exc))
            return b""

    def head(self, name: str, size: int) -> bytes:
        try:
            with self._zip.open(name) as f:
                return f.read(size)
        except _MEMBER_ERRORS as exc:
            self.unreadable.setdefault(name, str(exc))
            return b""

    def test(self, name: str, info: zipfile.ZipInfo) -> str | None:
        """Read one member to its end in bounded chunks (checking its CRC and
        size); why it is corrupt, or None."""
        try:
            with self._zip.open(info) as f:
                while f.read(1 << 20):
                    pass
        except _MEMBER_ERRORS as exc:
            self.unreadable.setdefault(name, str(exc))
            return str(exc)
        return None

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ZipPackage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UnreadableZip(LambdapackError):
    """A file that is not a zip or whose central directory is damaged (truncated …)."""

    exit_code = EXIT_CHECK


#: The most of one member lambdapack reads into memory at once.
READ_LIMIT = 64 * 1024 * 1024
_MEMBER_ERRORS = (
    KeyError,
    RuntimeError,  # zipfile: an encrypted member
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    ValueError,
)


def top_level(name: str) -> str:
    """The top-level directory (with '/') or file of a path in a package."""
    first, sep, _ = name.partition("/")
    return first + sep


def _zip_mode(info: zipfile.ZipInfo) -> int | None:
    mode = info.external_attr >> 16
    if info.create_system != 3 or not mode:
        return None
    return stat.S_IMODE(mode)
