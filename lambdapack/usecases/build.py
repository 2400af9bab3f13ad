"""The build pipeline: config → target → lock → install → sources → archive →
digest → manifest. The public entry points are :func:`build` (a configured
project) and :func:`build_function` (one function, no config file).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack import __version__, archive, manifest, sources
from lambdapack import state as fingerprint
from lambdapack.archive import ArchiveEntry
from lambdapack.atomic import write_bytes
from lambdapack.cache import Cache, cache_dir
from lambdapack.cache import key as cache_key
from lambdapack.config import (
    FunctionSpec,
    IndexOptions,
    Overrides,
    Project,
    find_config,
    load_project,
    single_function,
)
from lambdapack.digest import b64, sha256_hex
from lambdapack.errors import BuildError, ConfigError, SourceError, StaleError, VerifyError
from lambdapack.manifest import Artifact
from lambdapack.runtimes import ARCHITECTURES, RUNTIMES, target
from lambdapack.state import BuildState, Record

if TYPE_CHECKING:  # the rest is imported where a build needs it: a no-op build stays light
    from lambdapack.cache import DependencySet
    from lambdapack.python.engine import Engine
    from lambdapack.runtimes import Target
    from lambdapack.verify import Finding, Report

#: Called with (function name, stage) as a build progresses:
#: "resolving", "installing", "collecting", "checking", "zipping", "done".
ProgressCallback = Callable[[str, str], None]


class BuildFailed(BuildError):
    """One or more functions failed; the others were built and recorded."""

    def __init__(self, failures: Mapping[str, BuildError], artifacts: Sequence[Artifact]) -> None:
        self.failures = dict(failures)
        self.artifacts = tuple(artifacts)
        super().__init__(
            "\n".join(
                f"{name}: {line}"
                for name, error in sorted(self.failures.items())
                for line in str(error).splitlines()
            )
        )
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
    jobs: int | None = None,
    refresh: bool = False,
    locked: bool = False,
    on_progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Artifact]:
    """Build the functions of the project whose config is in ``project_dir``
    (or a parent): all of them, or those in ``names``. Returns their artifacts
    in name order. Raises :class:`~lambdapack.errors.LambdapackError`."""
    project = load(project_dir, runtime=runtime, architecture=architecture, output=output)
    result = run(
        project,
        list(names or ()),
        check=check,
        jobs=jobs,
        refresh=refresh,
        locked=locked,
        on_progress=on_progress,
        environ=environ,
    )
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
    project_dir: str | Path | None = None,
    check: bool = True,
    on_progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
) -> Artifact:
    """Build one function described by arguments (for IaC programs such as a
    cdktf app). Writes ``<output>/<name>.zip`` and updates the manifest there;
    cheap when nothing changed. Relative paths are taken from ``project_dir``,
    which defaults to the :func:`project_root` of the calling script's
    directory (so the current directory does not matter)."""
    if project_dir is None:
        caller = sys._getframe(1).f_globals.get("__file__")
        project_dir = project_root(Path(caller).parent if caller else ".")
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


def project_root(start: str | Path = ".") -> Path:
    """The project ``start`` is in: the nearest directory at or above it holding
    lambdapack's config (``lambdapack.toml``, ``[tool.lambdapack]``), else the
    nearest holding ``cdktf.json``, else ``start`` itself."""
    here = Path(start).resolve()
    config = find_config(here)
    if config is not None:
        return config.parent
    for directory in (here, *here.parents):
        if (directory / "cdktf.json").is_file():
            return directory
    return here


def load(
    project_dir: str | Path = ".",
    *,
    runtime: str | None = None,
    architecture: str | None = None,
    output: str | Path | None = None,
    index: IndexOptions | None = None,
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
    overrides = Overrides(
        runtime=runtime, architecture=architecture, output=output, index=index or IndexOptions()
    )
    return load_project(config_file, overrides)


@dataclass(kw_only=True, slots=True)
class _Context:
    """What every function's build in one run shares."""

    project: Project
    engine: Engine
    cache: Cache
    state: BuildState
    epoch: int | None
    check: bool
    refresh: bool
    locked: bool
    environ: Mapping[str, str]
    report: ProgressCallback
    skip: tuple[Path, ...]  # directories never packaged (output directories)


def run(
    project: Project,
    names: Sequence[str],
    *,
    check: bool = True,
    jobs: int | None = None,
    refresh: bool = False,
    locked: bool = False,
    on_progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
    engine: Engine | None = None,
    skip: Sequence[Path] = (),
) -> BuildResult:
    """Build the selected functions of ``project`` and update its manifest.

    Functions whose inputs did not change since their zip was written are
    not rebuilt. Up to ``jobs`` functions (default: the CPU count) build at
    once; the results do not depend on the order they finish in. With
    ``check`` (the default) each package is checked before its zip is written;
    a package with errors raises :class:`VerifyError` and leaves the previous
    zip in place. ``refresh`` re-resolves unpinned requirements."""
    from lambdapack.python.engine import UvEngine

    env = os.environ if environ is None else environ
    context = _Context(
        project=project,
        engine=engine or UvEngine(environ=env),
        cache=Cache(cache_dir(env)),
        state=BuildState(project.output),
        epoch=source_date_epoch(env),
        check=check,
        refresh=refresh,
        locked=locked,
        environ=env,
        report=on_progress or (lambda _name, _stage: None),
        skip=(project.output, *skip),
    )
    specs = project.select(names)
    outcomes: dict[str, tuple[Artifact, Record | None, list[str]]] = {}
    failures: dict[str, BuildError] = {}
    workers = max(1, min(jobs or os.cpu_count() or 1, len(specs)))
    if workers == 1:
        for spec in specs:
            _collect(spec.name, functools.partial(_build_one, context, spec), outcomes, failures)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {spec.name: pool.submit(_build_one, context, spec) for spec in specs}
            for name, future in futures.items():
                _collect(name, future.result, outcomes, failures)
    artifacts = [outcomes[name][0] for name in sorted(outcomes)]
    document: Mapping[str, object] = {}
    if artifacts:
        document = manifest.update(project.output, project.root, artifacts)
        updates = {name: record for name, (_a, record, _f) in outcomes.items() if record is not None}
        used = [path for _a, _r, files in outcomes.values() for path in files]
        with contextlib.suppress(OSError):  # the state only saves work next time
            context.state.save(updates, used)
    if failures:
        raise BuildFailed(failures, artifacts)
    return BuildResult(project=project, artifacts=tuple(artifacts), manifest=document)


def _collect(
    name: str,
    result: Callable[[], tuple[Artifact, Record | None, list[str]]],
    outcomes: dict[str, tuple[Artifact, Record | None, list[str]]],
    failures: dict[str, BuildError],
) -> None:
    try:
        outcomes[name] = result()
    except BuildError as exc:
        failures[name] = exc


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
    from lambdapack.digest import code_sha256

    recorded = manifest.read(manifest.manifest_path(project.output))["artifacts"]
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


@dataclass(frozen=True, kw_only=True, slots=True)
class LockResult:
    """One lock file: where, for which functions, and its state."""

    path: Path
    functions: tuple[str, ...]
    problem: str | None  # None: current (or just written)
    packages: int = 0


def lock_functions(
    project: Project,
    names: Sequence[str],
    *,
    check_only: bool = False,
    environ: Mapping[str, str] | None = None,
    engine: Engine | None = None,
) -> list[LockResult]:
    """Resolve each selected function's requirements for its target into its
    lock file (``lock.lock_file_path``); functions sharing an input and a target
    share one lock. With ``check_only``, only report which are missing or stale."""
    from lambdapack.python import lock
    from lambdapack.python.engine import UvEngine

    env = os.environ if environ is None else environ
    engine = engine or UvEngine(environ=env)
    groups: dict[Path, list[FunctionSpec]] = {}
    for spec in project.select(names):
        if spec.requirements is not None:
            groups.setdefault(lock.lock_file_path(spec.requirements, spec.target), []).append(spec)
    results = []
    for path, specs in sorted(groups.items()):
        spec = specs[0]
        assert spec.requirements is not None
        digest = _input_digest(spec)
        names_ = tuple(s.name for s in specs)
        problem = lock.lock_status(path, input_digest=digest, target=spec.target)
        if check_only or problem is None:
            results.append(LockResult(path=path, functions=names_, problem=problem))
            continue
        with tempfile.TemporaryDirectory(prefix="lambdapack-lock-") as work:
            locked = lock.prepare(
                spec.requirements,
                spec.target,
                Path(work),
                engine,
                cwd=project.root,
                selection=spec.selection,
                index_args=spec.index.args(),
            )
            body = "" if locked.empty else locked.resolved.read_text("utf-8")
        source = os.path.relpath(spec.requirements, project.root)
        text = lock.render_lock(body, input_digest=digest, target=spec.target, source=source)
        write_bytes(path, text.encode("utf-8"))
        packages = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        results.append(LockResult(path=path, functions=names_, problem=None, packages=packages))
    return results


def source_date_epoch(environ: Mapping[str, str]) -> int | None:
    value = environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    if not re.fullmatch(r"\d+", value.strip()):
        raise ConfigError([f"SOURCE_DATE_EPOCH: {value!r} is not a whole number of seconds"])
    return int(value.strip())


def _build_one(context: _Context, spec: FunctionSpec) -> tuple[Artifact, Record | None, list[str]]:
    """Build one function, or reuse its zip when its inputs are unchanged.
    Returns the artifact, the state record to keep, and the source paths hashed."""
    project, report = context.project, context.report
    zip_path = project.output / f"{spec.name}.zip"
    report(spec.name, "collecting")
    own = sources.collect(
        spec.source,
        project_root=project.root,
        exclude=spec.exclude,
        include=spec.include,
        skip=context.skip,
    )
    own = own + _local_package_files(spec, context)
    hashes = [context.state.files.sha256(entry.path) for entry in own]
    input_digest = _input_digest(spec) if spec.requirements else ""
    requirements = _requirements_digest(spec, input_digest)
    settings = {
        "runtime": spec.target.runtime.name,
        "architecture": spec.target.architecture.name,
        "handler": spec.handler,
        "dependency_exclude": list(spec.dependency_exclude),
        "epoch": context.epoch,
        "check": context.check,
        "index": _index_environment(context.environ),
        "index_options": hashlib.sha256("\0".join(spec.index.args()).encode()).hexdigest(),
        "selection": [list(spec.selection.extras), list(spec.selection.groups), spec.selection.package],
        "exclude_runtime_packages": spec.exclude_runtime_packages,
    }
    current = fingerprint.fingerprint(
        version=__version__, settings=settings, requirements=requirements, sources=own, hashes=hashes
    )
    used = [str(entry.path) for entry in own]
    record = None if context.refresh else context.state.current(spec.name, current, zip_path)
    if record is not None:
        report(spec.name, "done")
        return _artifact_from(record, spec.name, zip_path), None, used

    from lambdapack.contents import StagedPackage
    from lambdapack.verify import render, verify, zipped_size_findings

    work = Path(tempfile.mkdtemp(prefix=f"lambdapack-{spec.name}-"))
    try:
        deps = (
            _dependencies(context, spec, work, requirements or "", input_digest)
            if spec.requirements
            else None
        )
        dependencies = deps.entries if deps else ()
        own_entries = [
            replace(entry, compressed=context.cache.compressed(content, entry.path))
            for entry, content in zip(own, hashes, strict=True)
        ]
        entries = _merge(spec, own_entries, dependencies)
        findings: tuple[Finding, ...] = ()
        if context.check:
            report(spec.name, "checking")
            staged = StagedPackage(entries, label=spec.name)
            checked, known = _dependency_findings(deps, spec.target) if deps else (frozenset(), [])
            verdict = verify(staged, spec.target, spec.handler, checked=checked, known=known)
            if not verdict.ok:
                raise VerifyError("\n".join(render(f) for f in verdict.errors))
            findings = verdict.findings
        if spec.exclude_runtime_packages and deps is not None:
            findings += (_runtime_packages_warning(),)
        report(spec.name, "zipping")
        written = archive.write(entries, zip_path, epoch=context.epoch)
        if context.check:
            findings += tuple(zipped_size_findings(staged, written.size))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(spec.name, "done")
    artifact = Artifact(
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
    stat = fingerprint.zip_stat(zip_path)
    new_record = None
    if stat is not None:
        saved = {**artifact.to_json(project.root), "findings": [f.to_json() for f in findings]}
        new_record = Record(fingerprint=current, zip_stat=stat, artifact=saved)
    return artifact, new_record, used


def _dependency_findings(deps: DependencySet, target: Target) -> tuple[frozenset[str], list[Finding]]:
    """The per-file check results of a cached dependency set (computed once per set)."""
    from lambdapack.contents import StagedPackage
    from lambdapack.verify import Finding, file_findings

    names = frozenset(entry.name for entry in deps.entries)
    stored = deps.load_findings()
    if stored is not None:
        return names, [Finding.from_json(f) for f in stored]
    package = StagedPackage(deps.entries, label=deps.root.name)
    findings = file_findings(package, target, package.files)
    deps.store_findings([f.to_json() for f in findings])
    return names, findings


def _dependencies(
    context: _Context, spec: FunctionSpec, work: Path, requirements_digest: str, input_digest: str
) -> DependencySet | None:
    """The function's dependencies as zip entries, from the cache when this
    lock was installed for this target before."""
    from lambdapack.python import install, lock

    assert spec.requirements is not None
    target, cache = spec.target, context.cache
    lock_key = cache_key(
        "lock", requirements_digest, target.uv_platform, target.python_version,
        _index_environment(context.environ),
    )  # fmt: skip
    lock_file = lock.lock_file_path(spec.requirements, target)
    stale = lock.lock_status(lock_file, input_digest=input_digest, target=target)
    if context.locked and stale is not None:
        where = os.path.relpath(lock_file, context.project.root)
        raise StaleError(f"--locked: {where}: {stale}; run `lambdapack lock {spec.name}`")
    if stale is None:
        reuse: Path | None = lock_file
    else:
        reuse = None if context.refresh else cache.lock_file(lock_key)
    if reuse is None:
        context.report(spec.name, "resolving")
    locked = lock.prepare(
        spec.requirements,
        target,
        work,
        context.engine,
        cwd=context.project.root,
        selection=spec.selection,
        index_args=spec.index.args(),
        reuse=reuse,
        keep=lambda resolved: cache.store_lock(lock_key, resolved),
    )
    if locked.empty:
        return None
    deps_key = cache_key(
        "deps", locked.resolved.read_bytes(), target.runtime.name, target.architecture.name,
        "\n".join(spec.dependency_exclude), str(spec.exclude_runtime_packages), __version__,
    )  # fmt: skip

    def install_into(site: Path) -> None:
        context.report(spec.name, "installing")
        install.install(
            locked,
            target,
            site,
            context.engine,
            cwd=context.project.root,
            exclude=spec.dependency_exclude,
            index_args=spec.index.args(),
            runtime_packages=spec.exclude_runtime_packages,
        )

    return cache.dependencies(deps_key, install_into)


def _runtime_packages_warning() -> Finding:
    from lambdapack.verify import Finding

    return Finding(
        severity="warning",
        check="hygiene",
        message="exclude_runtime_packages: boto3, botocore, s3transfer, jmespath, python-dateutil, six and "
        "urllib3 are left out; the function runs with the runtime's versions, which differ from the locked "
        "ones and change when AWS updates the runtime",
        fix="set exclude_runtime_packages = false to ship the locked versions",
    )


def _input_digest(spec: FunctionSpec) -> str:
    """The requirements input with the files that give it meaning and the
    selection made from it (what a lock file is the resolution of)."""
    assert spec.requirements is not None
    from lambdapack.python.inputs import related

    parts = [fingerprint.requirements_digest(spec.requirements)]
    parts += [fingerprint.requirements_digest(p) for p in related(spec.requirements)]
    parts.append(repr((spec.selection.extras, spec.selection.groups, spec.selection.package)))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _requirements_digest(spec: FunctionSpec, input_digest: str) -> str | None:
    """Everything about the dependencies that a build starts from, lock file included."""
    if spec.requirements is None:
        return None
    from lambdapack.python.lock import lock_file_path

    lock_file = lock_file_path(spec.requirements, spec.target)
    lock_digest = fingerprint.requirements_digest(lock_file) if lock_file.exists() else "-"
    return hashlib.sha256(f"{input_digest}\n{lock_digest}".encode()).hexdigest()


def _local_package_files(spec: FunctionSpec, context: _Context) -> tuple[ArchiveEntry, ...]:
    """Sources of local packages the requirements point at (``-e ./libs/common``,
    uv workspace members): they go into the zip as files, like the function's own."""
    if spec.requirements is None:
        return ()
    from lambdapack.python.inputs import LOCAL_PACKAGE_EXCLUDES, local_dirs, package_root

    files: list[ArchiveEntry] = []
    for directory in local_dirs(spec.requirements):
        files += sources.collect(
            package_root(directory),
            project_root=context.project.root,
            exclude=LOCAL_PACKAGE_EXCLUDES,
            skip=context.skip,
        )
    return tuple(files)


#: Environment variables that change what an index resolution returns.
_INDEX_VARIABLES = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
)


def _index_environment(environ: Mapping[str, str]) -> str:
    """A hash of the index configuration in the environment (never the values:
    they may hold credentials)."""
    text = "\n".join(f"{name}={environ.get(name, '')}" for name in _INDEX_VARIABLES)
    return hashlib.sha256(text.encode()).hexdigest()


def _artifact_from(record: Record, name: str, zip_path: Path) -> Artifact:
    entry = record.artifact
    findings: tuple[Finding, ...] = ()
    if entry.get("findings"):
        from lambdapack.verify import Finding

        findings = tuple(Finding.from_json(f) for f in entry["findings"])
    return Artifact(
        name=name,
        path=zip_path,
        code_sha256=str(entry["code_sha256"]),
        sha256=str(entry["sha256"]),
        size=int(entry["size"]),
        runtime=str(entry["runtime"]),
        architecture=str(entry["architecture"]),
        handler=str(entry["handler"]),
        findings=findings,
    )


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
    from lambdapack.contents import ZipPackage
    from lambdapack.verify import verify

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
    from lambdapack.contents import ZipPackage
    from lambdapack.verify import verify

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
