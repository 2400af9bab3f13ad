"""``lambdapack lock``: resolve each function's dependencies into lock files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from lambdapack.cli import PROJECT_DIR, errors, index, index_options
from lambdapack.errors import StaleError
from lambdapack.usecases.lock import lock_functions
from lambdapack.usecases.project import load


@click.command("lock")
@click.argument("names", nargs=-1)
@PROJECT_DIR
@click.option(
    "--check", "check_only", is_flag=True, help="Change nothing; exit 4 if a lock is missing or stale."
)
@index_options
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
    with errors():
        project = load(project_dir, index=index(index_url, extra_index_urls, find_links))
        results = lock_functions(project, list(names), check_only=check_only)
        stale = []
        for result in results:
            where = os.path.relpath(result.path, Path.cwd())
            functions = ", ".join(result.functions)
            if result.problem is None:
                count = result.packages
                detail = f"{count} package{'s' * (count != 1)}" if count else "current"
                click.echo(f"{where}: {detail} ({functions})", err=True)
            else:
                stale.append(f"{where}: {result.problem} ({functions})")
        if not results:
            click.echo("no function has requirements to lock", err=True)
        if stale:
            raise StaleError("\n".join(stale))


COMMANDS = [lock_]
