"""Decide cheaply whether a function's zip is current.

A function's fingerprint is the hash of its build plan (lambdapack.plan):
everything its zip is made from. The source walks are remembered per tree
(``TreeMemos``, see lambdapack.sources.select): content hashes of source files
are reused while their (size, mtime_ns, inode, ctime_ns) is unchanged, and a
hash taken while the file was still being written (mtime within the last two
seconds) is never kept, so a remembered hash cannot hide a change. The
fingerprints, the zips' stat, the artifacts and the memos live in
``<output>/.lambdapack-state.json``; the plans of the last builds in
``<output>/.lambdapack-plan.json`` (written only when a function is rebuilt).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import exclusive_lock, write_bytes

STATE_NAME = ".lambdapack-state.json"
#: The output directory's lock file (lambdapack.manifest.LOCK_NAME; not imported: no cycle).
LOCK_NAME = ".lambdapack.lock"
#: The plans of the last builds, beside the state (lambdapack.plan).
PLAN_NAME = ".lambdapack-plan.json"
PLAN_VERSION = 1
STATE_VERSION = 2
#: A file or directory changed this recently may change again within its
#: timestamp's resolution: its stat proves nothing yet, so it is not remembered.
RACY_NS = 2_000_000_000


class TreeMemos:
    """What the last walk of each source tree saw (lambdapack.sources.select):
    the directories it read and every selected file with its stat signature and
    content hash, by tree key. Thread-safe."""

    def __init__(self, known: Mapping[str, Any] | None = None) -> None:
        self._known: dict[str, Any] = dict(known or {})
        self._lock = threading.Lock()
        self.changed = False

    def get(self, key: str) -> Mapping[str, Any] | None:
        with self._lock:
            found = self._known.get(key)
        return found if isinstance(found, dict) else None

    def put(self, key: str, memo: Mapping[str, Any]) -> None:
        with self._lock:
            self._known[key] = dict(memo)
            self.changed = True

    def to_json(self, keep: Iterable[str]) -> dict[str, Any]:
        with self._lock:
            return {k: self._known[k] for k in sorted(set(keep)) if k in self._known}


@dataclass(frozen=True, kw_only=True, slots=True)
class Record:
    """What the state remembers of a function's last build."""

    fingerprint: str
    zip_stat: tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns of the zip as written
    artifact: Mapping[str, Any]  # manifest entry plus "findings"

    def to_json(self) -> dict[str, object]:
        return {"fingerprint": self.fingerprint, "zip": list(self.zip_stat), "artifact": dict(self.artifact)}


def zip_stat(path: Path) -> tuple[int, int, int, int] | None:
    """What proves a zip is the one written: size, mtime, inode and ctime (an
    edit that restores the mtime still changes the ctime)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class BuildState:
    """``<output>/.lambdapack-state.json``: records per function plus the memos of
    the source walks."""

    def __init__(self, output: Path) -> None:
        self.path = output / STATE_NAME
        data = _read(self.path)
        self.records: dict[str, Record] = {}
        for name, raw in data.get("functions", {}).items():
            try:
                self.records[name] = Record(
                    fingerprint=str(raw["fingerprint"]),
                    zip_stat=(int(raw["zip"][0]), int(raw["zip"][1]), int(raw["zip"][2]), int(raw["zip"][3])),
                    artifact=dict(raw["artifact"]),
                )
            except (KeyError, TypeError, ValueError, IndexError):
                continue
        trees = data.get("trees")
        self.trees = TreeMemos(trees if isinstance(trees, dict) else {})

    def current(self, name: str, fingerprint_: str, zip_path: Path) -> Record | None:
        """The record of ``name`` when its zip is still the one built from these inputs."""
        record = self.records.get(name)
        if record is None or record.fingerprint != fingerprint_:
            return None
        return record if zip_stat(zip_path) == record.zip_stat else None

    def save(
        self,
        updates: Mapping[str, Record],
        used_trees: Iterable[str],
        plans: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        """Merge ``updates`` (and the ``plans`` of the functions just built) into
        the files on disk (another process may have written them)."""
        with exclusive_lock(self.path.parent / LOCK_NAME):
            self._merge(updates, used_trees)
            if plans:
                _merge_plans(self.path.parent / PLAN_NAME, plans)

    def _merge(self, updates: Mapping[str, Record], used_trees: Iterable[str]) -> None:
        on_disk = _read(self.path)
        functions = dict(on_disk.get("functions", {}))
        functions.update({name: record.to_json() for name, record in updates.items()})
        trees = dict(on_disk.get("trees", {}))
        trees.update(self.trees.to_json(keep=used_trees))
        document = {"version": STATE_VERSION, "functions": dict(sorted(functions.items())), "trees": trees}
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        if on_disk == json.loads(text):
            return
        write_bytes(self.path, text.encode("utf-8"))


def _merge_plans(path: Path, plans: Mapping[str, Mapping[str, object]]) -> None:
    try:
        on_disk = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        on_disk = {}
    functions = on_disk.get("functions", {}) if isinstance(on_disk, dict) else {}
    functions = {**(functions if isinstance(functions, dict) else {}), **plans}
    document = {"version": PLAN_VERSION, "functions": dict(sorted(functions.items()))}
    write_bytes(path, json.dumps(document, sort_keys=True).encode("utf-8"))


def read_plans(output: Path) -> dict[str, dict[str, Any]]:
    """The recorded plan of each function's last build (for explanations)."""
    try:
        document = json.loads((output / PLAN_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("version") != PLAN_VERSION:
        return {}
    functions = document.get("functions")
    return dict(functions) if isinstance(functions, dict) else {}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == STATE_VERSION else {}
