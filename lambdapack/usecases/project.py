"""Finding and loading a project, shared by every use case."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from lambdapack.config import IndexOptions, Overrides, Project, find_config, load_project
from lambdapack.errors import ConfigError


def project_root(start: str | Path = ".") -> Path:
    """The project ``start`` is in: the nearest directory at or above it holding
    lambdapack's config (``lambdapack.toml``, ``[tool.lambdapack]``), else the
    nearest holding ``cdktf.json``, else ``start`` itself."""
    here = Path(start).resolve()
    config = find_config(here)
    if config is not None:
        return config.parent
    for directory in (here, *here.parents):
        if (directory / "cdktf.json").is_file():
            return directory
    return here


def load(
    project_dir: str | Path = ".",
    *,
    runtime: str | None = None,
    architecture: str | None = None,
    output: str | Path | None = None,
    index: IndexOptions | None = None,
    sbom: bool = False,
) -> Project:
    """Find and load the project config at or above ``project_dir`` (``sbom``:
    every function and layer writes its SBOM, as ``--sbom``)."""
    start = Path(project_dir).resolve()
    config_file = find_config(start)
    if config_file is None:
        raise ConfigError(
            [
                f"no lambdapack.toml (or [tool.lambdapack] in pyproject.toml) in {start} or its parents; "
                "create one, or pass --source/--handler/--runtime/--architecture"
            ]
        )
    overrides = Overrides(
        runtime=runtime, architecture=architecture, output=output, index=index or IndexOptions(), sbom=sbom
    )
    return load_project(config_file, overrides)


def source_date_epoch(environ: Mapping[str, str]) -> int | None:
    value = environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    if not re.fullmatch(r"\d+", value.strip()):
        raise ConfigError([f"SOURCE_DATE_EPOCH: {value!r} is not a whole number of seconds"])
    return int(value.strip())
