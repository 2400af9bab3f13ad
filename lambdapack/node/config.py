"""The config keys of Node.js functions: the dependencies they declare and
how a bundled function is bundled (docs/nodejs.md)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack.config import KeyReader, join

if TYPE_CHECKING:
    from lambdapack.ecosystem import LanguageConfig

#: The bundling keys allowed at the top level too (defaults for every bundled function).
BUNDLE_DEFAULT_KEYS = (
    "bundle",
    "external",
    "node_modules",
    "minify",
    "sourcemap",
    "sources_content",
    "format",
    "bundle_aws_sdk",
    "keep_names",
    "define",
    "loader",
)
#: Keys of bundled functions only (a layer has no entry to bundle).
BUNDLE_KEYS = ("entry", *BUNDLE_DEFAULT_KEYS)
#: Keys allowed at the top level (defaults for every Node.js function) and per function.
PROJECT_KEYS = ("allow_scripts", *BUNDLE_DEFAULT_KEYS)
FUNCTION_KEYS = ("package_json", "entry", *PROJECT_KEYS)
#: The module formats a bundle can have: CommonJS (``FILE.js``) or an ES module (``FILE.mjs``).
FORMATS = ("cjs", "esm")
#: Where the default entry is looked for: the handler's file with these extensions, in this order.
ENTRY_EXTENSIONS = (".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs", ".jsx")
#: esbuild loaders that put a file into the bundle itself (``file`` and ``copy`` would write more files).
LOADERS = ("base64", "binary", "dataurl", "empty", "js", "json", "jsx", "text", "ts", "tsx")
#: An npm package name (``name`` or ``@scope/name``), as ``node_modules`` lists them (the
#: patterns are compiled on first use: every run reads this module, few bundle).
_PACKAGE_RE = r"(?i)^(?:@[a-z0-9][\w.~-]*/)?[a-z0-9][\w.~-]*$"
_EXTENSION_RE = r"^\.[\w.-]+$"


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeDependencies:
    """A Node.js function's ``package.json`` and how to install it."""

    input: Path  # the function's package.json
    #: The project's root: a workspace root holding the lock may lie between it and the function.
    project_root: Path
    #: Packages whose lifecycle scripts may run (scripts that build or fetch nothing).
    allow_scripts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Bundle:
    """How a bundled function (``bundle = true``) is bundled by esbuild."""

    #: The entry point, relative to the function's source directory (POSIX separators).
    entry: str
    format: str  # one of FORMATS
    #: Imports left to the runtime: the user's ``external`` (``@aws-sdk/*`` is added unless
    #: ``bundle_aws_sdk``), and the ``node_modules`` packages (shipped installed).
    external: tuple[str, ...] = ()
    #: Packages shipped installed for the target in ``node_modules/`` (native ones), not bundled.
    node_modules: tuple[str, ...] = ()
    minify: bool = False
    sourcemap: bool = False
    sources_content: bool = False
    bundle_aws_sdk: bool = False
    keep_names: bool = False
    define: tuple[tuple[str, str], ...] = ()
    loader: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "entry": self.entry,
            "format": self.format,
            "external": list(self.external),
            "node_modules": list(self.node_modules),
            "minify": self.minify,
            "sourcemap": self.sourcemap,
            "sources_content": self.sources_content,
            "bundle_aws_sdk": self.bundle_aws_sdk,
            "keep_names": self.keep_names,
            "define": [list(pair) for pair in self.define],
            "loader": [list(pair) for pair in self.loader],
        }


class NodeConfig:
    project_keys: tuple[str, ...] = PROJECT_KEYS
    function_keys: tuple[str, ...] = FUNCTION_KEYS
    function_only_keys: tuple[str, ...] = BUNDLE_KEYS

    def check_defaults(self, reader: KeyReader, top: Mapping[str, object]) -> None:
        reader.strings(top, "allow_scripts", "", "package names")
        _bundle_settings(reader, top, "")

    def read_bundle(
        self,
        reader: KeyReader,
        raw: Mapping[str, object],
        top: Mapping[str, object],
        key: str,
        source: Path | None,
        handler: str | None,
    ) -> Bundle | None:
        return read_bundle(reader, raw, top, key, source, handler)

    def read_config(
        self,
        reader: KeyReader,
        raw: Mapping[str, object],
        top: Mapping[str, object],
        key: str,
        source: Path | None,
    ) -> NodeDependencies | None:
        allow = reader.strings(raw, "allow_scripts", key, "package names")
        default_allow = top.get("allow_scripts")
        if isinstance(default_allow, list) and all(isinstance(v, str) for v in default_allow):
            allow = (*default_allow, *allow)
        value = raw.get("package_json")
        if value is False:
            return None
        path: Path | None = None
        if value is not None:
            text = reader.string(raw, "package_json", key)
            if text is None:
                return None
            path = (reader.root / text).resolve()
            if path.is_dir():
                path = path / "package.json"
            if not path.is_file():
                reader.add(join(key, "package_json"), f"file {text!r} does not exist")
                return None
        elif source is not None and (source / "package.json").is_file():
            path = source / "package.json"
        if path is None:
            return None
        return NodeDependencies(input=path, project_root=reader.root, allow_scripts=tuple(sorted(set(allow))))

    def handler_problem(self, handler: str) -> str | None:
        return handler_problem(handler)


def handler_problem(handler: str) -> str | None:
    """Why ``handler`` is not a Node.js handler ``[DIR/]FILE.EXPORT``, or None."""
    path, dot, export = handler.rpartition(".")
    if not dot or not path or not export:
        return f"{handler!r} is not FILE.EXPORT (e.g. 'index.handler' or 'src/app.handler')"
    if not export.replace("_", "a").replace("$", "a").isalnum() or export[0].isdigit():
        return f"{handler!r}: {export!r} is not a JavaScript export name"
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return f"{handler!r}: the file must be a relative path inside the function (no '..', no leading '/')"
    return None


def read_bundle(
    reader: KeyReader,
    raw: Mapping[str, object],
    top: Mapping[str, object],
    key: str,
    source: Path | None,
    handler: str | None,
) -> Bundle | None:
    """The function's bundling (None: its files ship as they are), over the
    top-level defaults; problems go to ``reader``."""
    mine = _bundle_settings(reader, raw, key)
    defaults = _bundle_settings(KeyReader("", "", root=reader.root), top, "")  # reported by check_defaults
    if not mine.flag("bundle", defaults):
        for name in BUNDLE_KEYS:
            if name != "bundle" and name in raw:
                reader.add(join(key, name), "applies to bundled functions only; set bundle = true")
        return None
    if source is None or handler is None:
        return None
    entry = _entry(reader, raw, key, source, handler)
    if entry is None:
        return None
    return Bundle(
        entry=entry,
        format=mine.format or defaults.format or _module_format(source / entry, reader.root),
        external=tuple(dict.fromkeys((*defaults.external, *mine.external))),
        node_modules=tuple(sorted({*defaults.node_modules, *mine.node_modules})),
        minify=mine.flag("minify", defaults),
        sourcemap=mine.flag("sourcemap", defaults),
        sources_content=mine.flag("sources_content", defaults),
        bundle_aws_sdk=mine.flag("bundle_aws_sdk", defaults),
        keep_names=mine.flag("keep_names", defaults),
        define=tuple(sorted({**dict(defaults.define), **dict(mine.define)}.items())),
        loader=tuple(sorted({**dict(defaults.loader), **dict(mine.loader)}.items())),
    )


class _Settings:
    """The bundling keys one table sets (absent or empty: not set)."""

    __slots__ = ("define", "external", "flags", "format", "loader", "node_modules")

    def __init__(self) -> None:
        self.flags: dict[str, bool] = {}
        self.format: str | None = None
        self.external: tuple[str, ...] = ()
        self.node_modules: tuple[str, ...] = ()
        self.define: tuple[tuple[str, str], ...] = ()
        self.loader: tuple[tuple[str, str], ...] = ()

    def flag(self, name: str, defaults: _Settings) -> bool:
        return self.flags.get(name, defaults.flags.get(name, False))


_FLAGS = ("bundle", "minify", "sourcemap", "sources_content", "bundle_aws_sdk", "keep_names")


def _bundle_settings(reader: KeyReader, table: Mapping[str, object], key: str) -> _Settings:
    """The bundling keys set in ``table``, checked (wrong ones are reported and left out)."""
    found = _Settings()
    for name in _FLAGS:
        flag = reader.flag(table, name, key)
        if flag is not None:
            found.flags[name] = flag
    if "format" in table:
        value = table["format"]
        if isinstance(value, str) and value in FORMATS:
            found.format = value
        else:
            reader.add(join(key, "format"), f'must be "cjs" or "esm", not {value!r}')
    found.external = reader.strings(table, "external", key, "module names or patterns")
    found.node_modules = reader.strings(table, "node_modules", key, "package names")
    for name in found.node_modules:
        if not re.match(_PACKAGE_RE, name):
            reader.add(join(key, "node_modules"), f"{name!r} is not an npm package name")
    found.define = _pairs(reader, table, "define", key, _define_problem)
    found.loader = _pairs(reader, table, "loader", key, _loader_problem)
    return found


def _pairs(
    reader: KeyReader,
    table: Mapping[str, object],
    name: str,
    key: str,
    problem_of: Callable[[str, str], str | None],
) -> tuple[tuple[str, str], ...]:
    """A table of strings as (key, value) pairs; wrong pairs are reported and left out."""
    value = table.get(name)
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        reader.add(join(key, name), f"must be a table of strings, not {value!r}")
        return ()
    pairs = []
    for item, text in value.items():
        problem = problem_of(item, text)
        if problem:
            reader.add(join(key, f"{name}.{item}"), problem)
        else:
            pairs.append((item, text))
    return tuple(pairs)


def _define_problem(name: str, value: str) -> str | None:
    if not re.match(r"^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$", name):
        return "not an identifier or a dotted name (e.g. process.env.STAGE)"
    if not value.strip():
        return 'must be a JavaScript expression, e.g. \'"prod"\' (with the quotes) or "true"'
    return None


def _loader_problem(extension: str, loader: str) -> str | None:
    if not re.match(_EXTENSION_RE, extension):
        return "not a file extension (e.g. .txt)"
    if loader not in LOADERS:
        return f"{loader!r} is not one of {', '.join(LOADERS)}"
    return None


def _entry(reader: KeyReader, raw: Mapping[str, object], key: str, source: Path, handler: str) -> str | None:
    """The entry point relative to ``source``: ``entry``, else the handler's file
    with the first of ENTRY_EXTENSIONS that exists."""
    given = reader.string(raw, "entry", key)
    if given is not None:
        parts = Path(given).parts
        path = (source / given).resolve()
        if Path(given).is_absolute() or ".." in parts or not path.is_relative_to(source):
            reader.add(join(key, "entry"), f"{given!r} must be a path inside the function's source directory")
            return None
        if not path.is_file():
            reader.add(join(key, "entry"), f"file {given!r} does not exist in {source.name}/")
            return None
        return path.relative_to(source).as_posix()
    base = handler.rpartition(".")[0]
    for extension in ENTRY_EXTENSIONS:
        if (source / (base + extension)).is_file():
            return base + extension
    tried = ", ".join(base + e for e in ENTRY_EXTENSIONS[:3])
    reader.add(
        join(key, "entry"),
        f"missing; none of {tried} … is in {source.name}/; "
        "set entry to the file to bundle (e.g. src/index.ts)",
    )
    return None


def _module_format(entry: Path, root: Path) -> str:
    """The module type the entry has for Node.js: ``.mts``/``.mjs`` ESM,
    ``.cts``/``.cjs`` CommonJS, else the nearest package.json's ``type``."""
    if entry.suffix in (".mts", ".mjs"):
        return "esm"
    if entry.suffix in (".cts", ".cjs"):
        return "cjs"
    import json

    for directory in entry.parents:
        manifest = directory / "package.json"
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text("utf-8"))
            except (OSError, ValueError):
                return "cjs"  # the install names an unreadable package.json
            return "esm" if isinstance(data, dict) and data.get("type") == "module" else "cjs"
        if directory == root or not directory.is_relative_to(root):
            break
    return "cjs"


CONFIG = NodeConfig()

if TYPE_CHECKING:  # the reader matches the seam (checked by mypy)
    _CONFIG: LanguageConfig = CONFIG
