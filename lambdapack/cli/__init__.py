"""The ``lambdapack`` command: parses options, calls the library, renders.

This package is the only importer of click and the only place that exits
the process: every :class:`LambdapackError` becomes a message on stderr and
its exit code in :func:`errors`. One module per command.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import click

from lambdapack import __version__
from lambdapack.config import IndexOptions
from lambdapack.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, Interrupted, LambdapackError

PROJECT_DIR = click.option(
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


def index_options(function: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_INDEX_OPTIONS):
        function = option(function)
    return function


def index(index_url: str | None, extra_index_urls: Sequence[str], find_links: Sequence[str]) -> IndexOptions:
    links = tuple(str(Path(link).resolve()) if "://" not in link else link for link in find_links)
    return IndexOptions(index_url=index_url, extra_index_urls=tuple(extra_index_urls), find_links=links)


@contextlib.contextmanager
def errors(verbose: bool = False) -> Iterator[None]:
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
    except (KeyboardInterrupt, Interrupted) as exc:
        from lambdapack import processes

        processes.stop_all()
        written = getattr(exc, "lambdapack_written", None)
        if written == ():
            what = "no zip or manifest was changed"
        elif written:
            what = f"{', '.join(f'{n}.zip' for n in written)} replaced, the manifest names only verified zips"
        else:
            what = "the zips and the manifest still agree"
        click.echo(f"lambdapack: interrupted; {what} (run the build again to finish)", err=True)
        _exit_now(exc.exit_code if isinstance(exc, Interrupted) else EXIT_INTERRUPTED)
    except OSError as exc:  # the machine's fault (a full disk, permissions): never "internal error"
        from lambdapack.errors import EXIT_BUILD, os_error

        click.echo(f"lambdapack: error: {os_error(exc)}", err=True)
        sys.exit(EXIT_BUILD)
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


def _exit_now(code: int) -> None:
    """Exit with ``code`` at once: worker threads still finishing (their tools
    were stopped) are not waited for, and an interrupt that landed inside an
    import cannot turn the exit into a SIGINT death; what is left behind is
    temporary and removed by the next build."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _tool_output(exc: LambdapackError) -> list[str]:
    """The details (tool commands and their output) behind ``exc``."""
    failures = getattr(exc, "failures", None)
    errors_ = list(failures.values()) if isinstance(failures, dict) else [exc]
    return [e.details for e in errors_ if isinstance(e, LambdapackError) and e.details]


def echo(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lambdapack")
def main() -> None:
    """Build deterministic, verified AWS Lambda packages."""


def _register() -> None:
    from lambdapack.cli import build, cache, check, diff, lock, tools

    for module in (build, lock, cache, check, diff, tools):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
