"""The build manifest, ``<output>/lambdapack-manifest.json``: versioned JSON,
read-modify-written under a lock and replaced atomically.

Format (version 1)::

    {"version": 1, "artifacts": {"api": {"path": "dist/api.zip",
      "code_sha256": "…", "sha256": "…", "size": 123, "runtime": "python3.12",
      "architecture": "arm64", "handler": "app.lambda_handler",
      "layers": ["common"]}},
     "layers": {"common": {"path": "dist/common.zip", "code_sha256": "…",
      "sha256": "…", "size": 456, "layer": "common",
      "compatible_runtimes": ["python3.12"], "compatible_architectures": ["arm64"]}}}

A function's ``layers`` and the ``layers`` section appear only when a project
has layers, and an entry's ``sbom`` (its CycloneDX document beside the zip,
docs/sbom.md) only when it is asked for, so readers of the first version find
``artifacts`` as before.

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
#: ``<name>.cdx.json`` beside ``<name>.zip``: the artifact's SBOM (lambdapack.sbom).
SBOM_SUFFIX = ".cdx.json"


def sbom_path(zip_path: Path) -> Path:
    """Where the SBOM of the zip ``zip_path`` (``<name>.zip``) goes: ``<name>.cdx.json`` beside it."""
    return zip_path.with_name(zip_path.name.removesuffix(".zip") + SBOM_SUFFIX)


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
    #: A function's layers (their artifacts' names, in order).
    layers: tuple[str, ...] = ()
    #: Set for a layer's artifact: its ``[layers.NAME]`` and what it is compatible with.
    layer: str | None = None
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    #: The bytes of its files unzipped (what counts against Lambda's 262,144,000-byte limit).
    unzipped: int = 0
    #: The distributions it ships, as (name, version) (a layer's, for the functions using it).
    distributions: tuple[tuple[str, str], ...] = ()
    #: A layer's top-level entries on the path ("requests/", "six.py"), for its functions' import check.
    provides: tuple[str, ...] = ()
    #: Its SBOM beside the zip (absolute), when one is written (``sbom = true``).
    sbom: Path | None = None

    @property
    def is_layer(self) -> bool:
        return self.layer is not None

    def to_json(self, project_root: Path) -> dict[str, object]:
        """The artifact's manifest entry (a layer's goes to the manifest's ``layers``)."""
        common: dict[str, object] = {
            "path": _relative(self.path, project_root),
            "code_sha256": self.code_sha256,
            "sha256": self.sha256,
            "size": self.size,
        }
        if self.sbom is not None:
            common["sbom"] = _relative(self.sbom, project_root)
        if self.layer is not None:
            return {
                **common,
                "layer": self.layer,
                "compatible_runtimes": list(self.compatible_runtimes),
                "compatible_architectures": list(self.compatible_architectures),
            }
        entry = {
            **common,
            "runtime": self.runtime,
            "architecture": self.architecture,
            "handler": self.handler,
        }
        if self.layers:
            entry["layers"] = list(self.layers)
        return entry

    def to_record(self, project_root: Path) -> dict[str, object]:
        """What the build state keeps to report the artifact again without rebuilding it."""
        return {
            **self.to_json(project_root),
            "runtime": self.runtime,
            "architecture": self.architecture,
            "handler": self.handler,
            "findings": [f.to_json() for f in self.findings],
            "unzipped": self.unzipped,
            "distributions": [list(d) for d in self.distributions],
            "provides": list(self.provides),
        }

    @classmethod
    def from_record(cls, name: str, path: Path, entry: Mapping[str, Any]) -> Artifact:
        findings: tuple[Finding, ...] = ()
        if entry.get("findings"):
            from .verify import Finding

            findings = tuple(Finding.from_json(f) for f in entry["findings"])
        return cls(
            name=name,
            path=path,
            code_sha256=str(entry["code_sha256"]),
            sha256=str(entry["sha256"]),
            size=int(entry["size"]),
            runtime=str(entry["runtime"]),
            architecture=str(entry["architecture"]),
            handler=str(entry["handler"]),
            findings=findings,
            layers=tuple(entry.get("layers", ())),
            layer=entry.get("layer"),
            compatible_runtimes=tuple(entry.get("compatible_runtimes", ())),
            compatible_architectures=tuple(entry.get("compatible_architectures", ())),
            unzipped=int(entry.get("unzipped", 0)),
            distributions=tuple((str(n), str(v)) for n, v in entry.get("distributions", ())),
            provides=tuple(entry.get("provides", ())),
            sbom=sbom_path(path) if entry.get("sbom") else None,
        )


def manifest_path(output: Path) -> Path:
    return output / MANIFEST_NAME


def update(output: Path, project_root: Path, artifacts: Iterable[Artifact]) -> dict[str, Any]:
    """Merge ``artifacts`` into the manifest in ``output``; return the document."""
    path = manifest_path(output)
    output.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(output / LOCK_NAME):
        document = read(path)
        sections = _sections(document)
        for artifact in artifacts:
            sections[_section(artifact)][artifact.name] = artifact.to_json(project_root)
        new = _document(sections)
        if new != document or not path.exists():  # unchanged: leave the file and its mtime alone
            write_bytes(path, dumps(new).encode("utf-8"), sync=True)
        document = new
    return document


def publish(
    output: Path,
    project_root: Path,
    artifacts: Iterable[Artifact],
    pending: Mapping[str, Path],
    sboms: Mapping[str, Path] | None = None,
) -> dict[str, Any]:
    """Put the freshly written zips (``pending``: function name -> temporary
    file) in place and record ``artifacts`` in the manifest, so that at every
    instant every zip the manifest names has the recorded bytes: first the
    entries of the zips about to be replaced are removed from the manifest,
    then the zips are renamed into place, then the manifest gets the new
    entries. A build killed in between leaves a manifest that names fewer zips,
    never a wrong one; the next build restores it. Each zip's SBOM (``sboms``:
    name -> temporary file) is renamed into place just before it, so no zip
    is ever without it; a zip built without one loses the SBOM an earlier
    build left (it describes other bytes)."""
    path = manifest_path(output)
    output.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(output / LOCK_NAME):
        document = read(path)
        sections = _sections(document)
        replaced = [name for name in pending for entries in sections.values() if name in entries]
        if replaced:
            for entries in sections.values():
                for name in replaced:
                    entries.pop(name, None)
            write_bytes(path, dumps(_document(sections)).encode("utf-8"), sync=True)
        for name, temporary in sorted(pending.items()):
            sbom, final = (sboms or {}).get(name), output / f"{name}.zip"
            if sbom is not None:
                sbom.replace(sbom_path(final))
            else:  # an SBOM of other bytes
                sbom_path(final).unlink(missing_ok=True)
            temporary.replace(final)
        for artifact in artifacts:
            for section, entries in sections.items():  # a function that became a layer, or back
                if section != _section(artifact):
                    entries.pop(artifact.name, None)
            sections[_section(artifact)][artifact.name] = artifact.to_json(project_root)
        new = _document(sections)
        if new != document or replaced or not path.exists():  # unchanged: leave the file alone
            write_bytes(path, dumps(new).encode("utf-8"), sync=True)
    return new


def _section(artifact: Artifact) -> str:
    return "layers" if artifact.is_layer else "artifacts"


def _sections(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {"artifacts": dict(document["artifacts"]), "layers": dict(document.get("layers", {}))}


def _document(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The manifest of these entries; ``layers`` only when there are any (a
    project without layers keeps the manifest of version 1 as it was)."""
    new: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "artifacts": dict(sorted(sections["artifacts"].items())),
    }
    if sections["layers"]:
        new["layers"] = dict(sorted(sections["layers"].items()))
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
    if not isinstance(data.get("layers", {}), dict):
        raise BuildError(f"{path}: 'layers' must be an object; delete it to start afresh")
    return data


def dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return os.path.relpath(path, root).replace(os.sep, "/")
