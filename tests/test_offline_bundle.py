"""Bundled Node.js functions offline (``bundle = true``): the real esbuild
0.28.2, which lambdapack downloads from the loopback npm registry of
tests/npm_registry.py (it serves the tarball ``make setup`` fetched into
.cache/esbuild/) into the session's cache, bundling TypeScript and ES
modules with the registry's ``lpfix-*`` packages. A golden TypeScript
function pins one ``code_sha256`` and is rebuilt elsewhere with another
umask, time zone, cache and mtimes; an ES module bundles a CommonJS
package; a native addon must ship installed (``node_modules``) for the
target; the handler's export is checked; bundling errors are one line with
their exit code (docs/errors.md); a rebuild of an unchanged plan runs no
esbuild; esbuild's download is checked against its pinned integrity;
``inspect`` shows the bundle's inputs; a tampered dependency set in the
cache is restored before it is bundled. The network versions (arm64 under
qemu, the real npm registry) are elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath

import pytest
from npm_registry import (  # noqa: F401 - the fixtures
    NpmRegistry,
    npm_registry_fixture,
    registry_env_fixture,
    use_registry_fixture,
)

from conftest import Tripwire, cli, naive_zip, offline_environment, run_cli, write_tree
from lambdapack.node import esbuild
from lambdapack.node.bundle import ESM_BANNER
from noderun import run_handler

#: Where the loopback registry serves the pinned esbuild for this machine (linux x86_64).
ESBUILD_TARBALL = f"/@esbuild/linux-x64/-/linux-x64-{esbuild.VERSION}.tgz"
#: Where lambdapack keeps the esbuild it downloaded, below a cache directory.
ESBUILD_BINARY = Path("node-tools") / f"esbuild-{esbuild.VERSION}-linux-x64" / "esbuild"

# -- the golden TypeScript function: no package.json, no dependencies ------------------------------

GOLDEN_TS = """\
interface Event {
  name: string;
  count: number;
}

type Reply = { message: string; doubled: number };

const greet = (name: string): string => `hello ${name}`;

export const handler = async (event: Event): Promise<Reply> => ({
  message: greet(event.name),
  doubled: event.count * 2,
});
"""
GOLDEN_CONFIG = """\
output = "dist"

[functions.ts]
source = "fn"
handler = "index.handler"
runtime = "nodejs22.x"
architecture = "x86_64"
bundle = true
entry = "src/index.ts"
sourcemap = true
"""
GOLDEN_FILES = {"lambdapack.toml": GOLDEN_CONFIG, "fn/src/index.ts": GOLDEN_TS}
#: The code_sha256 of GOLDEN_FILES' zip, the same on every machine. It changes only when
#: lambdapack's zip format (entry order, times, modes, compression), the pinned esbuild's
#: version (its output) or GOLDEN_FILES (the source, the bundling keys) change.
GOLDEN_CODE_SHA256 = "nUplVlmI9svyi4slw3XvFD/c9DJ7nR67u325znVfpo4="

# -- a function with dependencies from the loopback registry -------------------------------------

PACKAGE_JSON = (
    json.dumps(
        {
            "name": "fn",
            "version": "1.0.0",
            "private": True,
            "dependencies": {"lpfix-util": "1.0.0", "lpfix-native": "1.0.0"},
        },
        indent=2,
    )
    + "\n"
)
#: An ES module entry importing a CommonJS package and a CommonJS file of its own that
#: requires a Node.js built-in: only the ESM banner's ``require`` makes that work in an ES module.
ESM_ENTRY = """\
import { double } from "lpfix-util";
import { base } from "./legacy.cjs";

export const handler = async (event: { x: number; file: string }) => ({
  doubled: double(event.x),
  base: base(event.file),
});
"""
LEGACY_CJS = """\
"use strict";
const path = require("node:path");
exports.base = (file) => path.basename(file);
"""
MTS_ENTRY = """\
import { double } from "lpfix-util";

export const handler = async (event: { x: number }): Promise<number> => double(event.x) + 1;
"""
#: A CommonJS entry bundling lpfix-util and requiring lpfix-native when called (its addon is
#: hand-made and cannot load).
NATIVE_ENTRY = """\
"use strict";
const { double } = require("lpfix-util");
exports.handler = async (event) => ({ doubled: double(event.x), native: typeof require("lpfix-native") });
"""


def _function(name: str, handler: str, architecture: str = "x86_64", extra: str = "") -> str:
    return (
        f'\n[functions.{name}]\nsource = "fn"\nhandler = "{handler}"\nruntime = "nodejs22.x"\n'
        f'architecture = "{architecture}"\nbundle = true\n{extra}'
    )


DEPS_CONFIG = (
    'output = "dist"\n'
    + _function("esm", "index.handler", extra='format = "esm"\n')
    + _function("mts", "app.handler")
    + _function("native", "native.handler", extra='node_modules = ["lpfix-native"]\n')
    + _function("native-arm64", "native.handler", "arm64", 'node_modules = ["lpfix-native"]\n')
    + _function("native-util", "native.handler", extra='node_modules = ["lpfix-util", "lpfix-native"]\n')
    + _function("unlisted", "native.handler")
    + _function("not-installed", "native.handler", extra='node_modules = ["lpfix-native", "lpfix-gyp"]\n')
)
DEPS_FILES = {
    "lambdapack.toml": DEPS_CONFIG,
    "fn/package.json": PACKAGE_JSON,
    "fn/index.ts": ESM_ENTRY,
    "fn/legacy.cjs": LEGACY_CJS,
    "fn/app.mts": MTS_ENTRY,
    "fn/native.js": NATIVE_ENTRY,
}
#: The functions the module's fixture builds (``unlisted`` bundles lpfix-native and
#: ``not-installed`` lists a package package.json lacks: both fail).
BUILT = ("esm", "mts", "native", "native-arm64", "native-util")


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


def _read(zip_path: Path, name: str) -> str:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.read(name).decode("utf-8")


def _code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error:")]


def _ok(*args: str, cwd: Path, env: Mapping[str, str | None] | None = None) -> str:
    result = cli(*args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _session_cache() -> Path:
    return Path(os.environ["LAMBDAPACK_CACHE_DIR"])


@pytest.fixture(scope="module")
def golden(
    tmp_path_factory: pytest.TempPathFactory, tripwire: Tripwire, registry_env: dict[str, str]
) -> Path:
    """The golden TypeScript function, built once for the module in the session's cache
    (a session's first bundled build downloads esbuild from the loopback registry)."""
    root = write_tree(tmp_path_factory.mktemp("bundle-golden") / "project", GOLDEN_FILES)
    env = offline_environment(tripwire, tmp_path_factory.mktemp("uv")) | registry_env
    tripwire.take()
    _ok("build", cwd=root, env=env)
    assert tripwire.take() == [], "the build went through the proxy"
    return root


@pytest.fixture(scope="module")
def deps_project(
    tmp_path_factory: pytest.TempPathFactory, tripwire: Tripwire, registry_env: dict[str, str]
) -> Path:
    """DEPS_FILES, locked and built (BUILT) once for the module in the session's cache,
    behind the offline guard's proxies."""
    root = write_tree(tmp_path_factory.mktemp("bundle-deps") / "project", DEPS_FILES)
    env = offline_environment(tripwire, tmp_path_factory.mktemp("uv")) | registry_env
    tripwire.take()
    _ok("lock", cwd=root, env=env)
    _ok("build", *BUILT, cwd=root, env=env)
    assert tripwire.take() == [], "npm went through the proxy"
    return root


# -- the golden TypeScript function ----------------------------------------------------------------


def test_a_typescript_function_is_one_bundle_and_its_map_with_a_golden_hash(
    golden: Path, tmp_path: Path
) -> None:
    zip_path = golden / "dist" / "ts.zip"
    assert _names(zip_path) == ["index.js", "index.js.map"]
    data = zip_path.read_bytes()
    manifest = json.loads((golden / "dist" / "lambdapack-manifest.json").read_text())
    assert manifest["artifacts"]["ts"]["code_sha256"] == _code_sha256(data) == GOLDEN_CODE_SHA256

    bundle = _read(zip_path, "index.js")
    assert "interface Event" not in bundle and ": string" not in bundle  # the types are gone
    assert "// fn/src/index.ts\n" in bundle  # esbuild's comment names the path in the project
    assert bundle.endswith("//# sourceMappingURL=index.js.map\n")
    event = {"name": "lambda", "count": 21}
    result = run_handler(zip_path, "index.handler", event, architecture="x86_64", work=tmp_path / "run")
    assert result == {"message": "hello lambda", "doubled": 42}


def test_the_python_api_bundles_with_options_as_the_config_does(golden: Path, tmp_path: Path) -> None:
    """build_function(options=…) takes the bundling keys of the function's table: the same
    zip as the config's build; a key with an argument of its own, or a bad one, is a ConfigError."""
    import lambdapack

    options = {"bundle": True, "entry": "src/index.ts", "sourcemap": True}
    common = {"handler": "index.handler", "runtime": "nodejs22.x", "architecture": "x86_64"}
    artifact = lambdapack.build_function(
        "fn", **common, name="ts", project_dir=golden, output=tmp_path / "out", options=options
    )
    assert artifact.code_sha256 == GOLDEN_CODE_SHA256
    assert (tmp_path / "out" / "ts.zip").read_bytes() == (golden / "dist" / "ts.zip").read_bytes()
    with pytest.raises(lambdapack.ConfigError, match="give exclude as its own argument"):
        lambdapack.build_function("fn", **common, project_dir=golden, options={**options, "exclude": []})
    with pytest.raises(lambdapack.ConfigError, match="minify: applies to bundled functions only"):
        lambdapack.build_function("fn", **common, project_dir=golden, options={"minify": True})


def test_same_bytes_from_another_directory_cache_umask_time_zone_and_mtimes(
    golden: Path, tmp_path: Path
) -> None:
    """The golden function written again deeper in another directory, with old mtimes,
    built in another process with umask 077, another time zone and a cache of its own
    (which downloads esbuild again): the same zip. A naive zip of the two trees differs.
    Neither the bundle nor its map names a directory of the machine."""
    project = write_tree(tmp_path / "a" / "b" / "c" / "elsewhere", GOLDEN_FILES)
    for path in (*project.rglob("*"), project):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    cache = tmp_path / "other-cache"
    env = {"TZ": "Asia/Kolkata", "LAMBDAPACK_CACHE_DIR": str(cache)}
    result = run_cli("build", cwd=project, umask=0o077, env=env)
    assert result.returncode == 0, result.stderr
    assert (cache / ESBUILD_BINARY).is_file(), "the build did not use its own cache"
    zip_path = project / "dist" / "ts.zip"
    data = zip_path.read_bytes()
    assert data == (golden / "dist" / "ts.zip").read_bytes()
    assert _code_sha256(data) == GOLDEN_CODE_SHA256
    naive = [naive_zip(root / "fn", tmp_path / f"naive{i}.zip") for i, root in enumerate((golden, project))]
    assert naive[0] != naive[1], "a naive zip should differ, or this test proves nothing"

    bundle, source_map = _read(zip_path, "index.js"), _read(zip_path, "index.js.map")
    sources = json.loads(source_map)["sources"]
    assert sources == ["fn/src/index.ts"]  # relative to the bundle in the zip: the path in the project
    for source in sources:
        assert not source.startswith("/") and ".." not in PurePosixPath(source).parts, source
        assert "lambdapack-cache" not in source and "tmp" not in source, source
    machine_paths = (project, golden, cache, _session_cache(), Path(tempfile.gettempdir()) / "lambdapack-")
    for text in (bundle, source_map):
        for path in machine_paths:
            assert str(path) not in text, path


# -- dependencies: an ES module, native addons -----------------------------------------------------


def test_an_es_module_bundles_a_commonjs_package_and_requires_builtins(
    deps_project: Path, tmp_path: Path
) -> None:
    zip_path = deps_project / "dist" / "esm.zip"
    assert _names(zip_path) == ["index.mjs"]  # lpfix-util and @lpfix/scoped are in it: no node_modules
    bundle = _read(zip_path, "index.mjs")
    assert bundle.startswith(ESM_BANNER + "\n")
    assert "// fn/node_modules/lpfix-util/index.js\n" in bundle
    assert "// fn/node_modules/@lpfix/scoped/index.js\n" in bundle
    assert '__require("node:path")' in bundle  # left to the runtime: the banner's require finds it
    event = {"x": 3, "file": "/var/task/data.json"}
    result = run_handler(zip_path, "index.handler", event, architecture="x86_64", work=tmp_path / "run")
    assert result == {"doubled": 252, "base": "data.json"}  # 2 * 42 * 3

    # Without the banner, the ES module has no require: the CommonJS file's require throws.
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(bare, "w") as zf:
        zf.writestr("index.mjs", bundle.removeprefix(ESM_BANNER))
    with pytest.raises(AssertionError, match='Dynamic require of "node:path" is not supported'):
        run_handler(bare, "index.handler", event, architecture="x86_64", work=tmp_path / "bare")

    mts = deps_project / "dist" / "mts.zip"  # an .mts entry is an ES module without format = "esm"
    assert _names(mts) == ["app.mjs"]
    assert run_handler(mts, "app.handler", {"x": 1}, architecture="x86_64", work=tmp_path / "mts") == 85


def test_a_bundled_native_addon_is_one_error_naming_the_package_and_node_modules(deps_project: Path) -> None:
    before = sorted(p.name for p in (deps_project / "dist").iterdir())
    result = cli("build", "unlisted", cwd=deps_project)
    assert result.returncode == 3, result.stderr
    (error,) = _error_lines(result)
    assert error.startswith(
        "lambdapack: error: unlisted: error [bundle] fn/node_modules/lpfix-native/index.js: "
    )
    assert "lpfix-native has a native addon" in error
    assert "(node_modules/lpfix-native-linux-x64-gnu/lpfix-native.linux-x64-gnu.node)" in error
    assert 'node_modules = ["lpfix-native"]' in error and "[functions.unlisted]" in error
    assert sorted(p.name for p in (deps_project / "dist").iterdir()) == before  # no unlisted.zip


@pytest.mark.parametrize(
    ("function", "platform"),
    [("native", "linux-x64-gnu"), ("native-arm64", "linux-arm64-gnu")],
)
def test_node_modules_ship_installed_for_the_target_only(
    deps_project: Path, function: str, platform: str
) -> None:
    zip_path = deps_project / "dist" / f"{function}.zip"
    assert _names(zip_path) == [
        "native.js",
        f"node_modules/lpfix-native-{platform}/lpfix-native.{platform}.node",
        f"node_modules/lpfix-native-{platform}/package.json",
        "node_modules/lpfix-native/index.js",
        "node_modules/lpfix-native/package.json",
    ]  # no other platform's package, nothing of lpfix-util (it is bundled)
    bundle = _read(zip_path, "native.js")
    assert 'require("lpfix-native")' in bundle  # external: Node.js finds it in node_modules
    assert "// fn/node_modules/lpfix-util/index.js\n" in bundle
    assert "lpfix-native/index.js" not in bundle


def test_a_listed_pure_package_ships_installed_with_its_dependencies(deps_project: Path) -> None:
    zip_path = deps_project / "dist" / "native-util.zip"
    names = _names(zip_path)
    assert names == [
        "native.js",
        "node_modules/@lpfix/scoped/index.js",
        "node_modules/@lpfix/scoped/package.json",
        "node_modules/lpfix-native-linux-x64-gnu/lpfix-native.linux-x64-gnu.node",
        "node_modules/lpfix-native-linux-x64-gnu/package.json",
        "node_modules/lpfix-native/index.js",
        "node_modules/lpfix-native/package.json",
        "node_modules/lpfix-util/README.md",
        "node_modules/lpfix-util/cli.js",
        "node_modules/lpfix-util/index.js",
        "node_modules/lpfix-util/package.json",
    ]
    bundle = _read(zip_path, "native.js")
    assert 'require("lpfix-util")' in bundle and "lpfix-util/index.js" not in bundle
    checked = cli("check", str(zip_path), cwd=deps_project)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_node_modules_package_that_is_not_installed_is_one_error(deps_project: Path) -> None:
    result = cli("build", "not-installed", cwd=deps_project)
    assert result.returncode == 1, result.stderr
    (error,) = _error_lines(result)
    assert error == (
        "lambdapack: error: not-installed: functions.not-installed.node_modules: lpfix-gyp is not among "
        "the installed dependencies; add it to the dependencies in package.json (and update the lock)"
    )
    assert not (deps_project / "dist" / "not-installed.zip").exists()


# -- the handler's export ------------------------------------------------------------------------


def test_an_entry_without_the_handler_export_is_an_error_naming_what_it_exports(tmp_path: Path) -> None:
    """For CommonJS (esbuild's annotation of an ES module entry's exports) and for an ES module
    (the metafile's exports): exit 3, one line each, naming the export and the ones there are."""
    config = (
        'output = "dist"\n'
        '[functions.cjs]\nsource = "fn"\nhandler = "index.handler"\nruntime = "nodejs22.x"\n'
        'architecture = "x86_64"\nbundle = true\n'
        '[functions.esm]\nsource = "fn"\nhandler = "index.handler"\nruntime = "nodejs22.x"\n'
        'architecture = "x86_64"\nbundle = true\nformat = "esm"\n'
    )
    entry = "export const main = async () => 1;\nexport function other(): number {\n  return 2;\n}\n"
    root = write_tree(tmp_path / "project", {"lambdapack.toml": config, "fn/index.ts": entry})
    result = cli("build", cwd=root)
    assert result.returncode == 3, result.stderr
    errors = _error_lines(result)
    assert len(errors) == 2, result.stderr
    for error, name, output in zip(errors, ("cjs", "esm"), ("index.js", "index.mjs"), strict=True):
        assert error.startswith(f"lambdapack: error: {name}: error [handler] {output}: "), error
        assert "handler 'index.handler': the bundle of index.ts exports no 'handler'" in error
        assert "(it exports main, other)" in error
    assert not list((root / "dist").glob("*.zip"))


# -- errors: one line, the documented exit code --------------------------------------------------

_BASE = (
    'output = "dist"\n[functions.f]\nsource = "fn"\nhandler = "index.handler"\n'
    'runtime = "nodejs22.x"\narchitecture = "x86_64"\n'
)
_LAYER = '[layers.shared]\nsource = "shared"\nruntimes = ["nodejs22.x"]\narchitecture = "x86_64"\n'


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            _BASE + "minify = true\n",
            "functions.f.minify: applies to bundled functions only; set bundle = true",
        ),
        (
            _BASE + 'bundle = true\nformat = "umd"\n',
            'functions.f.format: must be "cjs" or "esm", not \'umd\'',
        ),
        (
            _BASE + 'bundle = true\nentry = "src/missing.ts"\n',
            "functions.f.entry: file 'src/missing.ts' does not exist in fn/",
        ),
        (_BASE + _LAYER + "bundle = true\n", "layers.shared.bundle: a key of functions only"),
    ],
    ids=["minify-without-bundle", "format-umd", "missing-entry", "bundle-in-a-layer"],
)
def test_config_errors_are_one_line_with_exit_code_2(tmp_path: Path, config: str, expected: str) -> None:
    files = {"lambdapack.toml": config, "fn/index.ts": "export const handler = async () => 1;\n"}
    root = write_tree(tmp_path / "project", {**files, "shared/lib.js": "module.exports = 1;\n"})
    result = cli("build", cwd=root)
    assert result.returncode == 2, result.stderr
    (error,) = _error_lines(result)
    assert error.startswith(f"lambdapack: error: lambdapack.toml: {expected}"), error
    assert not (root / "dist" / "f.zip").exists()


@pytest.mark.parametrize(
    ("entry", "where", "hint"),
    [
        (
            'import x from "not-installed";\nexport const handler = async () => x;\n',
            'fn/index.ts:1:14: Could not resolve "not-installed"',
            "; add not-installed to the dependencies in package.json (and update the lock), or to external",
        ),
        (
            'import { y } from "../shared/y";\nexport const handler = async () => y;\n',
            'fn/index.ts:1:18: Could not resolve "../shared/y"',
            "; a bundle reads only the function's source (fn/) and its installed dependencies: set source",
        ),
    ],
    ids=["not-installed", "outside-the-source"],
)
def test_an_import_esbuild_cannot_resolve_is_one_line_with_exit_code_1(
    tmp_path: Path, entry: str, where: str, hint: str
) -> None:
    files = {
        "lambdapack.toml": _BASE + "bundle = true\n",
        "fn/index.ts": entry,
        "shared/y.ts": "export const y = 1;\n",
    }
    root = write_tree(tmp_path / "project", files)
    result = cli("build", cwd=root)
    assert result.returncode == 1, result.stderr
    (error,) = _error_lines(result)
    assert error.startswith(f"lambdapack: error: f: bundling f failed: {where}{hint}"), error
    assert str(root) not in error  # the path in the project, not on the machine
    assert not (root / "dist" / "f.zip").exists()


# -- incremental builds ----------------------------------------------------------------------------


def test_an_unchanged_plan_runs_no_esbuild_and_edits_and_options_rebuild(
    golden: Path, tmp_path: Path
) -> None:
    """The second build is a no-op even with LAMBDAPACK_ESBUILD naming no file (which
    ``esbuild.executable`` refuses whenever bundling runs, as the edit shows); an edit of
    the entry and ``minify = true`` rebuild."""
    root = write_tree(tmp_path / "project", GOLDEN_FILES)
    zip_path, manifest = root / "dist" / "ts.zip", root / "dist" / "lambdapack-manifest.json"
    _ok("build", cwd=root)
    assert zip_path.read_bytes() == (golden / "dist" / "ts.zip").read_bytes()
    missing = {"LAMBDAPACK_ESBUILD": str(tmp_path / "no-such-esbuild")}

    def state() -> list[tuple[int, int, bytes]]:
        return [(p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in (zip_path, manifest)]

    before = state()
    _ok("build", cwd=root, env=missing)
    assert state() == before

    entry = root / "fn" / "src" / "index.ts"
    entry.write_text(GOLDEN_TS + "\nexport const version = 2;\n")
    refused = cli("build", cwd=root, env=missing)
    assert refused.returncode == 1, refused.stderr
    (error,) = _error_lines(refused)
    assert f"LAMBDAPACK_ESBUILD={tmp_path / 'no-such-esbuild'}: not an executable file" in error
    assert state() == before  # a failed build leaves the earlier zip

    def code_sha256() -> str:
        return str(json.loads(manifest.read_text())["artifacts"]["ts"]["code_sha256"])

    _ok("build", cwd=root)
    edited = code_sha256()
    assert edited != GOLDEN_CODE_SHA256 and "var version = 2;" in _read(zip_path, "index.js")

    (root / "lambdapack.toml").write_text(GOLDEN_CONFIG + "minify = true\n")
    _ok("build", cwd=root)
    minified = code_sha256()
    assert minified not in (edited, GOLDEN_CODE_SHA256)
    bundle = _read(zip_path, "index.js")
    assert "// fn/src/index.ts" not in bundle and "\n  " not in bundle  # esbuild --minify
    before = state()
    _ok("build", cwd=root, env=missing)
    assert state() == before


# -- esbuild's download ----------------------------------------------------------------------------


def test_esbuild_is_downloaded_once_per_cache(
    golden: Path, npm_registry: NpmRegistry, tmp_path: Path
) -> None:
    """The session's cache has esbuild since the module's first build: bundling there fetches
    nothing. A fresh cache fetches the tarball once, for every build that uses it."""
    assert os.access(_session_cache() / ESBUILD_BINARY, os.X_OK)
    first = write_tree(tmp_path / "first", GOLDEN_FILES)
    (first / "fn" / "src" / "index.ts").write_text(GOLDEN_TS + "// first\n")  # not a no-op
    fetched = npm_registry.requests.count(ESBUILD_TARBALL)
    _ok("build", cwd=first)
    assert npm_registry.requests.count(ESBUILD_TARBALL) == fetched

    cache = tmp_path / "cache"
    for name in ("second", "third"):
        project = write_tree(tmp_path / name, GOLDEN_FILES)
        (project / "fn" / "src" / "index.ts").write_text(GOLDEN_TS + f"// {name}\n")
        _ok("build", cwd=project, env={"LAMBDAPACK_CACHE_DIR": str(cache)})
    assert npm_registry.requests.count(ESBUILD_TARBALL) == fetched + 1
    assert sorted(p.name for p in (cache / "node-tools").iterdir()) == [ESBUILD_BINARY.parent.name]
    version = subprocess.run(
        [str(cache / ESBUILD_BINARY), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == esbuild.VERSION
    assert (cache / ESBUILD_BINARY).read_bytes() == (_session_cache() / ESBUILD_BINARY).read_bytes()


@pytest.fixture
def serve_esbuild() -> Iterator[Callable[[bytes | None], NpmRegistry]]:
    """Starts registries serving the given bytes (None: nothing) as the esbuild tarball."""
    servers: list[NpmRegistry] = []

    def serve(tarball: bytes | None) -> NpmRegistry:
        server = NpmRegistry(packages=())
        if tarball is None:
            del server.tarballs[ESBUILD_TARBALL]
        else:
            server.tarballs[ESBUILD_TARBALL] = tarball
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _corrupt(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


@pytest.mark.parametrize(
    ("served", "expected"),
    [
        (
            _corrupt,
            " has integrity sha512-[A-Za-z0-9+/]+=*, not the pinned "
            + re.escape(f"{esbuild.INTEGRITY['linux-x64']}; check the registry configured for npm"),
        ),
        (lambda _: None, re.escape(": HTTP 404; check npm's registry settings, or set LAMBDAPACK_ESBUILD")),
    ],
    ids=["other-bytes", "not-found"],
)
def test_a_registry_without_the_pinned_esbuild_fails_clearly(
    serve_esbuild: Callable[[bytes | None], NpmRegistry],
    npm_registry: NpmRegistry,
    tmp_path: Path,
    served: Callable[[bytes], bytes | None],
    expected: str,
) -> None:
    """A fresh cache and a registry serving a changed tarball (its integrity differs from the
    pin) or none: exit 1, one line naming the URL; no esbuild is kept, no zip written."""
    registry = serve_esbuild(served(npm_registry.tarballs[ESBUILD_TARBALL]))
    root = write_tree(tmp_path / "project", GOLDEN_FILES)
    cache = tmp_path / "cache"
    env = {"npm_config_registry": registry.url, "LAMBDAPACK_CACHE_DIR": str(cache)}
    result = cli("build", cwd=root, env=env)
    assert result.returncode == 1, result.stderr
    (error,) = _error_lines(result)
    url = registry.url.rstrip("/") + ESBUILD_TARBALL
    assert re.match(
        f"lambdapack: error: ts: .*esbuild {esbuild.VERSION} from {re.escape(url)}{expected}", error
    ), error
    assert registry.requests == [ESBUILD_TARBALL]
    assert not (cache / ESBUILD_BINARY).exists() and not (root / "dist" / "ts.zip").exists()


def test_lambdapack_esbuild_must_be_the_pinned_version(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "esbuild"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 0.27.0\n")
    fake.chmod(0o755)
    root = write_tree(tmp_path / "project", GOLDEN_FILES)
    result = cli("build", cwd=root, env={"LAMBDAPACK_ESBUILD": str(fake)})
    assert result.returncode == 1, result.stderr
    (error,) = _error_lines(result)
    assert f"LAMBDAPACK_ESBUILD={fake} is esbuild 0.27.0, not {esbuild.VERSION}" in error
    assert f"npm install esbuild@{esbuild.VERSION}" in error
    assert not (root / "dist" / "ts.zip").exists()


# -- lambdapack inspect ----------------------------------------------------------------------------


def test_inspect_shows_the_bundles_inputs_from_its_metafile(
    golden: Path, deps_project: Path, tmp_path: Path
) -> None:
    shown = _ok("inspect", "dist/ts.zip", cwd=golden)
    assert "bundle index.js: " in shown and "fn/src/index.ts" in shown and "(function code)" in shown

    shown = _ok("inspect", "dist/esm.zip", cwd=deps_project)
    lines = shown.splitlines()
    (head,) = [line for line in lines if line.startswith("bundle index.mjs: ")]
    assert head.endswith("from 4 input(s)"), head
    assert any(line.split()[:2] == ["lpfix-util", "1"] for line in lines), shown
    assert any(line.startswith("fn/node_modules/lpfix-util/index.js ") for line in lines), shown

    document = json.loads(cli("inspect", "--json", "dist/esm.zip", cwd=deps_project).stdout)
    report = document["bundle"]
    assert report["output"] == "index.mjs"
    assert {i["path"] for i in report["inputs"]} == {
        "fn/index.ts",
        "fn/legacy.cjs",
        "fn/node_modules/lpfix-util/index.js",
        "fn/node_modules/@lpfix/scoped/index.js",
    }
    assert {p["package"] for p in report["packages"]} == {"(function code)", "lpfix-util", "@lpfix/scoped"}

    out = tmp_path / "esm-meta.json"
    _ok("inspect", "dist/esm.zip", "--metafile", str(out), cwd=deps_project)
    metafile = json.loads(out.read_text())
    assert list(metafile["outputs"]) == ["index.mjs"]
    assert set(metafile["outputs"]["index.mjs"]["inputs"]) == {i["path"] for i in report["inputs"]}
    for key in (*metafile["inputs"], *metafile["outputs"]):
        assert not key.startswith("/") and ".." not in PurePosixPath(key).parts, key
    for path in (deps_project, _session_cache(), Path(tempfile.gettempdir()) / "lambdapack-"):
        assert str(path) not in out.read_text(), path


# -- a tampered dependency set in the cache --------------------------------------------------------

EDITED_ESM_ENTRY = ESM_ENTRY + "// edited\n"


def _esm_files(deps_project: Path, entry: str) -> dict[str, str | bytes]:
    """The ``esm`` function alone, with DEPS_FILES' lock and ``entry``."""
    config = 'output = "dist"\n' + _function("esm", "index.handler", extra='format = "esm"\n')
    files: dict[str, str | bytes] = {n: (deps_project / n).read_bytes() for n in DEPS_FILES}
    lock = deps_project / "fn" / "package-lock.json"
    return files | {
        "lambdapack.toml": config,
        "fn/package-lock.json": lock.read_bytes(),
        "fn/index.ts": entry,
    }


@pytest.fixture(scope="module")
def fresh_esm(
    deps_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tripwire: Tripwire,
    registry_env: dict[str, str],
) -> Path:
    """The zip of the ``esm`` function with EDITED_ESM_ENTRY, built with a fresh cache."""
    root = write_tree(
        tmp_path_factory.mktemp("bundle-fresh") / "project", _esm_files(deps_project, EDITED_ESM_ENTRY)
    )
    cache = tmp_path_factory.mktemp("fresh-cache")
    env = offline_environment(tripwire, tmp_path_factory.mktemp("uv")) | registry_env
    _ok("build", cwd=root, env=env | {"LAMBDAPACK_CACHE_DIR": str(cache)})
    return root / "dist" / "esm.zip"


@pytest.fixture
def installed_util(deps_project: Path) -> Iterator[list[Path]]:
    """lpfix-util as installed in each dependency set of the session's cache (deps_project's
    among them); whatever a test changes there is put back afterwards."""
    packages = sorted(_session_cache().glob("deps/*/site/node_modules/lpfix-util"))
    assert packages, "no dependency set in the session's cache has lpfix-util"
    saved = {package: {f.name: f.read_bytes() for f in package.iterdir()} for package in packages}
    yield packages
    for package, files in saved.items():
        for path in package.iterdir():
            if path.name not in files:
                path.unlink()
            elif path.read_bytes() != files[path.name]:
                path.write_bytes(files[path.name])


def _tampered_rebuild(
    deps_project: Path, tmp_path: Path, packages: list[Path], tamper: Callable[[Path], None]
) -> Path:
    """The ``esm`` function built, ``tamper`` applied to the installed ``packages``, the
    entry edited (EDITED_ESM_ENTRY) and the function rebuilt: its zip."""
    root = write_tree(tmp_path / "project", _esm_files(deps_project, ESM_ENTRY))
    _ok("build", cwd=root)
    for package in packages:
        tamper(package)
    (root / "fn" / "index.ts").write_text(EDITED_ESM_ENTRY)
    _ok("build", cwd=root)
    return root / "dist" / "esm.zip"


def test_a_modified_file_in_the_cached_dependency_set_is_restored_before_bundling(
    deps_project: Path, fresh_esm: Path, installed_util: list[Path], tmp_path: Path
) -> None:
    original = {package: (package / "index.js").read_bytes() for package in installed_util}

    def tamper(package: Path) -> None:
        (package / "index.js").write_text('exports.double = (x) => "tampered";\n')

    rebuilt = _tampered_rebuild(deps_project, tmp_path, installed_util, tamper)
    assert "tampered" not in _read(rebuilt, "index.mjs")
    assert rebuilt.read_bytes() == fresh_esm.read_bytes()
    restored = [p for p in installed_util if (p / "index.js").read_bytes() == original[p]]
    assert restored, "no dependency set was restored"


def test_a_redirected_package_json_in_the_cached_dependency_set_is_restored_before_bundling(
    deps_project: Path, fresh_esm: Path, installed_util: list[Path], tmp_path: Path
) -> None:
    """lpfix-util's package.json pointed at a file that is not in the set: esbuild's metafile
    lists that file (which no entry of the set describes) and not package.json (read to
    resolve, it is no input); the verified files must be put back all the same."""

    def tamper(package: Path) -> None:
        manifest = json.loads((package / "package.json").read_text())
        (package / "package.json").write_text(json.dumps({**manifest, "main": "evil.js"}))
        (package / "evil.js").write_text('exports.double = (x) => "tampered";\n')

    rebuilt = _tampered_rebuild(deps_project, tmp_path, installed_util, tamper)
    assert "tampered" not in _read(rebuilt, "index.mjs")
    assert rebuilt.read_bytes() == fresh_esm.read_bytes()
