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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdapack import ecosystem
from lambdapack.errors import ConfigError
from lambdapack.runtimes import ARCHITECTURES, RUNTIMES, Target, target

if TYPE_CHECKING:
    from lambdapack.ecosystem import Bundling, Dependencies
    from lambdapack.remote import RemoteSettings

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
    "bytecode",
    "bytecode_interpreter",
    "slim",
    "sbom",
)
_TOP_KEYS = (*_SHARED_KEYS, "output", "functions", "layers", "cache")
_FUNCTION_KEYS = ("source", "handler", "layers", "layer_overrides", *_SHARED_KEYS)
#: Keys of ``[layers.NAME]`` (with its language's keys, e.g. ``requirements``).
_LAYER_KEYS = (
    "source",
    "runtimes",
    "architecture",
    "architectures",
    *(k for k in _SHARED_KEYS if k not in ("runtime", "architecture")),
)
#: The values of ``sdists``: which packages without a loading binary are built from source, and where.
SDIST_POLICIES = ("never", "pure", "container")
DEFAULT_SDISTS = "pure"
#: What ``bytecode`` asks for: nothing, ``.pyc`` beside every ``.py`` (true), or
#: dependencies as sourceless ``.pyc`` ("only"); docs/bytecode.md.
BYTECODE_MODES = ("none", "pyc", "only")
#: Lambda's limit of layers per function.
MAX_LAYERS = 5
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
    #: The own code's directory (None: a layer of dependencies only).
    source: Path | None
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
    #: Target bytecode: "none", "pyc" (``bytecode = true``) or "only" (one of BYTECODE_MODES).
    bytecode: str = "none"
    #: An interpreter of the target's Python to compile with when none is found otherwise.
    bytecode_interpreter: Path | None = None
    #: What is removed from the installed dependencies (lambdapack.slim.OPTIONS).
    slim: tuple[str, ...] = ()
    #: Whether a CycloneDX SBOM is written beside the zip (lambdapack.sbom, docs/sbom.md).
    sbom: bool = False
    #: Set for a layer's artifact: which layer it is and what it serves (None: a function).
    layer: LayerRole | None = None
    #: The layer artifacts a function uses (their names), in the order Lambda stacks them.
    layers: tuple[str, ...] = ()
    #: Distributions the function ships in its own version although a layer has another.
    layer_overrides: tuple[str, ...] = ()
    #: How the function's code is bundled, as its language reads it (None: its files ship as they are).
    bundle: Bundling | None = None

    @property
    def kind(self) -> str:
        return "layer" if self.layer is not None else "function"


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerRole:
    """What makes a build unit a layer's artifact: the ``[layers.NAME]`` it
    comes from and the runtimes and architectures it is compatible with."""

    name: str
    runtimes: tuple[str, ...]
    architectures: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Project:
    """A project: its root, where outputs go, its functions and its layers'
    artifacts by name."""

    root: Path
    output: Path
    config_file: Path | None = None
    functions: Mapping[str, FunctionSpec] = field(default_factory=dict)
    #: Every layer artifact by its name (a layer serving several Python versions has one each).
    layers: Mapping[str, FunctionSpec] = field(default_factory=dict)
    #: The ``[cache]`` table's remote cache (the environment and command line may override it).
    remote_cache: RemoteSettings | None = None

    def select(self, names: Sequence[str]) -> tuple[FunctionSpec, ...]:
        """The named functions (all when ``names`` is empty), in name order."""
        return tuple(s for s in self.select_units(names) if s.layer is None)

    def select_units(self, names: Sequence[str]) -> tuple[FunctionSpec, ...]:
        """What ``build NAMES`` builds: the named functions and layers (a layer's
        name means all its artifacts) and the layers they use; everything when
        ``names`` is empty. Layers first, then functions, each in name order."""
        if not names:
            return (*(self.layers[n] for n in sorted(self.layers)), *self._functions(self.functions))
        by_layer: dict[str, list[str]] = {}
        for artifact, spec in self.layers.items():
            assert spec.layer is not None
            by_layer.setdefault(spec.layer.name, []).append(artifact)
        known = {*self.functions, *self.layers, *by_layer}
        unknown = [n for n in names if n not in known]
        if unknown:
            listed = ", ".join(sorted(self.functions)) or "(none)"
            layers = f"; layers: {', '.join(sorted(by_layer))}" if by_layer else ""
            raise ConfigError(
                [
                    f"unknown function {n!r}{_suggest(n, known)}; "
                    f"functions in {self._where()}: {listed}{layers}"
                    for n in unknown
                ]
            )
        functions = {n: self.functions[n] for n in names if n in self.functions}
        wanted = {a for n in names for a in (by_layer.get(n, [n] if n in self.layers else []))}
        wanted.update(a for spec in functions.values() for a in spec.layers)
        return (*(self.layers[n] for n in sorted(wanted)), *self._functions(functions))

    @staticmethod
    def _functions(functions: Mapping[str, FunctionSpec]) -> tuple[FunctionSpec, ...]:
        return tuple(functions[n] for n in sorted(functions))

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
    #: ``--sbom``: every function and layer gets its SBOM, whatever the file says.
    sbom: bool = False


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
        **_options(reader, table, "", {}),
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
    layers = _layers(table, defaults, reader, specs)
    functions = {name: _with_layers(spec, layers, reader) for name, spec in specs.items()}
    remote_cache = _remote_cache(reader, table.get("cache"))
    reader.raise_if_any()
    return Project(
        root=root,
        output=(root / output_value).resolve(),
        config_file=config_file,
        functions=functions,
        layers={artifact: spec for variants in layers.values() for artifact, spec in variants.items()},
        remote_cache=remote_cache,
    )


def _remote_cache(reader: KeyReader, table: object) -> RemoteSettings | None:
    """The ``[cache]`` table (docs/remote-cache.md): where the remote cache is, and how it is used."""
    if table is None:
        return None
    if not isinstance(table, dict):
        reader.add("cache", "must be a table ([cache])")
        return None
    from lambdapack import remote  # (only for projects that set it: a no-op stays light)

    reader.unknown_keys(table, remote.KEYS, "cache")
    url = reader.string(table, "remote", "cache")
    if url is not None and (problem := remote.url_problem(url)) is not None:
        reader.add("cache.remote", problem)
    mode = reader.string(table, "mode", "cache") or remote.DEFAULT_MODE
    if mode not in remote.MODES:
        reader.add("cache.mode", f"{mode!r} is not one of {', '.join(remote.MODES)}")
        mode = remote.DEFAULT_MODE
    timeout = table.get("timeout", remote.DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        reader.add("cache.timeout", f"must be a number of seconds between 0 and 600, not {timeout!r}")
        timeout = remote.DEFAULT_TIMEOUT
    return remote.RemoteSettings(
        url=url,
        mode=mode,
        endpoint_url=reader.string(table, "endpoint_url", "cache"),
        region=reader.string(table, "region", "cache"),
        timeout=float(timeout),
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
    layers: Sequence[str] = (),
    options: Mapping[str, object] | None = None,
) -> Project:
    """A project of one function described without a config file (``layers``:
    the names of layer artifacts built beforehand, given to :func:`run`;
    ``options``: more keys of the function's table, checked as in a config file)."""
    root = root.resolve()
    named = ("source", "handler", "runtime", "architecture", "exclude", "include", "requirements")
    given = [key for key in options or {} if key in (*named, "sdists", "build_image", "layers")]
    if given:
        raise ConfigError([f"options: give {', '.join(given)} as its own argument"])
    raw: dict[str, Any] = {
        **(options or {}),
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
    if layers:
        raw["layers"] = list(layers)
    fn_name = name or (root / source).resolve().name
    reader = KeyReader(
        "", "", root=root, overrides=Overrides(index=index or IndexOptions()), command_line=True
    )
    if not _NAME_RE.match(fn_name):
        reader.add("name", f"{fn_name!r} is not a valid function name; use letters, digits, '.', '_' or '-'")
    if len(layers) > MAX_LAYERS:
        reader.add("layers", f"{len(layers)} layers; Lambda allows at most {MAX_LAYERS} per function")
    spec = _function(fn_name, raw, {}, {}, reader, single=True)
    reader.raise_if_any()
    assert spec is not None
    return Project(
        root=root,
        output=(root / (output or DEFAULT_OUTPUT)).resolve(),
        functions={spec.name: spec},
    )


def single_layer(
    root: Path,
    *,
    runtimes: Sequence[str],
    architecture: str,
    source: str | Path | None = None,
    requirements: str | Path | None = None,
    name: str | None = None,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    output: str | Path | None = None,
    index: IndexOptions | None = None,
    sdists: str | None = None,
    build_image: str | None = None,
    sbom: bool = False,
) -> Project:
    """A project of one layer described without a config file: one artifact,
    ``<name>.zip``, for ``runtimes`` (one Python version, or Node.js runtimes)
    on ``architecture``. ``name`` defaults to the directory of ``source``,
    else of ``requirements``; ``sbom`` writes its SBOM beside it."""
    root = root.resolve()
    reader = KeyReader(
        "", "", root=root, overrides=Overrides(index=index or IndexOptions()), command_line=True
    )
    if isinstance(runtimes, str):  # one runtime given as a string, not its characters
        runtimes = [runtimes]
    raw: dict[str, Any] = {
        "runtimes": list(runtimes),
        "architecture": architecture,
        "exclude": list(exclude),
        "include": list(include),
    }
    for key, value in (
        ("source", source),
        ("requirements", requirements),
        ("sdists", sdists),
        ("build_image", build_image),
    ):
        if value is not None:
            raw[key] = str(value)
    if sbom:
        raw["sbom"] = True
    if name:
        layer_name = name
    elif source is not None:
        layer_name = (root / source).resolve().name
    elif requirements is not None:  # layers/common/requirements.txt: "common"
        layer_name = (root / requirements).resolve().parent.name
    else:
        raise ConfigError(["--source: give source (the layer's own code), requirements, or both"])
    if not _NAME_RE.match(layer_name) or len(layer_name) > MAX_NAME:
        reader.add(
            "name",
            f"{layer_name!r} is not a valid layer name; use letters, digits, '.', '_' or '-' "
            f"(at most {MAX_NAME})",
        )
        reader.raise_if_any()
    known = [r for r in runtimes if r in RUNTIMES]
    if len(known) > 1 and all(RUNTIMES[r].language == "python" for r in known):
        reader.add(
            "runtimes",
            f"{', '.join(known)}: a Python layer's zip serves one Python version (its wheels "
            "differ); build one layer per runtime, named apart",
        )
    variants = _layer(layer_name, raw, {}, {}, reader)
    reader.raise_if_any()
    ((_, spec),) = variants.items()
    return Project(
        root=root,
        output=(root / (output or DEFAULT_OUTPUT)).resolve(),
        layers={spec.name: spec},
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

    options = _options(reader, raw, key, defaults, language=language)
    layers = reader.strings(raw, "layers", key, "layer names")
    layer_overrides = reader.strings(raw, "layer_overrides", key, "distribution names")
    dependencies = None
    bundle = None
    if language is not None:  # every key is read, so every problem is reported at once
        dependencies = ecosystem.config(language).read_config(reader, raw, top, key, source)
        bundle = ecosystem.config(language).read_bundle(reader, raw, top, key, source, handler)
    if reader.count != count or source is None or not handler or not runtime or not architecture:
        return None
    return FunctionSpec(
        name=name,
        source=source,
        handler=handler,
        target=target(runtime, architecture),
        dependencies=dependencies,
        bundle=bundle,
        layers=layers,
        layer_overrides=layer_overrides,
        **options,
    )


def _options(
    reader: KeyReader,
    raw: Mapping[str, object],
    key: str,
    defaults: Mapping[str, Any],
    *,
    language: str | None = None,
) -> dict[str, Any]:
    """The keys functions and layers share (patterns, source builds,
    bytecode, slimming, SBOM), over the top-level ``defaults``."""
    network = reader.flag(raw, "container_network", key)
    interpreter = reader.string(raw, "bytecode_interpreter", key)
    bytecode = _bytecode(reader, raw, key)
    if bytecode is None:
        bytecode = defaults.get("bytecode") or "none"
    elif bytecode != "none" and language is not None and language != "python":
        reader.add(join(key, "bytecode"), "only Python functions and layers are compiled to bytecode")
    slim = _slim(reader, raw, key)
    sbom = reader.flag(raw, "sbom", key)
    return {
        "exclude": (*defaults.get("exclude", ()), *reader.strings(raw, "exclude", key)),
        "include": (*defaults.get("include", ()), *reader.strings(raw, "include", key)),
        "dependency_exclude": (
            *defaults.get("dependency_exclude", ()),
            *reader.strings(raw, "dependency_exclude", key),
        ),
        "sdists": _sdists(reader, raw, key) or defaults.get("sdists") or DEFAULT_SDISTS,
        "build_image": reader.string(raw, "build_image", key) or defaults.get("build_image") or None,
        "container_network": bool(defaults.get("container_network") if network is None else network),
        "bytecode": bytecode,
        "bytecode_interpreter": (
            (reader.root / interpreter).resolve() if interpreter else defaults.get("bytecode_interpreter")
        ),
        "slim": defaults.get("slim", ()) if slim is None else slim,
        "sbom": reader.overrides.sbom or bool(defaults.get("sbom") if sbom is None else sbom),
    }


def _bytecode(reader: KeyReader, table: Mapping[str, object], key: str) -> str | None:
    """``bytecode = true | false | "only"`` as one of BYTECODE_MODES (None: not set)."""
    value = table.get("bytecode")
    if value is None:
        return None
    if value is True or value is False:
        return "pyc" if value else "none"
    if value == "only":
        return "only"
    reader.add(join(key, "bytecode"), f'must be true, false or "only", not {value!r}')
    return None


def _slim(reader: KeyReader, table: Mapping[str, object], key: str) -> tuple[str, ...] | None:
    if table.get("slim") is None:
        return None
    from lambdapack.slim import OPTIONS

    values = reader.strings(table, "slim", key, "slimming options")
    unknown = [v for v in values if v not in OPTIONS]
    for value in unknown:
        choices = ", ".join(f'"{o}"' for o in OPTIONS)
        reader.add(
            join(key, "slim"),
            f"{value!r} is not a slimming option{_suggest(value, OPTIONS)}; options: {choices}",
        )
    return tuple(sorted(set(values), key=OPTIONS.index)) if not unknown else None


def _layers(
    table: Mapping[str, object],
    defaults: Mapping[str, Any],
    reader: KeyReader,
    functions: Mapping[str, FunctionSpec],
) -> dict[str, dict[str, FunctionSpec]]:
    """Every ``[layers.NAME]``: its artifacts by name (one per Python version
    and architecture it serves; one per architecture for Node.js)."""
    layers_table = table.get("layers", {})
    if not isinstance(layers_table, dict):
        reader.add("layers", "must be a table of layers ([layers.NAME])")
        return {}
    found: dict[str, dict[str, FunctionSpec]] = {}
    for name, raw in layers_table.items():
        variants = _layer(name, raw, table, defaults, reader)
        for artifact in variants:
            if artifact in functions:
                reader.add(
                    f"layers.{name}", f"{artifact}.zip would also be function {artifact!r}'s zip; rename one"
                )
        found[name] = variants
    return found


def _layer(
    name: str,
    raw: object,
    top: Mapping[str, object],
    defaults: Mapping[str, Any],
    reader: KeyReader,
) -> dict[str, FunctionSpec]:
    key = f"layers.{name}"
    if not _NAME_RE.match(name) or len(name) > MAX_NAME:
        reader.add(key, f"layer names may hold only letters, digits, '.', '_' and '-' (at most {MAX_NAME})")
    if not isinstance(raw, dict):
        reader.add(key, "must be a table")
        return {}
    count = reader.count
    overrides = reader.overrides
    runtimes = reader.strings(raw, "runtimes", key, "runtime names")
    if overrides.runtime:
        runtimes = (overrides.runtime,)
    elif not runtimes and isinstance(defaults.get("runtime"), str):
        runtimes = (defaults["runtime"],)
    if not runtimes:
        reader.add(join(key, "runtimes"), f"missing; list the runtimes it serves ({_supported(RUNTIMES)})")
    for runtime in runtimes:
        if runtime not in RUNTIMES:
            reader.add(join(key, "runtimes"), _not_supported("runtime", runtime, RUNTIMES))
    known = [r for r in runtimes if r in RUNTIMES]
    languages = sorted({RUNTIMES[r].language for r in known})
    if len(languages) > 1:
        reader.add(
            join(key, "runtimes"), f"mixes languages ({', '.join(languages)}); make one layer per language"
        )
    language = languages[0] if len(languages) == 1 else None
    architectures = _layer_architectures(raw, key, defaults, reader)
    language_keys = _keys_of(language)[1] if language else ()
    if language:
        function_only = ecosystem.config(language).function_only_keys
        for name in (k for k in raw if k in function_only):
            reader.add(
                join(key, name),
                "a key of functions only: a layer is not bundled (its files ship as they are)",
            )
        raw = {k: v for k, v in raw.items() if k not in function_only}
        language_keys = tuple(k for k in language_keys if k not in function_only)
    reader.unknown_keys(raw, (*_LAYER_KEYS, *language_keys), key)
    source: Path | None = None
    source_value = reader.string(raw, "source", key)
    if source_value:
        source = (reader.root / source_value).resolve()
        if not source.is_dir():
            reader.add(join(key, "source"), f"directory {source_value!r} does not exist")
            source = None
    options = _options(reader, raw, key, defaults, language=language)
    dependencies = None
    if language is not None:
        dependencies = ecosystem.config(language).read_config(reader, raw, top, key, source)
        if dependencies is None and source is None and source_value is None and reader.count == count:
            reader.add(
                key, "has neither dependencies nor source; give requirements (or package_json) or source"
            )
    if reader.count != count or language is None or not architectures:
        return {}
    # One artifact per Python version (its wheels differ) or per Node.js layer (one
    # node_modules serves every Node.js version), and per architecture.
    groups = [(r,) for r in known] if language == "python" else [tuple(known)]
    variants: dict[str, FunctionSpec] = {}
    for group in groups:
        for architecture in architectures:
            parts = [name]
            if len(groups) > 1:
                parts.append(group[0])
            if len(architectures) > 1:
                parts.append(architecture)
            artifact = "-".join(parts)
            variants[artifact] = FunctionSpec(
                name=artifact,
                source=source,
                handler="",
                target=target(group[0], architecture),
                dependencies=dependencies,
                layer=LayerRole(name=name, runtimes=group, architectures=(architecture,)),
                **options,
            )
    return variants


def _layer_architectures(
    raw: Mapping[str, object], key: str, defaults: Mapping[str, Any], reader: KeyReader
) -> tuple[str, ...]:
    if reader.overrides.architecture:
        return (reader.overrides.architecture,)
    if raw.get("architecture") is not None and raw.get("architectures") is not None:
        reader.add(join(key, "architectures"), "give architecture or architectures, not both")
        return ()
    one = reader.string(raw, "architecture", key)
    values = (one,) if one else reader.strings(raw, "architectures", key, "architecture names")
    if not values and isinstance(defaults.get("architecture"), str):
        values = (defaults["architecture"],)
    if not values:
        reader.add(
            join(key, "architecture"),
            f"missing; set it here or at the top level ({_supported(ARCHITECTURES)})",
        )
        return ()
    bad = [v for v in values if v not in ARCHITECTURES]
    for value in bad:
        reader.add(join(key, "architecture"), _not_supported("architecture", value, ARCHITECTURES))
    return () if bad else tuple(dict.fromkeys(values))


def _with_layers(
    spec: FunctionSpec, layers: Mapping[str, Mapping[str, FunctionSpec]], reader: KeyReader
) -> FunctionSpec:
    """The function with its ``layers`` named by the artifacts that serve its target."""
    if not spec.layers:
        return spec
    key = join(f"functions.{spec.name}", "layers")
    if len(spec.layers) > MAX_LAYERS:
        reader.add(key, f"{len(spec.layers)} layers; Lambda allows at most {MAX_LAYERS} per function")
    artifacts: list[str] = []
    for name in spec.layers:
        variants = layers.get(name)
        if variants is None:
            known = ", ".join(sorted(layers)) or "(none: add a [layers.NAME] table)"
            reader.add(key, f"unknown layer {name!r}{_suggest(name, layers)}; layers: {known}")
            continue
        serving = [
            artifact
            for artifact, layer in variants.items()
            if layer.layer is not None
            and spec.target.runtime.name in layer.layer.runtimes
            and spec.target.architecture.name in layer.layer.architectures
        ]
        if not serving:
            if variants:  # (a layer with problems has none, and they were reported)
                served = sorted(
                    {
                        f"{r} {a}"
                        for v in variants.values()
                        if v.layer
                        for r in v.layer.runtimes
                        for a in v.layer.architectures
                    }
                )
                reader.add(
                    key,
                    f"layer {name!r} does not serve {spec.target.describe()} "
                    f"(it serves {', '.join(served)}); add them to layers.{name}.runtimes / architecture",
                )
            continue
        artifacts.append(serving[0])
    if len(set(spec.layers)) != len(spec.layers):
        reader.add(key, "lists a layer twice")
    return replace(spec, layers=tuple(artifacts))


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
