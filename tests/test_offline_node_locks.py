"""Node.js lock files, local packages and layers offline: the real npm against
the loopback registry of tests/npm_registry.py (the helpers are
test_offline_node.py's). The lock lifecycle and a no-op build, ``file:``
packages with and without dependencies of their own, npm workspaces, and a
Node.js layer. (Split from test_offline_node.py so that the offline tier's
workers share the Node.js tests.)"""

from __future__ import annotations

import json
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path

from npm_registry import (  # noqa: F401 - the fixtures
    MARKER,
    npm_registry_fixture,
    registry_env_fixture,
    use_registry_fixture,
)
from test_offline_node import INDEX, _error_lines, _function, _names, _ok, _package, _packages

from conftest import cli, write_tree

# -- locks and local packages ----------------------------------------------------------------------


def _file_project(tmp_path: Path, helper_deps: Mapping[str, str], fn_deps: Mapping[str, str]) -> Path:
    """A function depending on the local package ``lib/helper`` (``file:``) and ``fn_deps``."""
    return write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": _function("fn", "functions/fn"),
            "functions/fn/package.json": _package("fn", {"helper": "file:../../lib/helper", **fn_deps}),
            "functions/fn/index.js": 'exports.handler = async () => require("helper").greet();\n',
            "lib/helper/package.json": _package("helper", helper_deps, main="index.js"),
            "lib/helper/index.js": 'exports.greet = () => require("lpfix-util").double(1);\n',
            "lib/helper/util/extra.js": "module.exports = 1;\n",
        },
    )


def test_lock_lifecycle_no_op_build_and_a_file_dependency(tmp_path: Path) -> None:
    """No lock: a warning, ``--locked`` fails; ``lock`` writes npm's lock beside
    package.json; then ``--locked`` builds, a second build is a no-op. The
    ``file:`` package is shipped as real files, and its changes are seen."""
    root = _file_project(tmp_path, {"lpfix-util": "^1.0.0"}, {"lpfix-util": "1.0.0"})
    lock = root / "functions" / "fn" / "package-lock.json"
    zip_path, manifest = root / "dist" / "fn.zip", root / "dist" / "lambdapack-manifest.json"
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "[lock]" in line]
    assert len(warnings) == 1, result.stderr
    assert "lambdapack lock fn" in warnings[0] and "functions/fn/package-lock.json" in warnings[0]
    assert not lock.exists() and not (root / "functions" / "fn" / "node_modules").exists()
    assert _packages(zip_path) == {"helper", "lpfix-util", "@lpfix/scoped"}

    locked = cli("build", "--locked", cwd=root)
    assert locked.returncode == 4, locked.stderr
    (line,) = _error_lines(locked)
    assert "functions/fn/package-lock.json: missing" in line and "lambdapack lock fn" in line
    assert cli("lock", "--check", cwd=root).returncode == 4

    _ok("lock", cwd=root)
    assert json.loads(lock.read_text())["packages"]["node_modules/lpfix-util"]["version"] == "1.0.0"
    assert not (root / "functions" / "fn" / "node_modules").exists()
    _ok("lock", "--check", cwd=root)
    assert "[lock]" not in _ok("build", "--locked", cwd=root)
    with zipfile.ZipFile(zip_path) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert {"node_modules/helper/index.js", "node_modules/helper/util/extra.js"} <= set(infos)
    assert _packages(zip_path) == {"helper", "lpfix-util", "@lpfix/scoped"}
    assert not [n for n, i in infos.items() if stat.S_ISLNK(i.external_attr >> 16)]
    assert not (root / "lib" / "helper" / "node_modules").exists()

    before = [(p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in (zip_path, manifest)]
    _ok("build", cwd=root)
    assert [(p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in (zip_path, manifest)] == before
    _ok("build", "--check", cwd=root)

    (root / "lib" / "helper" / "index.js").write_text("exports.greet = () => 'changed';\n")
    assert cli("build", "--check", cwd=root).returncode == 4  # the local package is part of the plan
    deps = {"helper": "file:../../lib/helper", "lpfix-util": "1.0.0", "lpfix-dev": "1.0.0"}
    (root / "functions" / "fn" / "package.json").write_text(_package("fn", deps))
    stale = cli("lock", "--check", cwd=root)
    assert stale.returncode == 4 and "out of date" in stale.stderr, stale.stderr


def test_file_dependency_with_its_own_dependencies(tmp_path: Path) -> None:
    root = _file_project(tmp_path, {"lpfix-util": "1.0.0"}, {})
    _ok("lock", cwd=root)
    _ok("build", "--locked", cwd=root)
    assert _packages(root / "dist" / "fn.zip") == {"helper", "lpfix-util", "@lpfix/scoped"}


def _member(name: str, deps: Mapping[str, str]) -> str:
    return json.dumps(
        {"name": name, "version": "1.0.0", "dependencies": deps, "devDependencies": {"lpfix-dev": "1.0.0"}}
    )


def test_npm_workspace_members_ship_only_their_own_production_closure(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": _function("util", "functions/util")
            + _function("native", "functions/native", "arm64", 'allow_scripts = ["lpfix-postinstall"]\n'),
            "package.json": json.dumps(
                {
                    "name": "root",
                    "private": True,
                    "workspaces": ["functions/*"],
                    "devDependencies": {"lpfix-dev": "1.0.0"},
                }
            ),
            "functions/util/package.json": _member("util", {"lpfix-util": "1.0.0"}),
            "functions/util/index.js": INDEX,
            "functions/native/package.json": _member(
                "native", {"lpfix-native": "1.0.0", "lpfix-postinstall": "1.0.0"}
            ),
            "functions/native/index.js": 'exports.handler = async () => typeof require("lpfix-native");\n',
        },
    )
    _ok("lock", cwd=root)
    lock = root / "package-lock.json"
    assert lock.is_file() and not (root / "functions" / "util" / "package-lock.json").exists()
    members = {k for k in json.loads(lock.read_text())["packages"] if k.startswith("functions/")}
    assert members == {"functions/util", "functions/native"}  # one lock for the whole workspace
    _ok("lock", "--check", "util", cwd=root)
    _ok("lock", "--check", "native", cwd=root)
    assert "[lock]" not in _ok("build", "--locked", cwd=root)
    util, native = root / "dist" / "util.zip", root / "dist" / "native.zip"
    assert _packages(util) == {"lpfix-util", "@lpfix/scoped"}
    assert _packages(native) == {"lpfix-native", "lpfix-native-linux-arm64-gnu", "lpfix-postinstall"}
    for zip_path in (util, native):
        names = _names(zip_path)
        assert "package.json" in names and "index.js" in names
        assert not [n for n in names if n.startswith("node_modules/.") or "/.bin/" in n or "lpfix-dev" in n]
    checked = cli("check", cwd=root)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    (root / "functions/util/package.json").write_text(
        _member("util", {"lpfix-util": "1.0.0", "lpfix-dev": "1.0.0"})
    )
    check = cli("lock", "--check", "util", cwd=root)
    assert check.returncode == 4 and "functions/util/package.json" in check.stderr, check.stderr

    assert f"node_modules/lpfix-postinstall/{MARKER}" in _names(native)  # allow_scripts ran for the member


# -- a Node.js layer --------------------------------------------------------------------------------


def test_a_node_layer_serves_its_packages_and_own_modules_from_nodejs_node_modules(tmp_path: Path) -> None:
    """A Node.js layer: its installed packages under nodejs/node_modules/, its own
    modules beside them; one zip serves every Node.js runtime listed; a function
    using it leaves out what it provides and finds both through NODE_PATH, as
    Lambda sets it (/opt/nodejs/node_modules)."""
    from noderun import run_handler

    root = tmp_path / "project"
    config = (
        '[layers.shared]\npackage_json = "layers/shared/package.json"\nsource = "layers/shared/lib"\n'
        'runtimes = ["nodejs20.x", "nodejs22.x"]\narchitecture = "x86_64"\n'
        + _function("fn", "fn", "x86_64", 'layers = ["shared"]\n')
    )
    index = (
        '"use strict";\nconst { double } = require("lpfix-util");\nconst { tag } = require("greeting");\n'
        "exports.handler = async (event) => tag(double(event.x));\n"
    )
    write_tree(
        root,
        {
            "lambdapack.toml": config,
            "layers/shared/package.json": _package("shared", {"lpfix-util": "1.0.0"}),
            "layers/shared/lib/greeting/index.js": "exports.tag = (x) => `value ${x}`;\n",
            "fn/package.json": _package("fn", {"lpfix-util": "1.0.0"}),
            "fn/index.js": index,
        },
    )
    _ok("lock", cwd=root)
    assert (root / "layers" / "shared" / "package-lock.json").is_file()  # layers are locked too
    assert "[lock]" not in _ok("build", "--locked", cwd=root)
    layer, function = root / "dist" / "shared.zip", root / "dist" / "fn.zip"
    names = _names(layer)
    assert "nodejs/node_modules/lpfix-util/index.js" in names
    assert "nodejs/node_modules/@lpfix/scoped/index.js" in names
    assert "nodejs/node_modules/greeting/index.js" in names
    assert all(name.startswith("nodejs/") for name in names), names
    assert not [n for n in _names(function) if n.startswith("node_modules/")]  # left to the layer
    document = json.loads((root / "dist" / "lambdapack-manifest.json").read_text())
    assert document["layers"]["shared"]["compatible_runtimes"] == ["nodejs20.x", "nodejs22.x"]
    assert document["artifacts"]["fn"]["layers"] == ["shared"]

    opt = tmp_path / "opt"
    with zipfile.ZipFile(layer) as zf:
        zf.extractall(opt)
    result = run_handler(
        function,
        "index.handler",
        {"x": 2},
        architecture="x86_64",
        work=tmp_path / "run",
        env={"NODE_PATH": str(opt / "nodejs" / "node_modules")},
    )
    assert result == "value 168"
