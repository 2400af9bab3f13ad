"""The build pipeline: config → target → lock → install → sources → archive →
digest → manifest. The public entry points are :func:`build` (a configured
project) and :func:`build_function` (one function, no config file).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import archive, install, lock, manifest, sources
from .archive import ArchiveEntry
from .config import FunctionSpec, Overrides, Project, find_config, load_project, single_function
from .contents import StagedPackage, ZipPackage
from .digest import b64, sha256_hex
from .engine import Engine, UvEngine
from .errors import BuildError, ConfigError, SourceError, VerifyError
from .manifest import Artifact
from .runtimes import ARCHITECTURES, RUNTIMES, target
from .verify import Finding, Report, render, verify, zipped_size_findings

#: Called with (function name, stage) as a build progresses:
#: "resolving", "installing", "collecting", "checking", "zipping", "done".
ProgressCallback = Callable[[str, str], None]


class BuildFailed(BuildError):
    """One or more functions failed; the others were built and recorded."""

    def __init__(self, failures: Mapping[str, BuildError], artifacts: Sequence[Artifact]) -> None:
        self.failures = dict(failures)
        self.artifacts = tuple(artifacts)
        super().__init__("\n".join(f"{name}: {error}" for name, error in sorted(self.failures.items())))
        self.exit_code = max(e.exit_code for e in self.failures.values())


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildResult:
    project: Project
    artifacts: tuple[Artifact, ...]
    manifest: Mapping[str, object]


def build(
    project_dir: str | Path = ".",
    names: Iterable[str] | None = None,
    *,
    runtime: str | None = None,
    architecture: str | None = None,
    output: str | Path | None = None,
    check: bool = True,
    on_progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Artifact]:
    """Build the functions of the project whose config is in ``project_dir``
    (or a parent): all of them, or those in ``names``. Returns their artifacts
    in name order. Raises :class:`~lambdapack.errors.LambdapackError`."""
    project = load(project_dir, runtime=runtime, architecture=architecture, output=output)
    result = run(project, list(names or ()), check=check, on_progress=on_progress, environ=environ)
    return list(result.artifacts)


def build_function(
    source: str | Path,
    *,
    handler: str,
    runtime: str,
    architecture: str,
    name: str | None = None,
    requirements: str | Path | None = None,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    output: str | Path | None = None,
    project_dir: str | Path = ".",
    check: bool = True,
    on_progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
) -> Artifact:
    """Build one function described by arguments; relative paths are taken
    from ``project_dir``. Writes ``<output>/<name>.zip`` and updates the manifest."""
    project = single_function(
        Path(project_dir),
        source=source,
        handler=handler,
        runtime=runtime,
        architecture=architecture,
        name=name,
        requirements=requirements,
        exclude=exclude,
        include=include,
        output=output,
    )
    try:
        return run(project, [], check=check, on_progress=on_progress, environ=environ).artifacts[0]
    except BuildFailed as exc:
        raise next(iter(exc.failures.values())) from None


def load(
    project_dir: str | Path = ".",
    *,
    runtime: str | None = None,
    architecture: str | None = None,
    output: str | Path | None = None,
) -> Project:
    """Find and load the project config at or above ``project_dir``."""
    start = Path(project_dir).resolve()
    config_file = find_config(start)
    if config_file is None:
        raise ConfigError(
            [
                f"no lambdapack.toml (or [tool.lambdapack] in pyproject.toml) in {start} or its parents; "
                "create one, or pass --source/--handler/--runtime/--architecture"
            ]
        )
    return load_project(config_file, Overrides(runtime=runtime, architecture=architecture, output=output))


def run(
    project: Project,
    names: Sequence[str],
    *,
    check: bool = True,
    on_progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> BuildResult:
    """Build the selected functions of ``project`` and update its manifest.

    With ``check`` (the default) each package is checked before its zip is
    written; a package with errors raises :class:`VerifyError` and leaves the
    previous zip in place."""
    env = os.environ if environ is None else environ
    epoch = source_date_epoch(env)
    specs = project.select(names)
    engine = engine or UvEngine(environ=env)
    report = on_progress or (lambda _name, _stage: None)
    artifacts: list[Artifact] = []
    failures: dict[str, BuildError] = {}
    for spec in specs:
        try:
            artifacts.append(_build_one(project, spec, engine, epoch, report, check))
        except BuildError as exc:
            failures[spec.name] = exc
    document = manifest.update(project.output, project.root, artifacts) if artifacts else {}
    if failures:
        raise BuildFailed(failures, artifacts)
    return BuildResult(project=project, artifacts=tuple(artifacts), manifest=document)


def source_date_epoch(environ: Mapping[str, str]) -> int | None:
    value = environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    if not re.fullmatch(r"\d+", value.strip()):
        raise ConfigError([f"SOURCE_DATE_EPOCH: {value!r} is not a whole number of seconds"])
    return int(value.strip())


def _build_one(
    project: Project,
    spec: FunctionSpec,
    engine: Engine,
    epoch: int | None,
    report: ProgressCallback,
    check: bool,
) -> Artifact:
    work = Path(tempfile.mkdtemp(prefix=f"lambdapack-{spec.name}-"))
    try:
        dependencies: tuple[ArchiveEntry, ...] = ()
        if spec.requirements is not None:
            report(spec.name, "resolving")
            locked = lock.prepare(spec.requirements, spec.target, work, engine, cwd=project.root)
            report(spec.name, "installing")
            tree = install.install(
                locked,
                spec.target,
                work / "site",
                engine,
                cwd=project.root,
                exclude=spec.dependency_exclude,
            )
            dependencies = _tree_entries(tree.root)
        report(spec.name, "collecting")
        own = sources.collect(
            spec.source,
            project_root=project.root,
            exclude=spec.exclude,
            include=spec.include,
            skip=[project.output],
        )
        entries = _merge(spec, own, dependencies)
        findings: tuple[Finding, ...] = ()
        if check:
            report(spec.name, "checking")
            staged = StagedPackage(entries, label=spec.name)
            verdict = verify(staged, spec.target, spec.handler)
            if not verdict.ok:
                raise VerifyError("\n".join(render(f) for f in verdict.errors))
            findings = verdict.findings
        report(spec.name, "zipping")
        written = archive.write(entries, project.output / f"{spec.name}.zip", epoch=epoch)
        if check:
            findings += tuple(zipped_size_findings(staged, written.size))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(spec.name, "done")
    return Artifact(
        name=spec.name,
        path=written.path,
        code_sha256=b64(written.sha256),
        sha256=written.sha256.hex(),
        size=written.size,
        runtime=spec.target.runtime.name,
        architecture=spec.target.architecture.name,
        handler=spec.handler,
        findings=findings,
    )


def _tree_entries(root: Path) -> tuple[ArchiveEntry, ...]:
    out = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            path = Path(dirpath) / filename
            out.append(
                ArchiveEntry(
                    name=path.relative_to(root).as_posix(),
                    path=path,
                    executable=bool(path.stat().st_mode & 0o100),
                )
            )
    return tuple(out)


def _merge(
    spec: FunctionSpec, own: Sequence[ArchiveEntry], dependencies: Sequence[ArchiveEntry]
) -> list[ArchiveEntry]:
    installed = {e.name for e in dependencies}
    clashes = sorted(e.name for e in own if e.name in installed)
    if clashes:
        raise SourceError(
            f"{', '.join(clashes[:3])} exists both in {spec.source.name}/ and in the installed "
            "dependencies; rename the file or exclude it"
        )
    return [*own, *dependencies]


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
    with ZipPackage(zip_path) as package:
        return verify(package, target(runtime, architecture), handler)


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
    reports = []
    for spec in specs:
        zip_path = project.output / f"{spec.name}.zip"
        with ZipPackage(zip_path, label=os.path.relpath(zip_path, project.root)) as package:
            reports.append(verify(package, spec.target, spec.handler))
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
