"""The ``lambdapack`` command: parses options, calls the library, renders.

This is the only module that imports click or exits the process; every
:class:`LambdapackError` becomes a message on stderr and its exit code here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import click

from lambdapack import __version__, manifest, render
from lambdapack.config import IndexOptions, Project, single_function
from lambdapack.digest import b64, file_sha256
from lambdapack.errors import (
    EXIT_CHECK,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_STALE,
    ConfigError,
    LambdapackError,
)
from lambdapack.runtimes import ARCHITECTURES, RUNTIMES
from lambdapack.usecases.build import BuildFailed, check, check_zip, compare, load, lock_functions, run

_PROJECT_DIR = click.option(
    "-C",
    "--project-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    help="Where to look for lambdapack.toml (and its parents). Default: current directory.",
)


_INDEX_OPTIONS = [
    click.option(
        "--index-url", help="Package index to use instead of the configured one (may hold credentials)."
    ),
    click.option(
        "--extra-index-url", "extra_index_urls", multiple=True, help="Additional index (repeatable)."
    ),
    click.option("--find-links", multiple=True, help="Directory or page of wheels to use too (repeatable)."),
]


def _index_options(function: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_INDEX_OPTIONS):
        function = option(function)
    return function


def _index(index_url: str | None, extra_index_urls: Sequence[str], find_links: Sequence[str]) -> IndexOptions:
    links = tuple(str(Path(link).resolve()) if "://" not in link else link for link in find_links)
    return IndexOptions(index_url=index_url, extra_index_urls=tuple(extra_index_urls), find_links=links)


@contextlib.contextmanager
def _errors(verbose: bool = False) -> Iterator[None]:
    """Map lambdapack's errors to a message and exit code; never a traceback
    for a user error."""
    try:
        yield
    except LambdapackError as exc:
        for line in str(exc).splitlines() or ["failed"]:
            click.echo(f"lambdapack: error: {line}", err=True)
        if verbose:
            for detail in _tool_output(exc):
                click.echo(detail, err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("lambdapack: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - last resort: report a bug, not a crash
        if verbose or os.environ.get("LAMBDAPACK_DEBUG"):
            traceback.print_exc()
        click.echo(
            f"lambdapack: internal error: {type(exc).__name__}: {exc} "
            "(this is a bug; rerun with --verbose and report it)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)


def _tool_output(exc: LambdapackError) -> list[str]:
    """The details (tool commands and their output) behind ``exc``."""
    errors = list(exc.failures.values()) if isinstance(exc, BuildFailed) else [exc]
    return [e.details for e in errors if e.details]


def _echo(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lambdapack")
def main() -> None:
    """Build deterministic AWS Lambda packages for Python functions."""


@main.command()
@click.argument("names", nargs=-1)
@_PROJECT_DIR
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
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
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
@_index_options
@click.option("--locked", is_flag=True, help="Never resolve: fail unless every lock file is current.")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Change nothing; exit 4 unless the zips and manifest equal a fresh build (a CI gate).",
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
    output: Path | None,
    no_verify: bool,
    jobs: int | None,
    refresh: bool,
    index_url: str | None,
    extra_index_urls: Sequence[str],
    find_links: Sequence[str],
    locked: bool,
    check_only: bool,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Build the functions NAMES (default: all) into zips and the manifest."""
    with _errors(verbose):
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
            )
        else:
            only_with_source = (
                ("handler", handler),
                ("requirements", requirements),
                ("name", name),
                ("exclude", exclude),
                ("include", include),
            )
            stray = [f"--{option}" for option, value in only_with_source if value]
            if stray:
                raise ConfigError([f"{', '.join(stray)} only apply with --source"])
            project = load(
                project_dir,
                runtime=runtime,
                architecture=architecture,
                output=output,
                index=_index(index_url, extra_index_urls, find_links),
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
        display = _Progress([s.name for s in project.select(list(names))], live=live, verbose=verbose)
        try:
            result = run(
                project,
                list(names),
                check=not no_verify,
                jobs=jobs,
                refresh=refresh,
                locked=locked,
                on_progress=display.update,
            )
        except BuildFailed as exc:
            display.close()
            if not quiet:
                _echo(render.summary(exc.artifacts, cwd=Path.cwd(), verbose=verbose))
            raise
        finally:
            display.close()
        if not quiet:
            _echo(render.summary(result.artifacts, cwd=Path.cwd(), verbose=verbose))
        if as_json:
            click.echo(manifest.dumps(result.manifest), nl=False)


def _check_outputs(project: Project, names: list[str], *, jobs: int | None, quiet: bool) -> None:
    drifts = compare(project, names, jobs=jobs)
    stale = {d.name for d in drifts}
    if not quiet:
        for spec in project.select(names):
            if spec.name not in stale:
                click.echo(f"{spec.name}: up to date", err=True)
    for drift in drifts:
        where = os.path.relpath(drift.path, Path.cwd())
        if drift.found is None:
            problem = f"{where} is missing"
        elif drift.found != drift.expected:
            problem = f"{where} has code_sha256 {drift.found}"
        else:
            problem = f"the manifest records {drift.manifest or 'nothing'}"
        click.echo(
            f"lambdapack: error: {drift.name}: {problem}; a fresh build gives {drift.expected} "
            "(run lambdapack build and commit the result)",
            err=True,
        )
    if drifts:
        sys.exit(EXIT_STALE)


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


@main.command("lock")
@click.argument("names", nargs=-1)
@_PROJECT_DIR
@click.option(
    "--check", "check_only", is_flag=True, help="Change nothing; exit 4 if a lock is missing or stale."
)
@_index_options
def lock_(
    names: Sequence[str],
    project_dir: Path,
    check_only: bool,
    index_url: str | None,
    extra_index_urls: Sequence[str],
    find_links: Sequence[str],
) -> None:
    """Resolve the functions' requirements for their targets into lock files.

    Each lock (``<stem>.<runtime>-<architecture>.lock.txt`` beside the
    requirements input, pip-tools format with hashes) is used by later builds
    instead of resolving; ``build --locked`` requires them."""
    with _errors():
        project = load(project_dir, index=_index(index_url, extra_index_urls, find_links))
        results = lock_functions(project, list(names), check_only=check_only)
        stale = False
        for result in results:
            where = os.path.relpath(result.path, Path.cwd())
            functions = ", ".join(result.functions)
            if result.problem is None:
                count = result.packages
                detail = f"{count} package{'s' * (count != 1)}" if count else "current"
                click.echo(f"{where}: {detail} ({functions})", err=True)
            else:
                stale = True
                click.echo(f"lambdapack: error: {where}: {result.problem} ({functions})", err=True)
        if not results:
            click.echo("no function has requirements to lock", err=True)
        if stale:
            sys.exit(EXIT_STALE)


@main.group()
def cache() -> None:
    """Show or empty lambdapack's cache (LAMBDAPACK_CACHE_DIR overrides its place)."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON on stdout.")
def cache_info(as_json: bool) -> None:
    """Where the cache is and what it holds."""
    with _errors():
        from lambdapack.cache import Cache, cache_dir

        store = Cache(cache_dir(os.environ))
        info = store.info()
        if as_json:
            click.echo(json.dumps({"path": str(store.root), **info}, indent=2, sort_keys=True))
            return
        click.echo(f"{store.root}")
        rows = [("kind", "entries", "size")]
        rows += [(kind, str(v["entries"]), render.human_size(v["bytes"])) for kind, v in info.items()]
        total = sum(v["bytes"] for v in info.values())
        rows.append(("total", "", render.human_size(total)))
        for line in render.table(rows, right=(1, 2)):
            click.echo(line)


@cache.command("clean")
def cache_clean() -> None:
    """Remove everything in the cache."""
    with _errors():
        from lambdapack.cache import Cache, cache_dir

        store = Cache(cache_dir(os.environ))
        freed = store.clean()
        click.echo(f"removed {render.human_size(freed)} from {store.root}", err=True)


@main.command("check")
@click.argument("packages", nargs=-1)
@_PROJECT_DIR
@click.option("--runtime", help="Target runtime of the ZIPs (default: from the manifest beside them).")
@click.option("--architecture", help="Target architecture of the ZIPs (default: from the manifest).")
@click.option("--handler", help="MODULE.FUNCTION to look for in the ZIPs (default: from the manifest).")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Show the details of each finding.")
def check_(
    packages: Sequence[str],
    project_dir: Path,
    runtime: str | None,
    architecture: str | None,
    handler: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Check that packages will load on their target.

    PACKAGES are zip files (built by anything) or function names of the
    project; without any, every function's built zip is checked."""
    with _errors(verbose):
        zips = [p for p in packages if p.endswith(".zip") or Path(p).is_file()]
        names = [p for p in packages if p not in zips]
        if zips and names:
            raise ConfigError(["give either ZIP files or function names, not both"])
        if names or not zips:
            if runtime or architecture or handler:
                raise ConfigError(["--runtime, --architecture and --handler apply to ZIP files only"])
            reports = check(project_dir, names)
        else:
            reports = [
                check_zip(z, runtime=runtime, architecture=architecture, handler=handler) for z in zips
            ]
        for result in reports:
            for line in render.report(result, verbose=verbose):
                click.echo(line, err=as_json)  # stdout is the JSON's when --json
        if as_json:
            document = {
                "version": 1,
                "ok": all(r.ok for r in reports),
                "packages": [r.to_json() for r in reports],
            }
            click.echo(json.dumps(document, indent=2, sort_keys=True))
        if not all(r.ok for r in reports):
            sys.exit(EXIT_CHECK)


@main.command("inspect")
@click.argument("zip_file", metavar="ZIP", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Rows per table.")
@click.option("--json", "as_json", is_flag=True, help="Print the inventory as JSON on stdout.")
def inspect_(zip_file: Path, top: int, as_json: bool) -> None:
    """Show what is inside ZIP and what takes the space."""
    from lambdapack.contents import ZipPackage
    from lambdapack.inventory import take

    with _errors():
        with ZipPackage(zip_file) as package:
            inv = take(package)
        if as_json:
            click.echo(json.dumps(inv.to_json(), indent=2, sort_keys=True))
        else:
            for line in render.inventory(inv, top=top):
                click.echo(line)


@main.command("terraform")
def terraform() -> None:
    """Terraform `external` data source: JSON query on stdin, JSON result on stdout.

    The query is an object of strings: "function" (required), "project_dir"
    and "config" (optional). The function is built when needed; the result is
    a flat object of strings: path (relative to the working directory),
    absolute_path, code_sha256, sha256, size, runtime, architecture, handler.
    Errors go to stderr with a non-zero exit code, as the protocol expects."""
    with _errors():
        query = _terraform_query(sys.stdin.read())
        start = Path(query.get("config") or query.get("project_dir") or ".")
        config = start if start.is_file() else None
        project = load(config.parent if config else start)
        if config is not None and project.config_file != config.resolve():
            raise ConfigError([f"config: {config} is not the config found for {config.parent}"])
        (artifact,) = run(project, [query["function"]]).artifacts
        result = {
            "path": os.path.relpath(artifact.path, Path.cwd()),
            "absolute_path": str(artifact.path),
            "code_sha256": artifact.code_sha256,
            "sha256": artifact.sha256,
            "size": str(artifact.size),
            "runtime": artifact.runtime,
            "architecture": artifact.architecture,
            "handler": artifact.handler,
        }
        click.echo(json.dumps(result, sort_keys=True))


def _terraform_query(text: str) -> dict[str, str]:
    try:
        query = json.loads(text or "{}")
    except ValueError as exc:
        raise ConfigError([f"terraform query: not JSON ({exc})"]) from None
    if not isinstance(query, dict) or not all(isinstance(v, str) for v in query.values()):
        raise ConfigError(["terraform query: must be a JSON object of strings"])
    known = ("function", "project_dir", "config")
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise ConfigError(
            [f"terraform query: unknown key {k!r} (known: {', '.join(known)})" for k in unknown]
        )
    if not query.get("function"):
        raise ConfigError(["terraform query: 'function' is required"])
    return dict(query)


@main.command("hash")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--hex", "as_hex", is_flag=True, help="Print the hex digest instead (sha256sum).")
def hash_(files: Sequence[Path], as_hex: bool) -> None:
    """Print the base64 SHA-256 of FILES (Lambda's CodeSha256, filebase64sha256)."""
    with _errors():
        for path in files:
            try:
                digest = file_sha256(path)
            except OSError as exc:
                raise ConfigError([f"{path}: {exc.strerror}"]) from None
            text = digest.hex() if as_hex else b64(digest)
            click.echo(text if len(files) == 1 else f"{text}  {path}")
