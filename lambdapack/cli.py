"""The ``lambdapack`` command: parses options, calls the library, renders.

This is the only module that imports click or exits the process; every
:class:`LambdapackError` becomes a message on stderr and its exit code here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from . import __version__, manifest
from .config import single_function
from .digest import b64, file_sha256
from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, ConfigError, LambdapackError
from .manifest import Artifact
from .pipeline import BuildFailed, load, run
from .runtimes import ARCHITECTURES, RUNTIMES


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lambdapack")
def main() -> None:
    """Build deterministic AWS Lambda packages for Python functions."""


@main.command()
@click.argument("names", nargs=-1)
@click.option(
    "-C",
    "--project-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    help="Where to look for lambdapack.toml (and its parents). Default: current directory.",
)
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
            missing = [
                f"--{o}"
                for o, v in (("handler", handler), ("runtime", runtime), ("architecture", architecture))
                if not v
            ]
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
            stray = [
                f"--{o}"
                for o, v in (
                    ("handler", handler),
                    ("requirements", requirements),
                    ("name", name),
                    ("exclude", exclude),
                    ("include", include),
                )
                if v
            ]
            if stray:
                raise ConfigError([f"{', '.join(stray)} only apply with --source"])
            project = load(project_dir, runtime=runtime, architecture=architecture, output=output)

        def progress(function: str, stage: str) -> None:
            if verbose and stage != "done":
                click.echo(f"{function}: {stage}", err=True)

        try:
            result = run(project, list(names), on_progress=progress)
        except BuildFailed as exc:
            if not quiet:
                _summary(exc.artifacts)
            raise
        if not quiet:
            _summary(result.artifacts)
        if as_json:
            click.echo(manifest.dumps(result.manifest), nl=False)


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


def _summary(artifacts: Sequence[Artifact]) -> None:
    rows = [
        (
            a.name,
            f"{a.runtime} {a.architecture}",
            _human(a.size),
            os.path.relpath(a.path, Path.cwd()),
            a.code_sha256,
        )
        for a in artifacts
    ]
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(4)]
    for row in rows:
        cells = [row[i].ljust(widths[i]) if i != 2 else row[i].rjust(widths[i]) for i in range(4)]
        click.echo("  ".join([*cells, row[4]]), err=True)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
