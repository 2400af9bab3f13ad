"""``lambdapack check`` and ``lambdapack inspect``: built zips, checked and taken apart."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import click

from lambdapack import render
from lambdapack.cli import PROJECT_DIR, errors
from lambdapack.errors import ConfigError, VerifyError


@click.command("check")
@click.argument("packages", nargs=-1)
@PROJECT_DIR
@click.option("--runtime", help="Target runtime of the ZIPs (default: from the manifest beside them).")
@click.option("--architecture", help="Target architecture of the ZIPs (default: from the manifest).")
@click.option("--handler", help="MODULE.FUNCTION to look for in the ZIPs (default: from the manifest).")
@click.option(
    "--layer",
    "layers",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A layer zip the ZIPs run with (repeatable): its files count for imports and size.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON on stdout.")
@click.option("-v", "--verbose", is_flag=True, help="Show the details of each finding.")
def check_(
    packages: Sequence[str],
    project_dir: Path,
    runtime: str | None,
    architecture: str | None,
    handler: str | None,
    layers: Sequence[Path],
    as_json: bool,
    verbose: bool,
) -> None:
    """Check that packages will load on their target.

    PACKAGES are zip files (built by anything) or function names of the
    project; without any, every function's built zip is checked."""
    with errors(verbose):
        from lambdapack.usecases.check import check, check_zip

        zips = [p for p in packages if p.endswith(".zip") or Path(p).is_file()]
        names = [p for p in packages if p not in zips]
        if zips and names:
            raise ConfigError(["give either ZIP files or function names, not both"])
        if names or not zips:
            if runtime or architecture or handler or layers:
                raise ConfigError(
                    ["--runtime, --architecture, --handler and --layer apply to ZIP files only"]
                )
            reports = check(project_dir, names)
        else:
            reports = [
                check_zip(z, runtime=runtime, architecture=architecture, handler=handler, layers=layers)
                for z in zips
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
        failed = [r.label for r in reports if not r.ok]
        if failed:
            raise VerifyError(
                f"{len(failed)} of {len(reports)} package(s) would not load: {', '.join(failed)}"
            )


@click.command("inspect")
@click.argument("zip_file", metavar="ZIP", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Rows per table.")
@click.option("--json", "as_json", is_flag=True, help="Print the inventory as JSON on stdout.")
@click.option(
    "--metafile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write esbuild's metafile of a bundled function's zip to this file (for esbuild's analyzer).",
)
def inspect_(zip_file: Path, top: int, as_json: bool, metafile: Path | None) -> None:
    """Show what is inside ZIP and what takes the space (for a bundle: its biggest inputs)."""
    from lambdapack.atomic import write_bytes
    from lambdapack.contents import ZipPackage
    from lambdapack.errors import BuildError
    from lambdapack.inventory import take
    from lambdapack.node.metafile import report
    from lambdapack.usecases.check import bundle_metafile, slimming

    with errors():
        with ZipPackage(zip_file) as package:
            inv = take(package)
            slim = slimming(zip_file, package)
        meta = bundle_metafile(zip_file, os.environ)
        bundled = report(meta) if meta is not None else None
        if metafile is not None:
            if meta is None:
                raise BuildError(
                    f"{zip_file}: no metafile for it in lambdapack's cache (only a bundled function's zip "
                    "built on this machine has one); build it again"
                )
            write_bytes(metafile, meta)
        if as_json:
            document = {**inv.to_json(), "slim": slim.to_json()}
            if bundled is not None:
                document["bundle"] = bundled.to_json()
            click.echo(json.dumps(document, indent=2, sort_keys=True))
        else:
            lines = render.inventory(inv, top=top)
            if bundled is not None:
                lines += ["", *render.bundle(bundled, top=top)]
            for line in [*lines, "", *render.slimming(slim, inv.size)]:
                click.echo(line)


COMMANDS = [check_, inspect_]
