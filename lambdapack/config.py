"""Read ``lambdapack.toml`` (or ``[tool.lambdapack]`` in ``pyproject.toml``)
into frozen objects.

Every problem is collected and reported at once, each naming the file and the
dotted key. Paths in the config are relative to the project root (the
directory holding the config file). The keys every function has are read
here; the keys of a language (Python's ``requirements``, ``index_url`` …) are
read by its ecosystem (lambdapack.ecosystem) through a :class:`KeyReader`.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdapack import ecosystem
from lambdapack.errors import ConfigError
from lambdapack.runtimes import ARCHITECTURES, RUNTIMES, Target, target

if TYPE_CHECKING:
    from lambdapack.ecosystem import Dependencies

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]  # only on 3.10

CONFIG_FILE = "lambdapack.toml"
PYPROJECT_FILE = "pyproject.toml"
DEFAULT_OUTPUT = "dist"

#: Keys of every project (defaults for its functions) and of every function.
_SHARED_KEYS = (
    "runtime",
    "architecture",
    "exclude",
    "include",
    "dependency_exclude",
    "sdists",
    "build_image",
    "container_network",
)
_TOP_KEYS = (*_SHARED_KEYS, "output", "functions")
_FUNCTION_KEYS = ("source", "handler", *_SHARED_KEYS)
#: The values of ``sdists``: which packages without a loading binary are built from source, and where.
SDIST_POLICIES = ("never", "pure", "container")
DEFAULT_SDISTS = "pure"
#: The longest function name: NAME.zip and its temporary file must fit a 255-byte file name.
MAX_NAME = 200
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PATTERNS = "gitignore-style patterns"


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexOptions:
    """Package index options given on the command line or to the API."""

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
    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    #: Patterns of installed dependency files to leave out (relative to the install root).
    dependency_exclude: tuple[str, ...] = ()
    #: What the function depends on, as its language reads it (None: nothing).
    dependencies: Dependencies | None = None
    #: Packages without a binary for the target: "never" built, "pure" ones built on this
    #: machine, or every one built in a container of ``build_image`` (docs/containers.md).
    sdists: str = DEFAULT_SDISTS
    #: The container image source builds run in (None: the runtime's default build image).
    build_image: str | None = None
    #: Whether source builds in a container may reach the network (default: they get their inputs).
    container_network: bool = False


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


class KeyReader:
    """Typed getters over config tables that collect problems with their
    file and dotted key (or command-line option)."""

    def __init__(
        self,
        file_name: str,
        prefix: str,
        *,
        root: Path,
        overrides: Overrides | None = None,
        command_line: bool = False,
    ) -> None:
        self.root = root
        self.overrides = overrides or Overrides()
        self._file = file_name
        self._prefix = prefix
        self._command_line = command_line
        self._items: list[str] = []

    @property
    def count(self) -> int:
        return len(self._items)

    def add(self, key: str, message: str) -> None:
        if self._command_line:
            where = f"--{key.rsplit('.', 1)[-1].replace('_', '-')}" if key else "command line"
            self._items.append(f"{where}: {message}")
            return
        dotted = join(self._prefix, key)
        self._items.append(f"{self._file}: {dotted}: {message}" if dotted else f"{self._file}: {message}")

    def unknown_keys(self, table: Mapping[str, object], known: Sequence[str], key: str) -> None:
        for name in table:
            if name not in known:
                self.add(join(key, name), f"unknown key{_suggest(name, known)}")

    def raise_if_any(self) -> None:
        if self._items:
            raise ConfigError(self._items)

    def string(self, table: Mapping[str, object], name: str, key: str) -> str | None:
        """A non-empty string, or None (absent, or wrong and reported)."""
        value = table.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.add(join(key, name), f"must be a non-empty string, not {value!r}")
            return None
        return value

    def required(self, table: Mapping[str, object], name: str, key: str, hint: str) -> str | None:
        """A non-empty string that must be given: "missing" only when absent."""
        if table.get(name) is None:
            self.add(join(key, name), f"missing; {hint}")
            return None
        return self.string(table, name, key)

    def strings(
        self, table: Mapping[str, object], name: str, key: str, what: str = _PATTERNS
    ) -> tuple[str, ...]:
        """A list of strings (``what`` says what they are, for the message)."""
        value = table.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(join(key, name), f"must be a list of {what} (strings), not {value!r}")
            return ()
        return tuple(value)

    def flag(self, table: Mapping[str, object], name: str, key: str) -> bool | None:
        value = table.get(name)
        if value is None or isinstance(value, bool):
            return value
        self.add(join(key, name), f"must be true or false, not {value!r}")
        return None


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
    reader = KeyReader(config_file.name, prefix, root=root, overrides=overrides)

    language_keys = [k for lang in ecosystem.languages() for k in _keys_of(lang)[0]]
    reader.unknown_keys(table, (*_TOP_KEYS, *language_keys), "")
    for key, known in (("runtime", RUNTIMES), ("architecture", ARCHITECTURES)):
        value = table.get(key)
        if isinstance(value, str) and value not in known and getattr(overrides, key) is None:
            reader.add(key, _not_supported(key, value, known))
    defaults = {
        "runtime": reader.string(table, "runtime", ""),
        "architecture": reader.string(table, "architecture", ""),
        "exclude": reader.strings(table, "exclude", ""),
        "include": reader.strings(table, "include", ""),
        "dependency_exclude": reader.strings(table, "dependency_exclude", ""),
        "sdists": _sdists(reader, table, ""),
        "build_image": reader.string(table, "build_image", ""),
        "container_network": reader.flag(table, "container_network", ""),
    }
    for language in ecosystem.languages():  # the top-level language keys, checked once
        ecosystem.config(language).check_defaults(reader, table)
    output_value = overrides.output or reader.string(table, "output", "") or DEFAULT_OUTPUT
    functions_table = table.get("functions", {})
    specs: dict[str, FunctionSpec] = {}
    if not isinstance(functions_table, dict):
        reader.add("functions", "must be a table of functions ([functions.NAME])")
    elif not functions_table:
        reader.add("functions", "no functions defined; add a [functions.NAME] table")
    else:
        for name, raw in functions_table.items():
            spec = _function(name, raw, table, defaults, reader)
            if spec is not None:
                specs[name] = spec
    reader.raise_if_any()
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
    index: IndexOptions | None = None,
    sdists: str | None = None,
    build_image: str | None = None,
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
    if sdists is not None:
        raw["sdists"] = sdists
    if build_image is not None:
        raw["build_image"] = build_image
    fn_name = name or (root / source).resolve().name
    reader = KeyReader(
        "", "", root=root, overrides=Overrides(index=index or IndexOptions()), command_line=True
    )
    if not _NAME_RE.match(fn_name):
        reader.add("name", f"{fn_name!r} is not a valid function name; use letters, digits, '.', '_' or '-'")
    spec = _function(fn_name, raw, {}, {}, reader, single=True)
    reader.raise_if_any()
    assert spec is not None
    return Project(
        root=root,
        output=(root / (output or DEFAULT_OUTPUT)).resolve(),
        functions={spec.name: spec},
    )


def _keys_of(language: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    made = ecosystem.config(language)
    return made.project_keys, made.function_keys


def _function(
    name: str,
    raw: object,
    top: Mapping[str, object],
    defaults: Mapping[str, Any],
    reader: KeyReader,
    *,
    single: bool = False,
) -> FunctionSpec | None:
    key = "" if single else f"functions.{name}"
    if not single and not _NAME_RE.match(name):
        reader.add(key, "function names may hold only letters, digits, '.', '_' and '-'")
    if len(name) > MAX_NAME:
        reader.add(
            key or "name", f"function names may be at most {MAX_NAME} characters (the zip is NAME.zip)"
        )
    if not isinstance(raw, dict):
        reader.add(key, "must be a table")
        return None
    count = reader.count
    overrides = reader.overrides
    runtime = _choice(raw, "runtime", key, RUNTIMES, overrides.runtime, defaults, reader)
    architecture = _choice(raw, "architecture", key, ARCHITECTURES, overrides.architecture, defaults, reader)
    language = RUNTIMES[runtime].language if runtime else None
    language_keys = (
        _keys_of(language)[1]
        if language
        else tuple(k for lang in ecosystem.languages() for k in _keys_of(lang)[1])
    )
    if language and runtime:  # another language's key: say so rather than "unknown"
        for other in (lang for lang in ecosystem.languages() if lang != language):
            foreign = [k for k in raw if k in _keys_of(other)[1] and k not in language_keys]
            for name in foreign:
                message = f"a key of {other.capitalize()} functions; this function's runtime is {runtime}"
                reader.add(join(key, name), message)
            raw = {k: v for k, v in raw.items() if k not in foreign}
    reader.unknown_keys(raw, (*_FUNCTION_KEYS, *language_keys), key)

    source: Path | None = None
    source_value = reader.required(
        raw, "source", key, "the function's code directory, relative to the project root"
    )
    if source_value:
        source = (reader.root / source_value).resolve()
        if not source.is_dir():
            reader.add(join(key, "source"), f"directory {source_value!r} does not exist")
            source = None

    handler = reader.required(raw, "handler", key, 'e.g. handler = "app.lambda_handler"')
    problem = None
    if handler:  # by the language's rules; without a known runtime, valid in no language is a problem
        checked = [language] if language else list(ecosystem.languages())
        problems = [ecosystem.config(lang).handler_problem(handler) for lang in checked]
        problem = problems[0] if all(problems) else None
    if problem:
        reader.add(join(key, "handler"), problem)
        handler = None

    exclude = (*defaults.get("exclude", ()), *reader.strings(raw, "exclude", key))
    include = (*defaults.get("include", ()), *reader.strings(raw, "include", key))
    dependency_exclude = (
        *defaults.get("dependency_exclude", ()),
        *reader.strings(raw, "dependency_exclude", key),
    )
    sdists = _sdists(reader, raw, key) or defaults.get("sdists") or DEFAULT_SDISTS
    build_image = reader.string(raw, "build_image", key) or defaults.get("build_image") or None
    network = reader.flag(raw, "container_network", key)
    container_network = bool(defaults.get("container_network") if network is None else network)
    dependencies = None
    if language is not None:  # every key is read, so every problem is reported at once
        dependencies = ecosystem.config(language).read_config(reader, raw, top, key, source)
    if reader.count != count or source is None or not handler or not runtime or not architecture:
        return None
    return FunctionSpec(
        name=name,
        source=source,
        handler=handler,
        target=target(runtime, architecture),
        exclude=exclude,
        include=include,
        dependency_exclude=dependency_exclude,
        dependencies=dependencies,
        sdists=sdists,
        build_image=build_image,
        container_network=container_network,
    )


def _sdists(reader: KeyReader, table: Mapping[str, object], key: str) -> str | None:
    value = reader.string(table, "sdists", key)
    if value is not None and value not in SDIST_POLICIES:
        choices = ", ".join(f'"{p}"' for p in SDIST_POLICIES)
        reader.add(join(key, "sdists"), f"{value!r} is not one of {choices}")
        return None
    return value


def _choice(
    raw: Mapping[str, object],
    name: str,
    key: str,
    known: Mapping[str, object],
    override: str | None,
    defaults: Mapping[str, Any],
    reader: KeyReader,
) -> str | None:
    """A runtime or architecture: the override, else the function's own, else
    the top-level default (whose errors were reported once, at the top level)."""
    if override is None and raw.get(name) is not None and not isinstance(raw.get(name), str):
        reader.string(raw, name, key)  # reports the type
        return None
    own = reader.string(raw, name, key) if override is None else None
    value = override or own or defaults.get(name)
    if not value:
        reader.add(join(key, name), f"missing; set it here or at the top level ({_supported(known)})")
        return None
    if value not in known:
        if override or own:
            reader.add(join(key, name), _not_supported(name, value, known))
        return None
    return str(value)


def _not_supported(name: str, value: str, known: Mapping[str, object]) -> str:
    return f"{value!r} is not a supported {name}; supported: {', '.join(known)}"


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
    """Whether ``pyproject`` holds ``[tool.lambdapack]``; a file that means to
    (the table's name is in it) but is not valid TOML is an error, never a
    reason to use a parent directory's project instead."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        if re.search(r"^\s*\[\s*tool\s*\.\s*lambdapack\b|tool\s*\.\s*lambdapack\s*=", text, re.M):
            raise ConfigError([f"{pyproject}: not valid TOML: {exc}"]) from None
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and "lambdapack" in tool


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's table (for the ecosystems' inputs); raises OSError or ValueError."""
    data: dict[str, Any] = tomllib.loads(path.read_text("utf-8"))
    return data


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _supported(table: Mapping[str, object]) -> str:
    return "one of " + ", ".join(table)


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix and key else prefix or key
