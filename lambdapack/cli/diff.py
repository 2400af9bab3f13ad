"""``lambdapack diff``: what differs between two zips, built by anything."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lambdapack import render
from lambdapack.cli import errors
from lambdapack.errors import EXIT_DIFFERENT, EXIT_OK


@click.command("diff")
@click.argument("zip_a", metavar="A", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("zip_b", metavar="B", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--top", type=click.IntRange(min=1), default=20, show_default=True, help="Entries shown per group."
)
@click.option("--json", "as_json", is_flag=True, help="Print the difference as JSON on stdout.")
@click.pass_context
def diff(ctx: click.Context, zip_a: Path, zip_b: Path, top: int, as_json: bool) -> None:
    """Show what differs between the zips A and B: entries only in one, and
    changed ones by distribution, with what changed (content, mode, timestamp …).

    Exit code 0 when A and B are the same bytes, 1 when they differ."""
    from lambdapack.difference import compare

    with errors():
        difference = compare(zip_a, zip_b)
    if as_json:
        click.echo(json.dumps(difference.to_json(), indent=2, sort_keys=True))
    else:
        for line in render.difference(difference, top=top):
            click.echo(line)
    ctx.exit(EXIT_OK if difference.identical else EXIT_DIFFERENT)


COMMANDS = [diff]
