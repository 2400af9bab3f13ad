"""The build manifest, ``<output>/lambdapack-manifest.json``: versioned JSON,
read-modify-written under a lock and replaced atomically.

Format (version 1)::

    {"version": 1, "artifacts": {"api": {"path": "dist/api.zip",
      "code_sha256": "…", "sha256": "…", "size": 123, "runtime": "python3.12",
      "architecture": "arm64", "handler": "app.lambda_handler"}}}

Paths are POSIX and relative to the project root.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import exclusive_lock, write_bytes
from .errors import BuildError

if TYPE_CHECKING:
    from .verify import Finding

MANIFEST_NAME = "lambdapack-manifest.json"
MANIFEST_VERSION = 1
LOCK_NAME = ".lambdapack.lock"


@dataclass(frozen=True, kw_only=True, slots=True)
class Artifact:
    """A built function package."""

    name: str
    path: Path  # absolute
    code_sha256: str  # standard base64 SHA-256 (Lambda CodeSha256, filebase64sha256)
    sha256: str  # hex
    size: int
    runtime: str
    architecture: str
    handler: str
    #: Warnings found when the package was checked (errors stop the build).
    findings: tuple[Finding, ...] = ()

    def to_json(self, project_root: Path) -> dict[str, object]:
        return {
            "path": _relative(self.path, project_root),
            "code_sha256": self.code_sha256,
            "sha256": self.sha256,
            "size": self.size,
            "runtime": self.runtime,
            "architecture": self.architecture,
            "handler": self.handler,
        }


def manifest_path(output: Path) -> Path:
    return output / MANIFEST_NAME


def update(output: Path, project_root: Path, artifacts: Iterable[Artifact]) -> dict[str, Any]:
    """Merge ``artifacts`` into the manifest in ``output``; return the document."""
    path = manifest_path(output)
    output.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(output / LOCK_NAME):
        document = read(path)
        entries = dict(document["artifacts"])
        for artifact in artifacts:
            entries[artifact.name] = artifact.to_json(project_root)
        new = {"version": MANIFEST_VERSION, "artifacts": dict(sorted(entries.items()))}
        if new != document or not path.exists():  # unchanged: leave the file and its mtime alone
            write_bytes(path, dumps(new).encode("utf-8"), sync=True)
        document = new
    return document


def publish(
    output: Path, project_root: Path, artifacts: Iterable[Artifact], pending: Mapping[str, Path]
) -> dict[str, Any]:
    """Put the freshly written zips (``pending``: function name -> temporary
    file) in place and record ``artifacts`` in the manifest, so that at every
    instant every zip the manifest names has the recorded bytes: first the
    entries of the zips about to be replaced are removed from the manifest,
    then the zips are renamed into place, then the manifest gets the new
    entries. A build killed in between leaves a manifest that names fewer zips,
    never a wrong one; the next build restores it."""
    path = manifest_path(output)
    output.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(output / LOCK_NAME):
        document = read(path)
        entries = dict(document["artifacts"])
        replaced = [name for name in pending if name in entries]
        if replaced:
            for name in replaced:
                del entries[name]
            interim = {"version": MANIFEST_VERSION, "artifacts": dict(sorted(entries.items()))}
            write_bytes(path, dumps(interim).encode("utf-8"), sync=True)
        for name, temporary in sorted(pending.items()):
            temporary.replace(output / f"{name}.zip")
        for artifact in artifacts:
            entries[artifact.name] = artifact.to_json(project_root)
        new = {"version": MANIFEST_VERSION, "artifacts": dict(sorted(entries.items()))}
        if new != document or replaced or not path.exists():  # unchanged: leave the file alone
            write_bytes(path, dumps(new).encode("utf-8"), sync=True)
    return new


def read(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, or an empty one when there is none."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {"version": MANIFEST_VERSION, "artifacts": {}}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BuildError(f"{path}: not valid JSON ({exc}); delete it to start afresh") from None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        raise BuildError(
            f"{path}: not a version {MANIFEST_VERSION} lambdapack manifest; delete it to start afresh"
        )
    if not isinstance(data.get("artifacts"), dict):
        raise BuildError(f"{path}: 'artifacts' must be an object; delete it to start afresh")
    return data


def dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return os.path.relpath(path, root).replace(os.sep, "/")
