"""A run's remote cache: fetches entries the local cache lacks, shares the
ones this machine made, and never fails a build.

Every object is checked before use (:mod:`lambdapack.remote.pack`); one
that fails is ignored with a warning, built locally and, when writing is
allowed, replaced. A request that fails (the store down, an HTTP error, a
timeout, a connection cut short) costs at most its timeout, twice: two
failed requests open a circuit breaker that ends the run's remote requests,
and the run says so in one warning. Uploads run in background threads while
the build goes on; :meth:`Remote.finish` waits for them once the zips are
published.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack.atomic import exclusive_lock, write_bytes
from lambdapack.remote import KEY_VARIABLE

if TYPE_CHECKING:
    from lambdapack.remote import Location
    from lambdapack.remote.s3 import Bucket

#: Failed requests that open the circuit breaker.
BREAKER = 2
#: Uploads at once.
UPLOADERS = 2
#: Where each remote's lifetime figures are kept, in the local cache.
STATS_FILE = "remote.json"
#: The layout version of the objects' names (the local cache's format).
NAMESPACE = "lambdapack-v2"
_FIGURES = ("hits", "misses", "bytes_down", "bytes_up", "uploads", "ignored", "errors")


@dataclass(kw_only=True, slots=True)
class RemoteReport:
    """What a run did with its remote cache."""

    url: str
    writable: bool
    hits: int = 0
    misses: int = 0
    bytes_down: int = 0
    bytes_up: int = 0
    uploads: int = 0
    ignored: int = 0  # objects that failed verification
    errors: int = 0  # failed requests
    #: One line each: a fault (at most one per run) and every object ignored.
    warnings: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in _FIGURES}


class Remote:
    def __init__(
        self, where: Location, *, cache_root: Path, signing_key: str | None, endpoint: str | None = None
    ) -> None:
        self.where = where
        self._root = cache_root
        self._signing_key = signing_key
        self._lock = threading.RLock()  # (_warn is called while it is held)
        self._bucket: Bucket | None = None
        self._broken = False
        self._failures = 0
        self._rejected: set[str] = set()
        self._uploads: list[threading.Thread] = []
        self._slots = threading.BoundedSemaphore(UPLOADERS)
        #: Names this remote in the markers of local entries it holds (its URL and endpoint).
        identity = f"{where.url}\n{where.endpoint_url or endpoint or ''}"
        self._identity = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.report = RemoteReport(url=where.url, writable=where.writable)
        _ATTACHED[cache_root] = self

    # -- reading -------------------------------------------------------------

    def fetch(self, kind: str, key: str, into: Path) -> dict[str, Path] | None:
        """The entry ``kind/key``'s files, checked and unpacked into the
        directory ``into``; None when the remote lacks it, fails or holds an
        object that does not pass (each said once)."""
        bucket = self._connected()
        if bucket is None:
            return None
        from lambdapack.remote.pack import Rejected, unpack
        from lambdapack.remote.s3 import Missing

        name = self._name(kind, key)
        with tempfile.TemporaryFile(dir=self._scratch()) as download:
            try:
                bucket.download(name, download)
            except Missing:
                self._count("misses")
                return None
            except Exception as exc:  # noqa: BLE001  # any fault of the store or the network: build locally
                self._failed(exc)
                return None
            size = download.seek(0, 2)  # (parts arrive in any order: tell() is where the last one ended)
            download.seek(0)
            try:
                files = unpack(download, into, name=name, kind=kind, key=key, signing_key=self._signing_key)
            except Rejected as exc:
                self._ignore(kind, key, str(exc), untrusted=exc.untrusted)
                return None
            except OSError as exc:  # the local disk: not the remote's fault, and not a build failure
                self._warn(f"cannot unpack {kind}/{key[:12]} ({exc.strerror}); building it locally")
                return None
        with self._lock:
            self.report.hits += 1
            self.report.bytes_down += size
        return files

    # -- writing -------------------------------------------------------------

    def share(self, kind: str, key: str, files: Mapping[str, Path], *, marker: Path | None = None) -> None:
        """Upload the entry ``kind/key`` (member name -> file) in the background,
        unless the run may not write or the bucket already has it. ``marker``:
        a file made once the bucket is known to hold the entry (an entry with
        its marker is not offered again)."""
        if not self.where.writable or self._broken:
            return
        thread = threading.Thread(
            target=self._upload, args=(kind, key, dict(files), marker), name="lambdapack-upload", daemon=True
        )  # (a daemon: an interrupted build exits at once; the store drops the unfinished upload)
        with self._lock:
            self._uploads.append(thread)
        thread.start()

    def marker(self, entry: Path) -> Path:
        """The file beside a local entry saying this remote holds it (see :meth:`share`)."""
        return entry.parent / f".{entry.name}.shared-{self._identity}"

    def _upload(self, kind: str, key: str, files: Mapping[str, Path], marker: Path | None) -> None:
        from lambdapack.remote.pack import pack

        with self._slots:
            bucket = self._connected()
            if bucket is None:
                return
            name = self._name(kind, key)
            try:
                if name not in self._rejected and bucket.exists(name):
                    _touch(marker)  # immutable: whoever stored it first made the same bytes
                    return
                with tempfile.NamedTemporaryFile(dir=self._scratch(), suffix=".lprc") as staged:
                    try:
                        signing_key = self._signing_key
                        size = pack(files, staged, name=name, kind=kind, key=key, signing_key=signing_key)
                        staged.flush()
                    except OSError:
                        return  # the local entry went meanwhile (cache clean): nothing to share
                    if self._broken:
                        return
                    bucket.upload(Path(staged.name), name)
            except Exception as exc:  # noqa: BLE001  # a failed upload only costs other machines a build
                self._failed(exc)
                return
            _touch(marker)
            with self._lock:
                self.report.uploads += 1
                self.report.bytes_up += size

    # -- the end of a run ------------------------------------------------------

    def finish(self, *, wait: bool = True) -> RemoteReport:
        """Wait for the uploads (``wait``; else leave them: their threads end
        with the process), add the run's figures to the cache's record, and
        return them."""
        if _ATTACHED.get(self._root) is self:
            del _ATTACHED[self._root]
        if wait:
            for thread in list(self._uploads):
                thread.join()
        with contextlib.suppress(OSError):  # the figures only inform
            record(self._root, self.report)
        return self.report

    # -- helpers -------------------------------------------------------------

    def _connected(self) -> Bucket | None:
        if self._broken:
            return None
        with self._lock:
            if self._bucket is None and not self._broken:
                from lambdapack.remote.s3 import Bucket, Unavailable

                try:
                    self._bucket = Bucket(self.where)
                except Unavailable as exc:
                    self._broken = True
                    self._warn(f"{exc}; building locally")
                except Exception as exc:  # noqa: BLE001  # botocore's configuration errors (a bad region …)
                    self._broken = True
                    self._warn(f"{_describe(exc)}; building locally")
            return self._bucket

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self.report.errors += 1
            self._failures += 1
            first = self._failures == 1
            if self._failures >= BREAKER:
                self._broken = True
        if first:
            self._warn(
                f"{_describe(exc)}; building locally (no more remote requests after {BREAKER} failures)"
            )

    def _ignore(self, kind: str, key: str, why: str, *, untrusted: bool) -> None:
        with self._lock:
            self.report.ignored += 1
            self._rejected.add(self._name(kind, key))
        hint = f" ({KEY_VARIABLE} is set: only objects signed with it are used)" if untrusted else ""
        self._warn(f"ignored {kind}/{key[:12]}: {why}{hint}; building it locally")

    def _warn(self, message: str) -> None:
        with self._lock:
            self.report.warnings.append(f"remote cache {self.where.url}: {message}")

    def _count(self, figure: str) -> None:
        with self._lock:
            setattr(self.report, figure, getattr(self.report, figure) + 1)

    def _name(self, kind: str, key: str) -> str:
        return "/".join(p for p in (self.where.prefix, NAMESPACE, kind, key) if p)

    def _scratch(self) -> Path:
        scratch = self._root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch


#: The remote of each local cache in use by a run (stages that know only the cache's
#: directory, such as source builds, find it here).
_ATTACHED: dict[Path, Remote] = {}


def attached(cache_root: Path) -> Remote | None:
    """The remote cache of the run using the local cache at ``cache_root``, if any."""
    return _ATTACHED.get(cache_root)


def _touch(marker: Path | None) -> None:
    if marker is not None:
        with contextlib.suppress(OSError):  # it only saves a request next time
            marker.touch()


def _describe(exc: BaseException) -> str:
    from lambdapack.remote.s3 import describe

    return describe(exc)


def record(cache_root: Path, report: RemoteReport) -> None:
    """Add a run's figures to ``<cache>/remote.json`` (per remote)."""
    if not any(report.figures().values()):
        return
    path = cache_root / STATS_FILE
    with exclusive_lock(cache_root / f".{STATS_FILE}.lock"):
        document = stats(cache_root)
        totals = document.setdefault(report.url, dict.fromkeys(_FIGURES, 0))
        for name, value in report.figures().items():
            totals[name] = int(totals.get(name, 0)) + value
        write_bytes(path, json.dumps({"format": 1, "remotes": document}, sort_keys=True).encode("utf-8"))


def stats(cache_root: Path) -> dict[str, dict[str, int]]:
    """Each remote's lifetime figures on this machine, by URL."""
    try:
        document = json.loads((cache_root / STATS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    remotes = document.get("remotes") if isinstance(document, dict) else None
    if not isinstance(remotes, dict):
        return {}
    return {
        str(url): {name: int(v.get(name, 0)) for name in _FIGURES}
        for url, v in remotes.items()
        if isinstance(v, dict)
    }
