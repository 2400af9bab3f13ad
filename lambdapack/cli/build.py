"""``lambdapack build``: build functions, or check that built ones are current."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lambdapack import manifest, render
from lambdapack.cli import PROJECT_DIR, echo, errors, index, index_options
from lambdapack.config import Project, single_function
from lambdapack.errors import ConfigError, StaleError
from lambdapack.runtimes import ARCHITECTURES, RUNTIMES
from lambdapack.usecases.build import BuildFailed, run
from lambdapack.usecases.project import load

if TYPE_CHECKING:
    from lambdapack.remote.store import RemoteReport


@click.command()
@click.argument("names", nargs=-1)
@PROJECT_DIR
@click.option("--source", help="Build one function from this directory, without a config file.")
@click.option("--handler", help="MODULE.FUNCTION of the function (with --source).")
@click.option("--runtime", type=click.Choice(list(RUNTIMES)), help="Override the runtime.")
@click.option("--architecture", type=click.Choice(list(ARCHITECTURES)), help="Override the architecture.")
@click.option("--requirements", help="Requirements file (with --source).")
@click.option("--name", help="Name of the zip (with --source; default: the source directory's name).")
@click.option(
    "--exclude", multiple=True, help="Gitignore-style pattern to leave out (with --source; repeatable)."
)
@click.option("--include", multiple=True, help="Pattern to re-include (with --source; repeatable).")
@click.option(
    "--sdists",
    type=click.Choice(["never", "pure", "container"]),
    help="With --source: which sdists to build, and where (docs/containers.md; default: pure).",
)
@click.option("--build-image", help="With --source: the image container builds run in.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),  # a file here is reported by the build, in one line
    help="Output directory, relative to the current directory (default: the config's 'output', or dist).",
)
@click.option("--no-verify", is_flag=True, help="Skip the checks (the package may not load on Lambda).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Functions to build at once (default: the number of CPUs).",
)
@click.option(
    "--refresh", is_flag=True, help="Re-resolve unpinned requirements instead of reusing the cache."
)
@index_options
@click.option("--locked", is_flag=True, help="Never resolve: fail unless every lock file is current.")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Change nothing; exit 4 unless the zips and manifest equal a fresh build (a CI gate).",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Say why each function was built again (which recorded inputs changed) or was up to date.",
)
@click.option(
    "--sbom", is_flag=True, help="Write each zip's CycloneDX SBOM beside it, <name>.cdx.json (docs/sbom.md)."
)
@click.option(
    "--remote-cache/--no-remote-cache",
    default=None,
    help="Use the configured remote cache even where its mode is off, or not at all (docs/remote-cache.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print each stage, and tool output on errors.")
def build(
    names: Sequence[str],
    project_dir: Path,
    source: str | None,
    handler: str | None,
    runtime: str | None,
    architecture: str | None,
    requirements: str | None,
    name: str | None,
    exclude: Sequence[str],
    include: Sequence[str],
    sdists: str | None,
    build_image: str | None,
    output: Path | None,
    no_verify: bool,
    jobs: int | None,
    refresh: bool,
    index_url: str | None,
    extra_index_urls: Sequence[str],
    find_links: Sequence[str],
    locked: bool,
    check_only: bool,
    explain: bool,
    sbom: bool,
    remote_cache: bool | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Build the functions NAMES (default: all) into zips and the manifest."""
    with errors(verbose):
        if output is not None:
            output = output.resolve()  # relative to where the user stands
        if source is not None:
            if names:
                raise ConfigError(["give either function NAMES or --source, not both"])
            given = (("handler", handler), ("runtime", runtime), ("architecture", architecture))
            missing = [f"--{option}" for option, value in given if not value]
            if missing:
                raise ConfigError([f"--source needs {', '.join(missing)} as well"])
            assert handler and runtime and architecture
            project = single_function(
                project_dir,
                source=source,
                handler=handler,
                runtime=runtime,
                architecture=architecture,
                name=name,
                requirements=requirements,
                exclude=exclude,
                include=include,
                output=output,
                index=index(index_url, extra_index_urls, find_links),
                sdists=sdists,
                build_image=build_image,
                options={"sbom": True} if sbom else None,
            )
            _refuse_configured_name(project, project_dir)
        else:
            only_with_source = (
                ("handler", handler),
                ("requirements", requirements),
                ("name", name),
                ("exclude", exclude),
                ("include", include),
                ("sdists", sdists),
                ("build-image", build_image),
            )
            stray = [f"--{option}" for option, value in only_with_source if value]
            if stray:
                raise ConfigError([f"{', '.join(stray)} only apply with --source"])
            project = load(
                project_dir,
                runtime=runtime,
                architecture=architecture,
                output=output,
                index=index(index_url, extra_index_urls, find_links),
                sbom=sbom,
            )
        if no_verify:
            click.echo(
                "lambdapack: warning: --no-verify: packages are not checked and may fail on Lambda",
                err=True,
            )

        if check_only:
            _check_outputs(project, list(names), jobs=jobs, quiet=quiet)
            return
        live = not quiet and not verbose and sys.stderr.isatty()
        display = _Progress([s.name for s in project.select_units(list(names))], live=live, verbose=verbose)
        try:
            result = run(
                project,
                list(names),
                check=not no_verify,
                jobs=jobs,
                refresh=refresh,
                locked=locked,
                on_progress=display.update,
                explain=explain or verbose,
                remote_cache=remote_cache,
            )
        except BuildFailed as exc:
            display.close()
            _remote_lines(exc.remote, verbose=verbose)
            if not quiet:
                echo(render.summary(exc.artifacts, cwd=Path.cwd(), verbose=verbose))
            raise
        finally:
            display.close()
        _remote_lines(result.remote, verbose=verbose)
        if not quiet:
            echo(render.summary(result.artifacts, cwd=Path.cwd(), verbose=verbose))
        if result.explanations and (explain or verbose):
            echo(render.explanations(result.explanations.values()))
        if as_json:
            click.echo(manifest.dumps(result.manifest), nl=False)


def _remote_lines(report: RemoteReport | None, *, verbose: bool) -> None:
    """The remote cache's warnings (even with --quiet: the build was slower than it should
    have been), and with --verbose its figures."""
    if report is None:
        return
    for warning in report.warnings:
        click.echo(f"lambdapack: warning: {warning}", err=True)
    if verbose and any(report.figures().values()):  # (a no-op asks nothing of it)
        click.echo(render.remote_figures(report), err=True)


def _refuse_configured_name(single: Project, project_dir: Path) -> None:
    """``--source`` must not replace the zip and manifest entry of a function the
    project's config defines (built differently, e.g. without its excludes)."""
    from lambdapack.config import find_config, load_project

    config = find_config(project_dir.resolve())
    if config is None:
        return
    try:
        configured = load_project(config)
    except ConfigError:
        return  # a broken config defines nothing to protect
    (name,) = single.functions
    if name in configured.functions and configured.output == single.output:
        where = os.path.relpath(config, Path.cwd())
        raise ConfigError(
            [
                f"--source: {where} configures a function named {name!r} with the same output "
                f"({os.path.relpath(single.output, Path.cwd())}); give another --name or -o, or build it "
                f"as configured with `lambdapack build {name}`"
            ]
        )


def _check_outputs(project: Project, names: list[str], *, jobs: int | None, quiet: bool) -> None:
    from lambdapack.usecases.compare import compare

    drifts = compare(project, names, jobs=jobs)
    stale = {d.name for d in drifts}
    if not quiet:
        for spec in project.select_units(names):
            if spec.name not in stale:
                click.echo(f"{spec.name}: up to date", err=True)
    problems = []
    for drift in drifts:
        where = os.path.relpath(drift.path, Path.cwd())
        if drift.found is None:
            problem = f"{where} is missing"
        elif drift.found != drift.expected:
            problem = f"{where} has code_sha256 {drift.found}"
        else:
            problem = f"the manifest records {drift.manifest or 'nothing'}"
        problems.append(
            f"{drift.name}: {problem}; a fresh build gives {drift.expected} "
            "(run lambdapack build and commit the result)"
        )
    if problems:
        raise StaleError("\n".join(problems))


class _Progress:
    """Per-function stages: redrawn in place on a terminal (and erased when
    done), plain lines with --verbose, nothing otherwise."""

    def __init__(self, names: Sequence[str], *, live: bool, verbose: bool) -> None:
        self._stages = dict.fromkeys(names, "waiting")
        self._live = live and bool(names)
        self._verbose = verbose
        self._lock = threading.Lock()
        self._drawn = 0

    def update(self, name: str, stage: str) -> None:
        with self._lock:
            if self._verbose and stage != "done":
                click.echo(f"{name}: {stage}", err=True)
            if not self._live:
                return
            self._stages[name] = stage
            self._erase()
            width = max(len(n) for n in self._stages)
            for function, current in self._stages.items():
                click.echo(f"{function.ljust(width)}  {current}", err=True)
            self._drawn = len(self._stages)

    def close(self) -> None:
        with self._lock:
            self._erase()
            self._live = False

    def _erase(self) -> None:
        if self._drawn:
            click.echo(f"\x1b[{self._drawn}F\x1b[J", err=True, nl=False)
            self._drawn = 0


COMMANDS = [build]
