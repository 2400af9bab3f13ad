"""The ``lambdapack check`` use case: the checks of a build, run on built zips
(of the project, or any zip for a given target)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from lambdapack import ecosystem, manifest
from lambdapack.contents import UnreadableZip, ZipPackage
from lambdapack.digest import sha256_hex
from lambdapack.errors import BuildError, ConfigError
from lambdapack.runtimes import ARCHITECTURES, RUNTIMES, Target, target
from lambdapack.usecases.project import load
from lambdapack.verify import Finding, Report, verify


def check_zip(
    path: str | Path,
    *,
    runtime: str | None = None,
    architecture: str | None = None,
    handler: str | None = None,
) -> Report:
    """Verify any zip for a target. Values not given are taken from the
    ``lambdapack-manifest.json`` beside the zip when it records this exact file."""
    zip_path = Path(path)
    recorded = _manifest_entry(zip_path)
    runtime = runtime or recorded.get("runtime")
    architecture = architecture or recorded.get("architecture")
    handler = handler or recorded.get("handler")
    problems = []
    if runtime not in RUNTIMES:
        problems.append(
            f"{zip_path}: give --runtime ({', '.join(RUNTIMES)})"
            if runtime is None
            else f"--runtime: {runtime!r} is not a supported runtime; supported: {', '.join(RUNTIMES)}"
        )
    if architecture not in ARCHITECTURES:
        problems.append(
            f"{zip_path}: give --architecture ({', '.join(ARCHITECTURES)})"
            if architecture is None
            else f"--architecture: {architecture!r} is not supported; supported: {', '.join(ARCHITECTURES)}"
        )
    if problems:
        raise ConfigError(problems)
    assert runtime is not None and architecture is not None
    chosen = target(runtime, architecture)
    language = ecosystem.create(chosen.language, os.environ)
    try:
        package = ZipPackage(zip_path, ownership=language.owners)
    except UnreadableZip as exc:
        return _unreadable(str(zip_path), chosen, handler, exc)
    with package:
        return verify(package, chosen, handler, language)


def _unreadable(label: str, chosen: Target, handler: str | None, exc: UnreadableZip) -> Report:
    finding = Finding(
        severity="error",
        check="archive",
        path=None,
        message=str(exc),
        fix="rebuild the zip; a truncated upload or download is the usual cause",
    )
    return Report(label=label, target=chosen, handler=handler, findings=(finding,))


def check(
    project_dir: str | Path = ".",
    names: Iterable[str] | None = None,
    *,
    output: str | Path | None = None,
) -> list[Report]:
    """Verify the built zips of a configured project's functions (all, or ``names``)."""
    project = load(project_dir, output=output)
    specs = project.select(list(names or ()))
    missing = [s.name for s in specs if not (project.output / f"{s.name}.zip").is_file()]
    if missing:
        raise ConfigError(
            [
                f"{name}: {project.output / (name + '.zip')} is not built; run lambdapack build"
                for name in missing
            ]
        )
    made = ecosystem.Ecosystems(os.environ)
    reports = []
    for spec in specs:
        zip_path = project.output / f"{spec.name}.zip"
        language = made.for_target(spec.target)
        label = os.path.relpath(zip_path, project.root)
        try:
            package = ZipPackage(zip_path, label=label, ownership=language.owners)
        except UnreadableZip as exc:
            reports.append(_unreadable(label, spec.target, spec.handler, exc))
            continue
        with package:
            reports.append(verify(package, spec.target, spec.handler, language))
    return reports


def _manifest_entry(zip_path: Path) -> dict[str, str]:
    """The manifest entry beside ``zip_path`` that records this very file."""
    try:
        document = manifest.read(zip_path.parent / manifest.MANIFEST_NAME)
        digest = sha256_hex(zip_path)
    except (BuildError, OSError):
        return {}
    for entry in document["artifacts"].values():
        if (
            isinstance(entry, dict)
            and str(entry.get("path", "")).rsplit("/", 1)[-1] == zip_path.name
            and entry.get("sha256") == digest
        ):
            return {k: v for k, v in entry.items() if isinstance(v, str)}
    return {}
