"""The config keys of Python functions and the dependencies they declare."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack.config import IndexOptions, KeyReader, join, read_toml
from lambdapack.errors import ConfigError
from lambdapack.python.inputs import Selection, kind_of

if TYPE_CHECKING:
    from lambdapack.ecosystem import LanguageConfig

_HANDLER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")

#: Keys allowed at the top level (defaults for every Python function) and per function.
PROJECT_KEYS = ("index_url", "extra_index_urls", "find_links", "exclude_runtime_packages")
FUNCTION_KEYS = ("requirements", "extras", "groups", "package", *PROJECT_KEYS)

#: Where a function's requirements are looked for when ``requirements`` is not set.
REQUIREMENTS_SEARCH = (
    "requirements.txt",
    "requirements.in",
    "Pipfile.lock",
    "poetry.lock",
    "uv.lock",
    "pyproject.toml",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class PythonDependencies:
    """A Python function's requirements input and how to read and install it."""

    input: Path  # requirements*.txt, *.in, pyproject.toml, uv.lock, poetry.lock or Pipfile.lock
    selection: Selection = field(default_factory=Selection)
    index: IndexOptions = field(default_factory=IndexOptions)
    #: Leave out packages the Lambda runtime provides (boto3, botocore, ...).
    exclude_runtime_packages: bool = False


class PythonConfig:
    project_keys: tuple[str, ...] = PROJECT_KEYS
    function_keys: tuple[str, ...] = FUNCTION_KEYS
    function_only_keys: tuple[str, ...] = ()

    def read_bundle(
        self,
        reader: KeyReader,
        raw: Mapping[str, object],
        top: Mapping[str, object],
        key: str,
        source: Path | None,
        handler: str | None,
    ) -> None:
        return None  # a Python function's files ship as they are

    def handler_problem(self, handler: str) -> str | None:
        if _HANDLER_RE.match(handler):
            return None
        return f"{handler!r} is not MODULE.FUNCTION (e.g. 'app.lambda_handler')"

    def check_defaults(self, reader: KeyReader, top: Mapping[str, object]) -> None:
        reader.string(top, "index_url", "")
        reader.strings(top, "extra_index_urls", "", "index URLs")
        reader.strings(top, "find_links", "", "directories or URLs")
        reader.flag(top, "exclude_runtime_packages", "")

    def read_config(
        self,
        reader: KeyReader,
        raw: Mapping[str, object],
        top: Mapping[str, object],
        key: str,
        source: Path | None,
    ) -> PythonDependencies | None:
        requirements = self._requirements(reader, raw, key, source)
        extras = reader.strings(raw, "extras", key, "extra names")
        groups = reader.strings(raw, "groups", key, "dependency group names")
        package = reader.string(raw, "package", key)
        index_url = reader.string(raw, "index_url", key)
        extra_urls = reader.strings(raw, "extra_index_urls", key, "index URLs")
        links = reader.strings(raw, "find_links", key, "directories or URLs")
        own_flag = reader.flag(raw, "exclude_runtime_packages", key)
        if requirements is None:
            return None
        overrides = reader.overrides.index
        find_links = [
            str((reader.root / link).resolve()) if "://" not in link else link
            for link in (*_quiet_strings(top, "find_links"), *links)
        ]
        default_flag = top.get("exclude_runtime_packages")
        return PythonDependencies(
            input=requirements,
            selection=Selection(extras=extras, groups=groups, package=package),
            index=IndexOptions(
                index_url=overrides.index_url or index_url or _quiet_string(top, "index_url"),
                extra_index_urls=(
                    *_quiet_strings(top, "extra_index_urls"),
                    *extra_urls,
                    *overrides.extra_index_urls,
                ),
                find_links=(*find_links, *overrides.find_links),
            ),
            exclude_runtime_packages=bool(default_flag is True if own_flag is None else own_flag),
        )

    def _requirements(
        self, reader: KeyReader, raw: Mapping[str, object], key: str, source: Path | None
    ) -> Path | None:
        if raw.get("requirements") is False:
            return None
        value = reader.string(raw, "requirements", key)
        requirements: Path | None = None
        if value:
            requirements = (reader.root / value).resolve()
            if not requirements.is_file():
                reader.add(join(key, "requirements"), f"file {value!r} does not exist")
                return None
        elif raw.get("requirements") is None and source is not None:
            requirements = default_requirements(source)
        if requirements is not None:
            try:
                kind_of(requirements)
            except ConfigError as exc:
                reader.add(join(key, "requirements"), str(exc).split(": ", 1)[1])
                return None
        return requirements


CONFIG = PythonConfig()

if TYPE_CHECKING:  # the reader matches the seam (checked by mypy)
    _CONFIG: LanguageConfig = CONFIG


def default_requirements(source: Path) -> Path | None:
    for name in REQUIREMENTS_SEARCH:
        candidate = source / name
        if not candidate.is_file():
            continue
        if name == "pyproject.toml" and not _declares_dependencies(candidate):
            continue
        return candidate
    return None


def _declares_dependencies(pyproject: Path) -> bool:
    try:
        data = read_toml(pyproject)
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    project = data.get("project", {})
    return isinstance(project, dict) and bool(project.get("dependencies"))


def _quiet_string(table: Mapping[str, object], name: str) -> str | None:
    """A top-level default (its problems were reported by check_defaults)."""
    value = table.get(name)
    return value if isinstance(value, str) and value else None


def _quiet_strings(table: Mapping[str, object], name: str) -> tuple[str, ...]:
    value = table.get(name)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()
