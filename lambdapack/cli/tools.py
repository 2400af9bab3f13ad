"""``lambdapack terraform`` (an external data source) and ``lambdapack hash``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from lambdapack.cli import errors
from lambdapack.digest import b64, file_sha256
from lambdapack.errors import ConfigError
from lambdapack.usecases.build import run
from lambdapack.usecases.project import load


@click.command("terraform")
def terraform() -> None:
    """Terraform `external` data source: JSON query on stdin, JSON result on stdout.

    The query is an object of strings: "function" or "layer" (one is
    required), "project_dir" and "config" (optional). The artifact is built
    when needed; the result is a flat object of strings: path (relative to the
    working directory), absolute_path, code_sha256, sha256, size, and for a
    function runtime, architecture, handler and layers (comma-separated layer
    artifact names), for a layer's artifact compatible_runtimes and
    compatible_architectures (comma-separated: Terraform's split(",", …)
    makes the lists). Errors go to stderr with a non-zero exit code, as the
    protocol expects."""
    with errors():
        query = _terraform_query(sys.stdin.read())
        start = Path(query.get("config") or query.get("project_dir") or ".")
        config = start if start.is_file() else None
        project = load(config.parent if config else start)
        if config is not None and project.config_file != config.resolve():
            raise ConfigError([f"config: {config} is not the config found for {config.parent}"])
        name = query.get("function") or query["layer"]
        if query.get("layer") and name not in project.layers:
            known = ", ".join(sorted(project.layers)) or "(none)"
            raise ConfigError([f"terraform query: no layer artifact {name!r}; layer artifacts: {known}"])
        if query.get("function") and name not in project.functions:
            known = ", ".join(sorted(project.functions))
            raise ConfigError([f"terraform query: no function {name!r}; functions: {known}"])
        artifact = next(a for a in run(project, [name]).artifacts if a.name == name)
        result = {
            "path": os.path.relpath(artifact.path, Path.cwd()),
            "absolute_path": str(artifact.path),
            "code_sha256": artifact.code_sha256,
            "sha256": artifact.sha256,
            "size": str(artifact.size),
        }
        if artifact.is_layer:
            result["compatible_runtimes"] = ",".join(artifact.compatible_runtimes)
            result["compatible_architectures"] = ",".join(artifact.compatible_architectures)
        else:
            result["runtime"] = artifact.runtime
            result["architecture"] = artifact.architecture
            result["handler"] = artifact.handler
            result["layers"] = ",".join(artifact.layers)
        click.echo(json.dumps(result, sort_keys=True))


def _terraform_query(text: str) -> dict[str, str]:
    try:
        query = json.loads(text or "{}")
    except ValueError as exc:
        raise ConfigError([f"terraform query: not JSON ({exc})"]) from None
    if not isinstance(query, dict) or not all(isinstance(v, str) for v in query.values()):
        raise ConfigError(["terraform query: must be a JSON object of strings"])
    known = ("function", "layer", "project_dir", "config")
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise ConfigError(
            [f"terraform query: unknown key {k!r} (known: {', '.join(known)})" for k in unknown]
        )
    if bool(query.get("function")) == bool(query.get("layer")):
        raise ConfigError(["terraform query: give 'function' or 'layer' (one of them)"])
    return dict(query)


@click.command("hash")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--hex", "as_hex", is_flag=True, help="Print the hex digest instead (sha256sum).")
def hash_(files: Sequence[Path], as_hex: bool) -> None:
    """Print the base64 SHA-256 of FILES (Lambda's CodeSha256, filebase64sha256)."""
    with errors():
        for path in files:
            try:
                digest = file_sha256(path)
            except OSError as exc:
                raise ConfigError([f"{path}: {exc.strerror}"]) from None
            text = digest.hex() if as_hex else b64(digest)
            click.echo(text if len(files) == 1 else f"{text}  {path}")


COMMANDS = [terraform, hash_]
