"""lambdapack's content-addressed cache, shared by every project of the user.

Layout under :func:`cache_dir` (``LAMBDAPACK_CACHE_DIR`` overrides it)::

    locks/<key>.txt        requirements resolved for a target (no credentials)
    deps/<key>/            dependencies installed for one (lock, target, excludes):
        site/              the scrubbed installed tree (read by a bundler; a set fetched from
                           a remote cache gets it from the payload when first needed)
        entries.json       each file's zip entry: name, mode, method, CRC, sizes, offset
        payload.bin        the entries' compressed bytes, concatenated
    objects/<ab>/<sha256>  compressed form of a source file, by content hash
    built/<key>/           a wheel built from an sdist (lambdapack.python.sdist), by
                           (sdist hash, pure or the image's id, target); record.json
    pyc/<key>.pyc          a function's own file compiled by the target's Python
    bundles/<sha256>.json  esbuild's metafile of a bundled function's zip, by the zip's SHA-256
    tools.json             external tools found (strip, interpreters), while unchanged
    tmp/                   work in progress; renamed into place when complete

Every entry is written under ``tmp/`` and renamed into place, so a reader
never sees half an entry; dependency sets are built under a file lock, so
concurrent builds of the same set wait for one another instead of doing it
twice. Entries are verified by hash before use; a corrupt one is discarded
and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .archive import ArchiveEntry, Compressed, compress_file
from .atomic import exclusive_lock, write_bytes
from .errors import BuildError

if TYPE_CHECKING:
    from .remote.store import Remote

CACHE_FORMAT = 2
#: Source files smaller than this are not kept in the object store (see Cache.compressed).
OBJECT_MIN_SIZE = 16 * 1024
_OBJECT_HEADER = struct.Struct("<BIQ32s")  # method, crc, size, sha256(method, crc, size, payload)
_OBJECT_FIELDS = struct.Struct("<BIQ")
#: The cache's parts (``cache info`` lists them, ``cache clean`` empties them).
_KINDS = ("locks", "deps", "objects", "built", "pyc", "bundles", "tmp")


def cache_dir(environ: Mapping[str, str]) -> Path:
    """``LAMBDAPACK_CACHE_DIR``, else the platform's user cache directory."""
    explicit = environ.get("LAMBDAPACK_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    home = Path(environ.get("HOME") or Path.home())
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "lambdapack"
    if os.name == "nt":  # pragma: no cover - not tested here
        return Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / "lambdapack" / "Cache"
    return Path(environ.get("XDG_CACHE_HOME") or home / ".cache") / "lambdapack"


def key(*parts: str | bytes) -> str:
    """A cache key: the SHA-256 of length-prefixed parts."""
    digest = hashlib.sha256(f"lambdapack-cache-{CACHE_FORMAT}".encode())
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class DependencySet:
    """Installed dependencies with their zip entries, ready to copy verbatim."""

    root: Path  # deps/<key>
    entries: tuple[ArchiveEntry, ...]
    #: The resolution it was installed from (``Resolved.pins``; set by lambdapack.dependencies).
    pins: bytes = b""

    @property
    def site(self) -> Path:
        return self.root / "site"

    def tree(self) -> Path:
        """The installed tree (:attr:`site`), made from the compressed entries
        when the set has none (a set fetched from a remote cache gets one only
        when something reads files from disk: a bundler)."""
        if self.site.is_dir():
            return self.site
        work = Path(tempfile.mkdtemp(prefix=f".site-{os.getpid()}-", dir=self.root))
        try:
            unpack_tree(work, self.entries)
            work.rename(self.site)
        except OSError:
            if not self.site.is_dir():  # (else another build made it first: theirs serves)
                raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.site

    def load_findings(self) -> list[dict[str, object]] | None:
        """Per-file check results stored beside the set, if any."""
        try:
            document = json.loads((self.root / "findings.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT:
            return None
        findings = document.get("findings")
        return findings if isinstance(findings, list) else None

    def store_findings(self, findings: list[dict[str, object]]) -> None:
        document = {"format": CACHE_FORMAT, "findings": findings}
        with contextlib.suppress(OSError):
            write_bytes(self.root / "findings.json", json.dumps(document).encode("utf-8"))


class Cache:
    """The local cache at ``root``; with a ``remote``, what it lacks is looked
    for there, and what it makes is shared there (docs/remote-cache.md)."""

    def __init__(self, root: Path, remote: Remote | None = None) -> None:
        self.root = root
        self.remote = remote

    # -- resolved locks ---------------------------------------------------

    def lock_file(self, lock_key: str) -> Path | None:
        path = self.root / "locks" / f"{lock_key}.txt"
        if path.is_file():
            self._offer("locks", lock_key, {"lock.txt": path}, path)
            return path
        if self.remote is None:
            return None
        work = self._tmp_dir()
        try:
            fetched = self.remote.fetch("locks", lock_key, work)
            if fetched is None or "lock.txt" not in fetched:
                return None
            write_bytes(path, fetched["lock.txt"].read_bytes())
            self._held(path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return path

    def store_lock(self, lock_key: str, resolved: Path) -> Path:
        target = self.root / "locks" / f"{lock_key}.txt"
        write_bytes(target, resolved.read_bytes())
        self._offer("locks", lock_key, {"lock.txt": target}, target)
        return target

    # -- dependency sets --------------------------------------------------

    def dependencies(
        self,
        deps_key: str,
        install: Callable[[Path], None],
        finish: Callable[[DependencySet], object] | None = None,
    ) -> DependencySet:
        """The dependency set ``deps_key``, made with ``install(site_dir)`` when
        missing or corrupt; the result's entries carry their compressed bytes.
        ``finish`` runs on a set just made, still under its lock (so that
        concurrent builds waiting for the set find its check results too)."""
        final = self.root / "deps" / deps_key
        loaded = _load_dependencies(final)
        if loaded is not None:
            if self.remote is not None:  # (made before the remote was set up: shared once)
                self._offer("deps", deps_key, _set_files(final), final)
            return loaded
        with exclusive_lock(self.root / "locks" / f".deps-{deps_key}.lock"):
            loaded = _load_dependencies(final)  # another build may have made it meanwhile
            if loaded is not None:
                return loaded
            if final.exists():
                shutil.rmtree(final)  # corrupt: rebuild
            fetched = self._fetch_dependencies(deps_key, final)
            if fetched is not None:
                return fetched
            work = self._tmp_dir()
            try:
                install(work / "site")
                _write_entries(work)
                final.parent.mkdir(parents=True, exist_ok=True)
                work.rename(final)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
            loaded = _load_dependencies(final)
            if loaded is None:
                raise BuildError(f"dependency cache entry {final} is unreadable right after writing it")
            if finish is not None:
                finish(loaded)
            self._offer("deps", deps_key, _set_files(final), final)
        return loaded

    def _fetch_dependencies(self, deps_key: str, final: Path) -> DependencySet | None:
        """The set ``deps_key`` from the remote cache, checked (the remote's
        object, then the set's own digest) and in place; None if it has none."""
        if self.remote is None:
            return None
        work = self._tmp_dir()
        try:
            if self.remote.fetch("deps", deps_key, work) is None:
                return None
            fetched = _load_dependencies(work, place=final)  # (checked as it is read: not again)
            if fetched is None:
                return None
            final.parent.mkdir(parents=True, exist_ok=True)
            work.rename(final)
            self._held(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return fetched

    def _offer(self, kind: str, key: str, files: Mapping[str, Path], entry: Path) -> None:
        """Share a local entry with the remote cache, unless it is known to hold it."""
        if self.remote is not None and self.remote.where.writable:
            marker = self.remote.marker(entry)
            if not marker.exists():
                self.remote.share(kind, key, files, marker=marker)

    def _held(self, entry: Path) -> None:
        """Remember that the remote cache holds ``entry`` (it came from there)."""
        if self.remote is not None:
            with contextlib.suppress(OSError):
                self.remote.marker(entry).touch()

    # -- compressed source files -------------------------------------------

    def store_metafile(self, zip_sha256: str, data: bytes) -> None:
        """Keep a bundle's metafile for ``inspect`` (it only informs: a failure is ignored)."""
        with contextlib.suppress(OSError):
            write_bytes(self.root / "bundles" / f"{zip_sha256}.json", data)

    def metafile(self, zip_sha256: str) -> bytes | None:
        """The metafile of the bundle in the zip whose SHA-256 is given, if this cache made it."""
        try:
            return (self.root / "bundles" / f"{zip_sha256}.json").read_bytes()
        except OSError:
            return None

    def compressed(self, content_sha256: str, path: str | Path) -> Compressed:
        """The compressed form of ``path`` (whose content hash is given), from
        the object store or made now and stored. Files under
        ``OBJECT_MIN_SIZE`` are compressed every time: for them, an object costs
        more to write and to read back than compressing (a function of 20,000
        small files would otherwise spend most of its first build creating files)."""
        try:
            small = Path(path).stat().st_size < OBJECT_MIN_SIZE
        except OSError:
            small = True  # compress_file names the problem
        if small:
            return compress_file(path)
        obj = self.root / "objects" / content_sha256[:2] / content_sha256
        try:
            data = obj.read_bytes()
            method, crc, size, digest = _OBJECT_HEADER.unpack_from(data)
            payload = data[_OBJECT_HEADER.size :]
            if _object_digest(method, crc, size, payload) == digest and method in (0, 8):
                return Compressed(method=method, crc=crc, size=size, payload=payload)
        except (OSError, struct.error):
            pass
        item = compress_file(path)
        digest = _object_digest(item.method, item.crc, item.size, item.payload)
        header = _OBJECT_HEADER.pack(item.method, item.crc, item.size, digest)
        with contextlib.suppress(OSError):  # the cache is an optimisation: never fail a build on it
            write_bytes(obj, header + bytes(item.payload))
        return item

    # -- management -------------------------------------------------------

    def info(self) -> dict[str, dict[str, int]]:
        out = {}
        for kind in _KINDS:
            base = self.root / kind
            # Dot files are the file locks that serialise writers, not entries.
            files = (
                [p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")]
                if base.is_dir()
                else []
            )
            entries = len([p for p in base.iterdir() if not p.name.startswith(".")]) if base.is_dir() else 0
            if kind == "objects" and base.is_dir():
                entries = len(files)
            out[kind] = {"entries": entries, "bytes": sum(p.stat().st_size for p in files)}
        return out

    def clean(self) -> int:
        """Remove everything; returns the bytes freed."""
        freed = sum(v["bytes"] for v in self.info().values())
        for kind in _KINDS:
            shutil.rmtree(self.root / kind, ignore_errors=True)
        (self.root / "tools.json").unlink(missing_ok=True)  # found again on the next build
        (self.root / "remote.json").unlink(missing_ok=True)  # the remote caches' figures
        return freed

    # -- external tools -------------------------------------------------------

    def tool(
        self, key: str, search: Sequence[str], find: Callable[[], tuple[str, str] | None]
    ) -> tuple[str, str] | None:
        """A tool's (path, version) as ``find()`` gives it (a search and a
        ``--version`` run: too slow for every no-op build), remembered in
        ``tools.json`` under ``key`` while neither the directories of ``search``
        (where the tool was looked for: adding a tool there changes them) nor
        the tool's file changed."""
        watched = [_stat_signature(Path(d)) for d in search]
        memo_path = self.root / "tools.json"
        try:
            memo = json.loads(memo_path.read_text("utf-8"))
        except (OSError, ValueError):
            memo = {}
        if not isinstance(memo, dict) or memo.get("format") != CACHE_FORMAT:
            memo = {"format": CACHE_FORMAT}
        entry = memo.get(key)
        if (
            isinstance(entry, dict)
            and entry.get("search") == watched
            and entry.get("file") == _stat_signature(Path(str(entry.get("path"))))
        ):
            return str(entry["path"]), str(entry["version"])
        found = find()
        if found is not None:
            memo[key] = {"search": watched, "path": found[0], "version": found[1]}
            memo[key]["file"] = _stat_signature(Path(found[0]))
            with contextlib.suppress(OSError):  # the memo only saves time
                write_bytes(memo_path, json.dumps(memo, sort_keys=True).encode("utf-8"))
        return found

    # -- helpers ------------------------------------------------------------

    def _tmp_dir(self) -> Path:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=self.root / "tmp"))

    def remove_stale_temporaries(self) -> int:
        """Remove the work directories of builds that died (their process is
        gone); returns the bytes freed."""
        from lambdapack.archive import process_alive

        freed = 0
        base = self.root / "tmp"
        try:
            children = list(base.iterdir())
        except OSError:
            return 0
        for child in children:
            pid, _, _rest = child.name.partition("-")
            if pid.isdigit() and process_alive(int(pid)):
                continue
            freed += _size(child)
            shutil.rmtree(child, ignore_errors=True)
        return freed


def unpack_tree(site: Path, entries: Iterable[ArchiveEntry]) -> None:
    """Write the installed files of a dependency set from its checked
    compressed bytes (what a set fetched from a remote cache, or a tree found
    changed, is made from)."""
    for entry in entries:
        if entry.compressed is None:
            continue
        payload = entry.compressed.payload
        data = zlib.decompress(payload, -15) if entry.compressed.method == 8 else bytes(payload)
        path = site / entry.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if entry.executable else 0o644)


def _set_files(root: Path) -> dict[str, Path]:
    """What a dependency set shares: its entries, payload and check results."""
    names = ("entries.json", "payload.bin", "findings.json")
    return {name: root / name for name in names if (root / name).is_file()}


def _stat_signature(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _write_entries(work: Path) -> None:
    """Compress every file of ``work/site`` once, into payload.bin + entries.json."""
    site = work / "site"
    files = sorted(
        (Path(dirpath) / name for dirpath, _dirs, names in os.walk(site) for name in names),
        key=lambda p: p.relative_to(site).as_posix().encode(),
    )
    from concurrent.futures import ThreadPoolExecutor  # libdeflate releases the GIL

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        compressed = list(pool.map(compress_file, files))
    rows = []
    offset = 0
    digest = hashlib.sha256()
    with (work / "payload.bin").open("wb") as payload:
        for path, item in zip(files, compressed, strict=True):
            payload.write(item.payload)
            digest.update(item.payload)
            length = len(item.payload)
            executable = bool(path.stat().st_mode & 0o100)
            rows.append(
                [
                    path.relative_to(site).as_posix(),
                    executable,
                    item.method,
                    item.crc,
                    item.size,
                    offset,
                    length,
                ]
            )
            offset += length
    document = {"format": CACHE_FORMAT, "sha256": _set_digest(rows, digest.hexdigest()), "entries": rows}
    (work / "entries.json").write_text(json.dumps(document), encoding="utf-8")


def _object_digest(method: int, crc: int, size: int, payload: bytes | bytearray | memoryview) -> bytes:
    """What an object's header records: covers the entry fields and the payload."""
    digest = hashlib.sha256(_OBJECT_FIELDS.pack(method, crc, size))
    digest.update(payload)
    return digest.digest()


def _set_digest(rows: list[list[object]], payload_sha256: str) -> str:
    """What entries.json records: covers every entry field (name, mode, method,
    CRC, sizes, offsets) and the payload, so no byte of a cached set reaches a
    zip unchecked."""
    canonical = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{canonical}\n{payload_sha256}".encode()).hexdigest()


def _load_dependencies(root: Path, place: Path | None = None) -> DependencySet | None:
    """The set in ``root``, checked; ``place``: where it is about to be renamed to (its
    entries' paths and root name that place)."""
    try:
        document = json.loads((root / "entries.json").read_text("utf-8"))
        payload = (root / "payload.bin").read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != CACHE_FORMAT:
        return None
    rows = document.get("entries")
    if not isinstance(rows, list) or _set_digest(rows, hashlib.sha256(payload).hexdigest()) != document.get(
        "sha256"
    ):
        return None
    view = memoryview(payload)
    home = root if place is None else place
    site = f"{home / 'site'}{os.sep}"  # (a str: a Path per entry costs more than the rest of a no-op)
    try:
        entries = tuple(
            ArchiveEntry(
                name=name,
                path=site + name,
                executable=executable,
                compressed=Compressed(
                    method=method, crc=crc, size=size, payload=view[offset : offset + length]
                ),
            )
            for name, executable, method, crc, size, offset, length in rows
        )
    except (TypeError, ValueError):
        return None
    return DependencySet(root=home, entries=entries)


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += (Path(dirpath) / name).stat().st_size
            except OSError:
                continue
    return total
