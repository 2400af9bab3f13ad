"""The ``build --check`` use case: build afresh elsewhere and compare with the
zips and manifest in the output directory, changing nothing."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lambdapack import manifest
from lambdapack.config import Project
from lambdapack.digest import code_sha256
from lambdapack.usecases.build import run


@dataclass(frozen=True, kw_only=True, slots=True)
class Drift:
    """A function whose zip on disk is not what a fresh build produces."""

    name: str
    path: Path
    expected: str  # code_sha256 of a fresh build
    found: str | None  # code_sha256 of the zip on disk; None when it is missing
    manifest: str | None  # code_sha256 recorded in the manifest; None when not recorded


def compare(
    project: Project,
    names: Sequence[str],
    *,
    jobs: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Drift]:
    """Build the selected functions afresh into a temporary directory and
    compare with the zips and manifest in the output directory, which are
    left untouched. An empty list means every artifact is what a build gives."""
    document = manifest.read(manifest.manifest_path(project.output))
    recorded = {**document.get("layers", {}), **document["artifacts"]}
    with tempfile.TemporaryDirectory(prefix="lambdapack-check-") as tmp:
        fresh = replace(project, output=Path(tmp))
        result = run(fresh, names, jobs=jobs, environ=environ, skip=(project.output,))
    drifts = []
    for artifact in result.artifacts:
        path = project.output / f"{artifact.name}.zip"
        found = code_sha256(path) if path.is_file() else None
        entry = recorded.get(artifact.name)
        in_manifest = entry.get("code_sha256") if isinstance(entry, dict) else None
        if found != artifact.code_sha256 or in_manifest != artifact.code_sha256:
            drifts.append(
                Drift(
                    name=artifact.name,
                    path=path,
                    expected=artifact.code_sha256,
                    found=found,
                    manifest=str(in_manifest) if in_manifest else None,
                )
            )
    return drifts
