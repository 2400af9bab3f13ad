"""The config keys of Node.js functions and the dependencies they declare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack.config import KeyReader, join

if TYPE_CHECKING:
    from lambdapack.ecosystem import LanguageConfig

#: Keys allowed at the top level (defaults for every Node.js function) and per function.
PROJECT_KEYS = ("allow_scripts",)
FUNCTION_KEYS = ("package_json", *PROJECT_KEYS)


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeDependencies:
    """A Node.js function's ``package.json`` and how to install it."""

    input: Path  # the function's package.json
    #: The project's root: a workspace root holding the lock may lie between it and the function.
    project_root: Path
    #: Packages whose lifecycle scripts may run (scripts that build or fetch nothing).
    allow_scripts: tuple[str, ...] = ()


class NodeConfig:
    project_keys: tuple[str, ...] = PROJECT_KEYS
    function_keys: tuple[str, ...] = FUNCTION_KEYS

    def check_defaults(self, reader: KeyReader, top: Mapping[str, object]) -> None:
        reader.strings(top, "allow_scripts", "", "package names")

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


CONFIG = NodeConfig()

if TYPE_CHECKING:  # the reader matches the seam (checked by mypy)
    _CONFIG: LanguageConfig = CONFIG
