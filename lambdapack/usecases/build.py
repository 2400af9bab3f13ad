"""The build use case: config → plan → dependencies → sources → check →
archive → digest → manifest, for every selected function of a project.

The public entry points are :func:`build` (a configured project),
:func:`build_function` and :func:`build_layer` (one function or one layer, no
config file); :func:`run` builds a loaded :class:`~lambdapack.config.Project`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdapack import archive, manifest, plan, processes
from lambdapack.archive import ArchiveEntry
from lambdapack.cache import Cache, cache_dir
from lambdapack.config import FunctionSpec, IndexOptions, Project, single_function, single_layer
from lambdapack.digest import b64
from lambdapack.ecosystem import Ecosystem, Ecosystems
from lambdapack.errors import BuildError, ConfigError, SourceError, StaleError, VerifyError, os_error
from lambdapack.manifest import Artifact
from lambdapack.state import BuildState, Record, read_plans, zip_stat
from lambdapack.usecases.project import load, project_root, source_date_epoch

if TYPE_CHECKING:  # the rest is imported where a build needs it: a no-op build stays light
    from lambdapack.archive import WrittenArchive
    from lambdapack.cache import DependencySet
    from lambdapack.ecosystem import Bundled
    from lambdapack.explanation import Explanation
    from lambdapack.remote.store import Remote, RemoteReport
    from lambdapack.verify import Finding

__all__ = [
    "BuildFailed",
    "BuildResult",
    "ProgressCallback",
    "build",
    "build_function",
    "build_layer",
    "run",
]

#: Called with (function name, stage) as a build progresses:
#: "resolving", "installing", "collecting", "checking", "zipping", "done".
ProgressCallback = Callable[[str, str], None]


class BuildFailed(BuildError):
    """One or more functions failed; the others were built and recorded."""

    def __init__(self, failures: Mapping[str, BuildError], artifacts: Sequence[Artifact]) -> None:
        self.failures = dict(failures)
        self.artifacts = tuple(artifacts)
        #: What the run did with its remote cache (None: none).
        self.remote: RemoteReport | None = None
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
    #: Why each unit was built again or not, by name (only when asked: ``run(explain=True)``).
    explanations: Mapping[str, Explanation] = field(default_factory=dict)
    #: What the run did with its remote cache (None: none was configured; docs/remote-cache.md).
    remote: RemoteReport | None = None


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
    sbom: bool = False,
    remote_cache: bool | None = None,
) -> list[Artifact]:
    """Build the functions of the project whose config is in ``project_dir``
    (or a parent): all of them, or those in ``names``. Returns their artifacts
    in name order. ``sbom`` writes every artifact's SBOM beside its zip, as
    ``--sbom`` (docs/sbom.md); ``remote_cache`` turns the remote cache on or
    off, as ``--remote-cache`` / ``--no-remote-cache`` (docs/remote-cache.md).
    Raises :class:`~lambdapack.errors.LambdapackError`."""
    project = load(project_dir, runtime=runtime, architecture=architecture, output=output, sbom=sbom)
    result = run(
        project,
        list(names or ()),
        check=check,
        jobs=jobs,
        refresh=refresh,
        locked=locked,
        on_progress=on_progress,
        environ=environ,
        remote_cache=remote_cache,
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
    index_url: str | None = None,
    extra_index_urls: Iterable[str] = (),
    find_links: Iterable[str | Path] = (),
    sdists: str | None = None,
    build_image: str | None = None,
    layers: Sequence[Artifact] = (),
    options: Mapping[str, object] | None = None,
) -> Artifact:
    """Build one function described by arguments (for IaC programs such as a
    cdktf app). Writes ``<output>/<name>.zip`` and updates the manifest there;
    cheap when nothing changed. Relative paths are taken from ``project_dir``,
    which defaults to the :func:`project_root` of the calling script's
    directory (so the current directory does not matter). The index options
    are used as the command line's are (relative ``find_links`` from ``project_dir``);
    ``sdists`` and ``build_image`` as the config keys (docs/containers.md).
    ``layers`` are the artifacts of :func:`build_layer` the function uses, in
    Lambda's order: the function leaves to them what they provide at the same
    version, and its checks count their files (docs/layers.md). ``options``
    are more keys of the function's config table, as in ``lambdapack.toml``
    (e.g. ``{"bundle": True, "entry": "src/index.ts"}`` for a bundled Node.js
    function, ``{"slim": ["tests"]}``, or ``{"sbom": True}`` for its SBOM)."""
    for layer in layers:
        if not layer.is_layer:
            raise ConfigError([f"--layers: {layer.name} is a function's artifact, not a layer's"])
        if runtime not in layer.compatible_runtimes or architecture not in layer.compatible_architectures:
            served = ", ".join(
                f"{r} {a}" for r in layer.compatible_runtimes for a in layer.compatible_architectures
            )
            raise ConfigError(
                [f"--layers: layer {layer.name} does not serve {runtime} {architecture} (it serves {served})"]
            )
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
        sdists=sdists,
        build_image=build_image,
        layers=[layer.name for layer in layers],
        index=_index(Path(project_dir), index_url, extra_index_urls, find_links),
        options=options,
    )
    built = {layer.name: layer for layer in layers}
    try:
        return run(
            project, [], check=check, on_progress=on_progress, environ=environ, layers=built
        ).artifacts[0]
    except BuildFailed as exc:
        raise next(iter(exc.failures.values())) from None


def build_layer(
    source: str | Path | None = None,
    *,
    runtimes: Sequence[str],
    architecture: str,
    requirements: str | Path | None = None,
    name: str | None = None,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    output: str | Path | None = None,
    project_dir: str | Path | None = None,
    check: bool = True,
    on_progress: ProgressCallback | None = None,
    environ: Mapping[str, str] | None = None,
    index_url: str | None = None,
    extra_index_urls: Iterable[str] = (),
    find_links: Iterable[str | Path] = (),
    sdists: str | None = None,
    build_image: str | None = None,
    sbom: bool = False,
) -> Artifact:
    """Build one Lambda layer described by arguments (for IaC programs such as
    a cdktf app), as ``[layers.NAME]`` would: ``requirements`` (or ``source``'s
    requirements.txt, package.json …) installed and ``source``'s own files,
    zipped under ``python/`` (``nodejs/`` for Node.js), where Lambda puts
    them on the path. ``runtimes`` are what the zip serves: one Python version
    (``["python3.12"]``: call once per version, with names apart) or Node.js
    runtimes (one ``node_modules`` serves them all). Writes
    ``<output>/<name>.zip`` (``name`` defaults to the directory of ``source``,
    else of ``requirements``) and adds it to the manifest's ``layers``; cheap
    when nothing changed. Returns its :class:`Artifact` (``is_layer``,
    ``compatible_runtimes``, ``compatible_architectures``). Paths, the index
    options, ``sdists`` and ``build_image`` are taken as by
    :func:`build_function`; ``sbom`` writes its SBOM beside the zip."""
    if project_dir is None:
        caller = sys._getframe(1).f_globals.get("__file__")
        project_dir = project_root(Path(caller).parent if caller else ".")
    project = single_layer(
        Path(project_dir),
        source=source,
        requirements=requirements,
        runtimes=runtimes,
        architecture=architecture,
        name=name,
        exclude=exclude,
        include=include,
        output=output,
        sdists=sdists,
        build_image=build_image,
        index=_index(Path(project_dir), index_url, extra_index_urls, find_links),
        sbom=sbom,
    )
    try:
        return run(project, [], check=check, on_progress=on_progress, environ=environ).artifacts[0]
    except BuildFailed as exc:
        raise next(iter(exc.failures.values())) from None


def _index(
    project_dir: Path,
    index_url: str | None,
    extra_index_urls: Iterable[str],
    find_links: Iterable[str | Path],
) -> IndexOptions:
    """The API's index arguments, as the command line's (relative find links from ``project_dir``)."""
    return IndexOptions(
        index_url=index_url,
        extra_index_urls=tuple(extra_index_urls),
        find_links=tuple(
            str(link) if "://" in str(link) else str((project_dir / link).resolve()) for link in find_links
        ),
    )


@dataclass(kw_only=True, slots=True)
class _Context:
    """What every function's build in one run shares."""

    project: Project
    ecosystems: Ecosystems
    cache: Cache
    state: BuildState
    epoch: int | None
    check: bool
    refresh: bool
    locked: bool
    report: ProgressCallback
    skip: tuple[Path, ...]  # directories never packaged (output directories)
    environ: Mapping[str, str]
    #: The layers built (or current) in this run, by artifact name: functions build on them.
    layers: dict[str, Artifact] = field(default_factory=dict)
    #: The recorded plans of the last builds, when the run explains its decisions (else None).
    previous: Mapping[str, Mapping[str, Any]] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Outcome:
    artifact: Artifact  # its path is where the zip is (or goes, once published)
    plan: plan.BuildPlan | None  # the plan of a fresh build; None: the zip was current
    trees: tuple[str, ...]  # the source walks' memo keys
    pending: Path | None = None  # the fresh zip, in its temporary file until published
    sbom: Path | None = None  # its fresh SBOM, in its temporary file until published
    explanation: Explanation | None = None  # why it was built again or not (when asked)


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
    ecosystems: Mapping[str, Ecosystem] | None = None,
    skip: Sequence[Path] = (),
    layers: Mapping[str, Artifact] | None = None,
    explain: bool = False,
    remote_cache: bool | None = None,
) -> BuildResult:
    """Build the selected functions of ``project`` and update its manifest.

    Functions whose build plan did not change since their zip was written are
    not rebuilt. Up to ``jobs`` functions (default: the CPU count) build at
    once; the results do not depend on the order they finish in. With
    ``check`` (the default) each package is checked before its zip is written;
    a package with errors raises :class:`VerifyError` and leaves the previous
    zip in place. ``refresh`` re-resolves unpinned requirements; ``ecosystems``
    replaces the languages' default implementations (by language); ``layers``
    are layer artifacts built before (by name) that the functions may use.
    ``explain`` compares each plan with the one recorded by the last build and
    says why each unit was built again, or not (``BuildResult.explanations``).
    ``remote_cache`` turns the configured remote cache on (True, even where its
    mode says off) or off (False) for this run; None: as configured
    (``[cache]``, then ``LAMBDAPACK_REMOTE_CACHE``; docs/remote-cache.md)."""
    env = os.environ if environ is None else environ
    shared = _remote(project, env, remote_cache)
    context = _Context(
        project=project,
        ecosystems=Ecosystems(env, ecosystems),
        cache=Cache(cache_dir(env), remote=shared),
        state=BuildState(project.output),
        epoch=source_date_epoch(env),
        check=check,
        refresh=refresh,
        locked=locked,
        report=on_progress or (lambda _name, _stage: None),
        skip=(project.output, *skip),
        environ=env,
        previous=read_plans(project.output) if explain else None,
    )
    units = project.select_units(names)
    processes.reset()  # an earlier run of this process may have been interrupted
    _check_output(project.output)
    manifest.read(manifest.manifest_path(project.output))  # unreadable: say so before building
    for leftover in archive.stale_temporaries(project.output):  # zips of builds that died
        leftover.unlink(missing_ok=True)
    context.cache.remove_stale_temporaries()
    outcomes: dict[str, _Outcome] = {}
    failures: dict[str, BuildError] = {}
    try:
        _build_all(context, [u for u in units if u.layer is not None], jobs, outcomes, failures)
        context.layers = {**(layers or {}), **{name: outcome.artifact for name, outcome in outcomes.items()}}
        functions = []
        for spec in (u for u in units if u.layer is None):
            failed = [name for name in spec.layers if name in failures]
            if failed:
                failures[spec.name] = BuildError(f"not built: its layer {failed[0]} failed")
            else:
                functions.append(spec)
        _build_all(context, functions, jobs, outcomes, failures)
    except BaseException as exc:  # an interrupt: nothing was put in place; stop the tools, drop the zips
        processes.stop_all()
        for outcome in outcomes.values():
            for temporary in (outcome.pending, outcome.sbom):
                if temporary is not None:
                    temporary.unlink(missing_ok=True)
        exc.lambdapack_written = ()  # type: ignore[attr-defined]  # read by the CLI's message
        if shared is not None:
            shared.finish(wait=False)
        raise
    artifacts = [outcomes[name].artifact for name in sorted(outcomes)]
    document: Mapping[str, object] = {}
    if artifacts:
        pending = {name: o.pending for name, o in outcomes.items() if o.pending is not None}
        try:
            sboms = {name: o.sbom for name, o in outcomes.items() if o.sbom is not None}
            document = manifest.publish(project.output, project.root, artifacts, pending, sboms)
        except OSError as exc:
            raise os_error(exc, "cannot publish the zips and the manifest") from None
        except BaseException as exc:  # interrupted while publishing: some zips may be in place
            exc.lambdapack_written = tuple(  # type: ignore[attr-defined]  # read by the CLI's message
                sorted(name for name in pending if not pending[name].exists())
            )
            raise
        finally:
            for temporary in pending.values():  # left only when publishing failed
                temporary.unlink(missing_ok=True)
            for outcome in outcomes.values():
                if outcome.sbom is not None:
                    outcome.sbom.unlink(missing_ok=True)
        updates = {name: _record(outcomes[name], project.root) for name in pending}
        plans = {name: o.plan.to_json() for name, o in outcomes.items() if o.plan is not None}
        used = [key for o in outcomes.values() for key in o.trees]
        if updates or plans or context.state.trees.changed:  # a no-op writes nothing
            with contextlib.suppress(OSError):  # the state only saves work next time
                context.state.save({n: r for n, r in updates.items() if r is not None}, used, plans)
    explanations = {n: o.explanation for n, o in sorted(outcomes.items()) if o.explanation is not None}
    report = shared.finish() if shared is not None else None  # the uploads end after the zips are in place
    if failures:
        failure = BuildFailed(failures, artifacts)
        failure.remote = report
        raise failure
    return BuildResult(
        project=project,
        artifacts=tuple(artifacts),
        manifest=document,
        explanations=explanations,
        remote=report,
    )


def _remote(project: Project, environ: Mapping[str, str], enabled: bool | None) -> Remote | None:
    """The run's remote cache, if one is configured (nothing is asked of it yet)."""
    if project.remote_cache is None and not enabled and not environ.get("LAMBDAPACK_REMOTE_CACHE"):
        return None  # (without importing lambdapack.remote)
    from lambdapack import remote

    try:
        where = remote.location(project.remote_cache, environ, enabled)
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    return None if where is None else remote.make(where, cache_dir(environ), environ)


def _check_output(output: Path) -> None:
    """The output directory exists (or is made) and can be written, or one clear error."""
    if output.exists() and not output.is_dir():
        raise ConfigError([f"output: {output} is a file, not a directory; choose another output (-o)"])
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, "cannot create the output directory") from None
    if not os.access(output, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(output).f_flag & os.ST_RDONLY)
        why = "on a Read-only file system" if read_only else "not writable (Permission denied)"
        raise BuildError(f"{output}: the output directory is {why}; choose another output (-o)")


def _build_all(
    context: _Context,
    specs: Sequence[FunctionSpec],
    jobs: int | None,
    outcomes: dict[str, _Outcome],
    failures: dict[str, BuildError],
) -> None:
    workers = max(1, min(jobs or os.cpu_count() or 1, len(specs)))
    if workers == 1:
        for spec in specs:
            _collect(spec.name, functools.partial(_build_one, context, spec), outcomes, failures)
        return
    from concurrent.futures import Future, ThreadPoolExecutor  # (its import costs a one-function build 10 ms)

    pool = ThreadPoolExecutor(max_workers=workers)
    futures: dict[str, Future[_Outcome]] = {}
    try:
        for spec in specs:
            futures[spec.name] = pool.submit(_build_one, context, spec)
        for name, future in futures.items():
            _collect(name, future.result, outcomes, failures)
    except BaseException:
        # An interrupt: the running tools end now; workers still compressing are not
        # waited for (their temporary files are removed by the next build).
        processes.stop_all()
        pool.shutdown(wait=False, cancel_futures=True)
        for future in futures.values():  # zips that workers finished meanwhile
            if future.done() and not future.cancelled() and future.exception() is None:
                finished = future.result()
                for temporary in (finished.pending, finished.sbom):
                    if temporary is not None:
                        temporary.unlink(missing_ok=True)
        raise
    pool.shutdown(wait=True)


def _record(outcome: _Outcome, root: Path) -> Record | None:
    """What the state keeps of a zip just published (its stat is taken now:
    renaming may change its ctime)."""
    stat = zip_stat(outcome.artifact.path)
    if stat is None or outcome.plan is None:
        return None
    saved = outcome.artifact.to_record(root)
    return Record(fingerprint=outcome.plan.fingerprint, zip_stat=stat, artifact=saved)


def _collect(
    name: str,
    result: Callable[[], _Outcome],
    outcomes: dict[str, _Outcome],
    failures: dict[str, BuildError],
) -> None:
    try:
        outcomes[name] = result()
    except BuildError as exc:
        failures[name] = exc
    except OSError as exc:  # the machine's or the user's: a full disk, permissions …
        failures[name] = os_error(exc)


def _build_one(context: _Context, spec: FunctionSpec) -> _Outcome:
    """Build one function, or reuse its zip when its plan is unchanged."""
    project, name = context.project, spec.name
    ecosystem = context.ecosystems.for_target(spec.target)
    zip_path = project.output / f"{name}.zip"
    context.report(name, "collecting")
    layers = [context.layers[artifact] for artifact in spec.layers]
    options: dict[str, object] = {"epoch": context.epoch, "check": context.check}
    if layers:  # what the function leaves to its layers depends on their contents
        options["layers"] = [[layer.name, layer.sha256] for layer in layers]
    planned = plan.for_function(
        spec,
        ecosystem,
        project_root=project.root,
        memos=context.state.trees,
        options=options,
        skip=context.skip,
        environ=context.environ,
        cache=context.cache,
    )
    the_plan = planned.plan
    used = planned.trees
    if context.locked and the_plan.dependencies is not None:  # --locked holds for current zips too
        stale = ecosystem.lock_status(spec, the_plan.dependencies)
        if stale is not None:
            raise StaleError(
                f"--locked: {the_plan.dependencies.lock_file}: {stale}; run `lambdapack lock {name}`"
            )
    record = None if context.refresh else context.state.current(name, the_plan.fingerprint, zip_path)
    if record is not None and spec.sbom and not manifest.sbom_path(zip_path).is_file():
        record = None  # its SBOM went missing: build both again
    explanation = None
    if context.previous is not None:
        from lambdapack.explanation import explain

        explanation = explain(
            name,
            context.previous.get(name),
            the_plan,
            rebuilt=record is None,
            zip_state=_zip_state(context, spec, zip_path),
        )
    if record is not None:
        context.report(name, "done")
        artifact = Artifact.from_record(name, zip_path, record.artifact)
        return _Outcome(artifact=artifact, plan=None, trees=used, explanation=explanation)

    from lambdapack.contents import StagedPackage, top_level
    from lambdapack.dependencies import dependencies, dependency_findings
    from lambdapack.layers import layer_size_findings, leave_to_layers, prefixed
    from lambdapack.verify import render, verify, zipped_size_findings

    work = Path(tempfile.mkdtemp(prefix=f"lambdapack-{name}-"))
    try:
        deps = None
        lock_warnings: list[Finding] = []
        if the_plan.dependencies is not None:
            deps = dependencies(
                spec,
                the_plan,
                ecosystem,
                context.cache,
                work,
                root=project.root,
                refresh=context.refresh,
                report=functools.partial(context.report, name),
                warnings=lock_warnings,
                check=context.check,
                environ=context.environ,
            )
        own = [
            replace(entry, compressed=context.cache.compressed(source.sha256, entry.path))
            for entry, source in zip(planned.sources(), the_plan.sources, strict=True)
        ]
        compiled: list[Finding] = []
        if spec.bytecode != "none":
            pycs, compiled = ecosystem.compile_sources(spec, own, context.cache.root)
            own += pycs
        installed: Sequence[ArchiveEntry] = deps.entries if deps else ()
        bundled = None
        if spec.bundle is not None:  # the bundle replaces the own files and most of the dependencies
            context.report(name, "bundling")
            site = deps.tree() if deps is not None else None
            bundled = ecosystem.bundle(spec, own, installed, site, work, project.root)
            own, installed = list(bundled.entries), bundled.installed
            failed = [f for f in bundled.findings if f.severity == "error"]
            if failed:
                raise VerifyError("\n".join(render(f) for f in failed))
        left_to_layers: frozenset[str] = frozenset()
        if layers and installed:  # what a layer provides at the same version stays out
            installed, left_to_layers = leave_to_layers(spec, installed, layers, ecosystem.owners)
        entries = _merge(spec, own, installed)
        findings: tuple[Finding, ...] = bundled.findings if bundled is not None else ()
        if context.check:
            context.report(name, "checking")
            staged = StagedPackage(entries, label=name, ownership=ecosystem.owners)
            checked, known = dependency_findings(deps, spec, ecosystem) if deps else (frozenset(), [])
            left = checked - {e.name for e in installed}  # files left to the layers
            if left:
                checked = checked - left
                known = [f for f in known if f.path not in left and f.distribution not in left_to_layers]
            handler = spec.handler if spec.layer is None else None
            if bundled is not None and bundled.exports is not None:
                handler = None  # the bundler told what the bundle exports (checked above)
            provided = frozenset(entry for layer in layers for entry in layer.provides)
            verdict = verify(
                staged, spec.target, handler, ecosystem, checked=checked, known=known, provided=provided
            )
            combined = layer_size_findings(staged, [(layer.name, layer.unzipped) for layer in layers])
            errors = [*verdict.errors, *(f for f in combined if f.severity == "error")]
            if errors:
                raise VerifyError("\n".join(render(f) for f in errors))
            findings += verdict.findings + tuple(combined)
        if deps is not None:
            findings += tuple(ecosystem.dependency_warnings(spec))
        findings += (*lock_warnings, *compiled)
        distributions: tuple[tuple[str, str], ...] = ()
        provides: tuple[str, ...] = ()
        if spec.layer is not None:
            owners = StagedPackage(installed, label=name, ownership=ecosystem.owners).distributions()
            distributions = tuple((d.name, d.version) for d in owners)
            provides = tuple(sorted({top_level(e.name) for e in entries}))
        unzipped = sum(e.compressed.size if e.compressed else Path(e.path).stat().st_size for e in entries)
        context.report(name, "zipping")
        zipped = entries
        if spec.layer is not None:  # where Lambda unpacks a layer: /opt/python, /opt/nodejs
            own_root, installed_root = ecosystem.layer_roots
            zipped = [*prefixed(own, own_root), *prefixed(installed, installed_root)]
        written = archive.write(zipped, zip_path, epoch=context.epoch, replace=False)
        if context.check:
            findings += tuple(zipped_size_findings(staged, written.size))
        if bundled is not None and bundled.metafile:  # for inspect: what the zip's bundle is made of
            context.cache.store_metafile(written.sha256.hex(), bundled.metafile)
        sbom = _sbom(spec, ecosystem, written, installed, deps, bundled, context.epoch) if spec.sbom else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    context.report(name, "done")
    role = spec.layer
    artifact = Artifact(
        name=name,
        path=zip_path,
        code_sha256=b64(written.sha256),
        sha256=written.sha256.hex(),
        size=written.size,
        runtime=spec.target.runtime.name,
        architecture=spec.target.architecture.name,
        handler=spec.handler,
        findings=findings,
        layers=spec.layers,
        layer=role.name if role else None,
        compatible_runtimes=role.runtimes if role else (),
        compatible_architectures=role.architectures if role else (),
        unzipped=unzipped,
        distributions=distributions,
        provides=provides,
        sbom=manifest.sbom_path(zip_path) if sbom is not None else None,
    )
    return _Outcome(
        artifact=artifact,
        plan=the_plan,
        trees=used,
        pending=written.path,
        sbom=sbom,
        explanation=explanation,
    )


def _sbom(
    spec: FunctionSpec,
    ecosystem: Ecosystem,
    written: WrittenArchive,
    installed: Sequence[ArchiveEntry],
    deps: DependencySet | None,
    bundled: Bundled | None,
    epoch: int | None,
) -> Path:
    """The SBOM of the zip just written (docs/sbom.md), in its temporary file
    until it is published with the zip (whose temporary file goes if this fails)."""
    from lambdapack import sbom

    try:
        parts = sbom.components(
            ecosystem,
            shipped=installed,
            installed=deps.entries if deps is not None else (),
            pins=deps.pins if deps is not None else b"",
            prefix=ecosystem.layer_roots[1] if spec.layer is not None else "",
            inlined=bundled.inlined if bundled is not None else (),
        )
        data = sbom.document(spec, written.sha256, parts, epoch=epoch)
        return sbom.write_pending(manifest.sbom_path(written.path.parent / f"{spec.name}.zip"), data)
    except BaseException:
        written.path.unlink(missing_ok=True)
        raise


def _zip_state(context: _Context, spec: FunctionSpec, zip_path: Path) -> str | None:
    """Why the zip is not current although its plan may be ("missing" …), or None."""
    if context.refresh:
        return "--refresh resolves and builds again"
    if not zip_path.exists():
        return f"{zip_path.name} is missing"
    sbom = manifest.sbom_path(zip_path)
    if spec.sbom and not sbom.is_file():
        return f"{sbom.name} is missing"
    recorded = context.state.records.get(spec.name)
    if recorded is not None and zip_stat(zip_path) != recorded.zip_stat:
        return f"{zip_path.name} is not the file lambdapack wrote (its size, time or inode differ)"
    return None


def _merge(
    spec: FunctionSpec, own: Sequence[ArchiveEntry], dependencies: Sequence[ArchiveEntry]
) -> list[ArchiveEntry]:
    installed = {e.name for e in dependencies}
    clashes = sorted(e.name for e in own if e.name in installed)
    if clashes:
        where = spec.source.name if spec.source is not None else "source"
        raise SourceError(
            f"{', '.join(clashes[:3])} exists both in {where}/ and in the installed "
            "dependencies; rename the file or exclude it"
        )
    return [*own, *dependencies]
