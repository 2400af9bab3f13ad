"""``lambdapack cache``: show or empty lambdapack's cache."""

from __future__ import annotations

import json
import os

import click

from lambdapack import render
from lambdapack.cli import errors


@click.group()
def cache() -> None:
    """Show or empty lambdapack's cache (LAMBDAPACK_CACHE_DIR overrides its place)."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON on stdout.")
def cache_info(as_json: bool) -> None:
    """Where the cache is and what it holds."""
    with errors():
        from lambdapack.cache import Cache, cache_dir
        from lambdapack.remote.store import stats

        store = Cache(cache_dir(os.environ))
        info = store.info()
        remotes = stats(store.root)
        if as_json:
            document = {"path": str(store.root), **info, "remote": remotes}
            click.echo(json.dumps(document, indent=2, sort_keys=True))
            return
        click.echo(f"{store.root}")
        rows = [("kind", "entries", "size")]
        rows += [(kind, str(v["entries"]), render.human_size(v["bytes"])) for kind, v in info.items()]
        total = sum(v["bytes"] for v in info.values())
        rows.append(("total", "", render.human_size(total)))
        for line in render.table(rows, right=(1, 2)):
            click.echo(line)
        if remotes:  # what builds on this machine did with remote caches (docs/remote-cache.md)
            click.echo("")
            figures = [("remote", "hits", "misses", "down", "uploads", "up", "ignored", "errors")]
            figures += [
                (
                    url,
                    str(f["hits"]),
                    str(f["misses"]),
                    render.human_size(f["bytes_down"]),
                    str(f["uploads"]),
                    render.human_size(f["bytes_up"]),
                    str(f["ignored"]),
                    str(f["errors"]),
                )
                for url, f in sorted(remotes.items())
            ]
            for line in render.table(figures, right=(1, 2, 3, 4, 5, 6, 7)):
                click.echo(line)


@cache.command("clean")
def cache_clean() -> None:
    """Remove everything in the cache."""
    with errors():
        from lambdapack.cache import Cache, cache_dir

        store = Cache(cache_dir(os.environ))
        freed = store.clean()
        click.echo(f"removed {render.human_size(freed)} from {store.root}", err=True)


COMMANDS = [cache]
