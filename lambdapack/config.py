"""Read ``lambdapack.toml`` (or ``[tool.lambdapack]`` in ``pyproject.toml``)
into frozen objects.

Every problem is collected and reported at once, each naming the file and the
dotted key. Paths in the config are relative to the project root (the
directory holding the config file).
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .python.inputs import Selection, kind_of
from .runtimes import ARCHITECTURES, RUNTIMES, Target, target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]  # only on 3.10

CONFIG_FILE = "lambdapack.toml"
PYPROJECT_FILE = "pyproject.toml"
DEFAULT_OUTPUT = "dist"

_TOP_KEYS = (
    "runtime",
    "architecture",
    "output",
    "exclude",
    "include",
    "dependency_exclude",
    "index_url",
    "extra_index_urls",
    "find_links",
    "exclude_runtime_packages",
    "functions",
)
_FUNCTION_KEYS = (
    "source",
    "handler",
    "requirements",
    "exclude",
    "include",
    "dependency_exclude",
    "runtime",
    "architecture",
    "extras",
    "groups",
    "package",
    "index_url",
    "extra_index_urls",
    "find_links",
    "exclude_runtime_packages",
)

#: Where a function's requirements are looked for when ``requirements`` is not set.
REQUIREMENTS_SEARCH = (
    "requirements.txt",
    "requirements.in",
    "Pipfile.lock",
    "poetry.lock",
    "uv.lock",
    "pyproject.toml",
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HANDLER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexOptions:
    """Where packages come from, besides the user's uv/pip configuration."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()

    def args(self) -> list[str]:
        out = ["--index-url", self.index_url] if self.index_url else []
        out += [a for url in self.extra_index_urls for a in ("--extra-index-url", url)]
        out += [a for link in self.find_links for a in ("--find-links", link)]
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class FunctionSpec:
    """One function to build, fully resolved: absolute paths, known target."""

    name: str
    source: Path
    handler: str
    target: Target
    requirements: Path | None = None
    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    #: Patterns of installed dependency files to leave out (relative to site-packages).
    dependency_exclude: tuple[str, ...] = ()
    selection: Selection = field(default_factory=Selection)
    index: IndexOptions = field(default_factory=IndexOptions)
    #: Leave out packages the Lambda runtime provides (boto3, botocore, ...).
    exclude_runtime_packages: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Project:
    """A project: its root, where outputs go, and its functions by name."""

    root: Path
    output: Path
    config_file: Path | None = None
    functions: Mapping[str, FunctionSpec] = field(default_factory=dict)

    def select(self, names: Sequence[str]) -> tuple[FunctionSpec, ...]:
        """The named functions (all when ``names`` is empty), in name order."""
        if not names:
            return tuple(self.functions[n] for n in sorted(self.functions))
        unknown = [n for n in names if n not in self.functions]
        if unknown:
            known = ", ".join(sorted(self.functions)) or "(none)"
            raise ConfigError(
                [
                    f"unknown function {n!r}{_suggest(n, self.functions)}; "
                    f"functions in {self._where()}: {known}"
                    for n in unknown
                ]
            )
        return tuple(self.functions[n] for n in sorted(set(names)))

    def _where(self) -> str:
        return str(self.config_file) if self.config_file else "the command line"


@dataclass(frozen=True, kw_only=True, slots=True)
class Overrides:
    """Values given on the command line or to the API; they win over the file."""

    runtime: str | None = None
    architecture: str | None = None
    output: str | Path | None = None
    #: Index options from the command line: added to (extra index URLs, find
    #: links) or replacing (index URL) the config's.
    index: IndexOptions = field(default_factory=lambda: IndexOptions())


def find_config(start: Path) -> Path | None:
    """The nearest ``lambdapack.toml``, or ``pyproject.toml`` with a
    ``[tool.lambdapack]`` table, in ``start`` or its parents."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
        pyproject = directory / PYPROJECT_FILE
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def load_project(config_file: Path, overrides: Overrides = Overrides()) -> Project:
    """Parse and validate a config file; raise ConfigError listing every problem."""
    config_file = config_file.resolve()
    table, prefix = _read_table(config_file)
    root = config_file.parent
    problems = _Problems(config_file.name, prefix)

    problems.unknown_keys(table, _TOP_KEYS, "")
    for key, known in (("runtime", RUNTIMES), ("architecture", ARCHITECTURES)):
        value = table.get(key)
        if isinstance(value, str) and value not in known and getattr(overrides, key) is None:
            problems.add(key, _not_supported(key, value, known))
    defaults = {
        "runtime": _string(table, "runtime", "", problems),
        "architecture": _string(table, "architecture", "", problems),
        "exclude": _patterns(table, "exclude", "", problems),
        "index_url": _string(table, "index_url", "", problems),
        "extra_index_urls": _patterns(table, "extra_index_urls", "", problems),
        "find_links": _patterns(table, "find_links", "", problems),
        "exclude_runtime_packages": _flag(table, "exclude_runtime_packages", "", problems),
        "dependency_exclude": _patterns(table, "dependency_exclude", "", problems),
        "include": _patterns(table, "include", "", problems),
    }
    output_value = overrides.output or _string(table, "output", "", problems) or DEFAULT_OUTPUT
    functions_table = table.get("functions", {})
    specs: dict[str, FunctionSpec] = {}
    if not isinstance(functions_table, dict):
        problems.add("functions", "must be a table of functions ([functions.NAME])")
    elif not functions_table:
        problems.add("functions", "no functions defined; add a [functions.NAME] table")
    else:
        for name, raw in functions_table.items():
            spec = _function(root, name, raw, defaults, overrides, problems)
            if spec is not None:
                specs[name] = spec
    problems.raise_if_any()
    return Project(
        root=root,
        output=(root / output_value).resolve(),
        config_file=config_file,
        functions=specs,
    )


def single_function(
    root: Path,
    *,
    source: str | Path,
    handler: str,
    runtime: str,
    architecture: str,
    name: str | None = None,
    requirements: str | Path | None = None,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    output: str | Path | None = None,
) -> Project:
    """A project of one function described without a config file."""
    root = root.resolve()
    raw: dict[str, Any] = {
        "source": str(source),
        "handler": handler,
        "runtime": runtime,
        "architecture": architecture,
        "exclude": list(exclude),
        "include": list(include),
    }
    if requirements is not None:
        raw["requirements"] = str(requirements)
    fn_name = name or (root / source).resolve().name
    problems = _Problems("", "", command_line=True)
    if not _NAME_RE.match(fn_name):
        problems.add(
            "name", f"{fn_name!r} is not a valid function name; use letters, digits, '.', '_' or '-'"
        )
    spec = _function(root, fn_name, raw, {}, Overrides(), problems, single=True)
    problems.raise_if_any()
    assert spec is not None
    return Project(
        root=root,
        output=(root / (output or DEFAULT_OUTPUT)).resolve(),
        functions={spec.name: spec},
    )


def _function(
    root: Path,
    name: str,
    raw: object,
    defaults: Mapping[str, Any],
    overrides: Overrides,
    problems: _Problems,
    *,
    single: bool = False,
) -> FunctionSpec | None:
    key = "" if single else f"functions.{name}"
    if not single and not _NAME_RE.match(name):
        problems.add(key, "function names may hold only letters, digits, '.', '_' and '-'")
    if not isinstance(raw, dict):
        problems.add(key, "must be a table")
        return None
    problems.unknown_keys(raw, _FUNCTION_KEYS, key)
    count = problems.count

    runtime = _choice(raw, "runtime", key, RUNTIMES, overrides.runtime, defaults, problems)
    architecture = _choice(
        raw, "architecture", key, ARCHITECTURES, overrides.architecture, defaults, problems
    )

    source_value = _string(raw, "source", key, problems)
    source: Path | None = None
    if not source_value:
        problems.add(
            _join(key, "source"), "missing; the function's code directory, relative to the project root"
        )
    else:
        source = (root / source_value).resolve()
        if not source.is_dir():
            problems.add(_join(key, "source"), f"directory {source_value!r} does not exist")

    handler = _string(raw, "handler", key, problems)
    if not handler:
        problems.add(_join(key, "handler"), 'missing; e.g. handler = "app.lambda_handler"')
    elif not _HANDLER_RE.match(handler):
        problems.add(
            _join(key, "handler"),
            f"{handler!r} is not MODULE.FUNCTION (e.g. 'app.lambda_handler')",
        )

    requirements: Path | None = None
    disabled = raw.get("requirements") is False
    requirements_value = None if disabled else _string(raw, "requirements", key, problems)
    if requirements_value:
        requirements = (root / requirements_value).resolve()
        if not requirements.is_file():
            problems.add(_join(key, "requirements"), f"file {requirements_value!r} does not exist")
    elif not disabled and source is not None:
        requirements = _default_requirements(source)
    if requirements is not None:
        try:
            kind_of(requirements)
        except ConfigError as exc:
            problems.add(_join(key, "requirements"), str(exc).split(": ", 1)[1])

    exclude = (*defaults.get("exclude", ()), *_patterns(raw, "exclude", key, problems))
    dependency_exclude = (
        *defaults.get("dependency_exclude", ()),
        *_patterns(raw, "dependency_exclude", key, problems),
    )
    include = (*defaults.get("include", ()), *_patterns(raw, "include", key, problems))
    if problems.count != count or source is None or not handler or not runtime or not architecture:
        return None
    find_links = [
        str((root / link).resolve()) if "://" not in link else link
        for link in (*defaults.get("find_links", ()), *_patterns(raw, "find_links", key, problems))
    ]
    own_runtime_flag = _flag(raw, "exclude_runtime_packages", key, problems)
    return FunctionSpec(
        name=name,
        source=source,
        handler=handler,
        target=target(runtime, architecture),
        requirements=requirements,
        exclude=exclude,
        dependency_exclude=dependency_exclude,
        include=include,
        selection=Selection(
            extras=_patterns(raw, "extras", key, problems),
            groups=_patterns(raw, "groups", key, problems),
            package=_string(raw, "package", key, problems),
        ),
        index=IndexOptions(
            index_url=overrides.index.index_url
            or _string(raw, "index_url", key, problems)
            or defaults.get("index_url"),
            extra_index_urls=(
                *defaults.get("extra_index_urls", ()),
                *_patterns(raw, "extra_index_urls", key, problems),
                *overrides.index.extra_index_urls,
            ),
            find_links=(*find_links, *overrides.index.find_links),
        ),
        exclude_runtime_packages=bool(
            defaults.get("exclude_runtime_packages") if own_runtime_flag is None else own_runtime_flag
        ),
    )


def _default_requirements(source: Path) -> Path | None:
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
        data = tomllib.loads(pyproject.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return bool(data.get("project", {}).get("dependencies"))


def _flag(table: Mapping[str, object], name: str, key: str, problems: _Problems) -> bool | None:
    value = table.get(name)
    if value is None or isinstance(value, bool):
        return value
    problems.add(_join(key, name), f"must be true or false, not {value!r}")
    return None


def _choice(
    raw: Mapping[str, object],
    name: str,
    key: str,
    known: Mapping[str, object],
    override: str | None,
    defaults: Mapping[str, Any],
    problems: _Problems,
) -> str | None:
    """A runtime or architecture: the override, else the function's own, else
    the top-level default (whose errors were reported once, at the top level)."""
    own = _string(raw, name, key, problems)
    value = override or own or defaults.get(name)
    if not value:
        problems.add(_join(key, name), f"missing; set it here or at the top level ({_supported(known)})")
        return None
    if value not in known:
        if override or own:
            problems.add(_join(key, name), _not_supported(name, value, known))
        return None
    return str(value)


def _not_supported(name: str, value: str, known: Mapping[str, object]) -> str:
    return f"{value!r} is not a supported {name}; supported: {', '.join(known)}"


class _Problems:
    def __init__(self, file_name: str, prefix: str, *, command_line: bool = False) -> None:
        self._file = file_name
        self._prefix = prefix
        self._command_line = command_line
        self._items: list[str] = []

    @property
    def count(self) -> int:
        return len(self._items)

    def add(self, key: str, message: str) -> None:
        if self._command_line:
            where = f"--{key.replace('_', '-')}" if key else "command line"
            self._items.append(f"{where}: {message}")
            return
        dotted = _join(self._prefix, key)
        self._items.append(f"{self._file}: {dotted}: {message}" if dotted else f"{self._file}: {message}")

    def unknown_keys(self, table: Mapping[str, object], known: Sequence[str], key: str) -> None:
        for name in table:
            if name not in known:
                self.add(_join(key, name), f"unknown key{_suggest(name, known)}")

    def raise_if_any(self) -> None:
        if self._items:
            raise ConfigError(self._items)


def _string(table: Mapping[str, object], name: str, key: str, problems: _Problems) -> str | None:
    value = table.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.add(_join(key, name), f"must be a non-empty string, not {value!r}")
        return None
    return value


def _patterns(table: Mapping[str, object], name: str, key: str, problems: _Problems) -> tuple[str, ...]:
    value = table.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(_join(key, name), "must be a list of gitignore-style patterns (strings)")
        return ()
    return tuple(value)


def _read_table(config_file: Path) -> tuple[dict[str, Any], str]:
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{config_file}: cannot read: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{config_file.name}: not valid TOML: {exc}"]) from None
    if config_file.name == PYPROJECT_FILE:
        table = data.get("tool", {}).get("lambdapack")
        if not isinstance(table, dict):
            raise ConfigError([f"{config_file.name}: no [tool.lambdapack] table"])
        return table, "tool.lambdapack"
    return data, ""


def _has_tool_table(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "lambdapack" in tool


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _supported(table: Mapping[str, object]) -> str:
    return "one of " + ", ".join(table)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix and key else prefix or key
