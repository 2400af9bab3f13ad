"""Node.js installs offline: the real npm against the loopback registry of
tests/npm_registry.py (``lpfix-*`` packages with hand-made ELF addons), so
that lambdapack.node's install, lock, ecosystem, checks and ownership run
without the network (the network versions: test_node_targets.py and
test_node_cli.py). Each test builds a project with ``lambdapack lock`` and
``lambdapack build``: per-platform optional packages and ``prebuilds/`` for
each architecture, packages that need their install script, a lock lacking
the target's platform packages, ``allow_scripts``, byte-identical rebuilds,
and ``lambdapack check`` of a zip made from the same packages by another tool.
The lock lifecycle, ``file:`` packages, npm workspaces and a Node.js layer are
in test_offline_node_locks.py, which uses the helpers here.

"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from npm_registry import (  # noqa: F401 - the fixtures
    MARKER,
    PACKAGES,
    NpmRegistry,
    musl_addon,
    npm_registry_fixture,
    registry_env_fixture,
    use_registry_fixture,
)

from conftest import EM_AARCH64, EM_X86_64, Tripwire, cli, offline_environment, run_cli, write_tree
from lambdapack import elf

ARCHITECTURES = ("arm64", "x86_64")
CPU = {"arm64": "arm64", "x86_64": "x64"}
MACHINE = {"arm64": EM_AARCH64, "x86_64": EM_X86_64}
INDEX = """\
"use strict";
const { double } = require("lpfix-util");
exports.handler = async (event) => double(event.x);
"""


def _package(name: str, deps: Mapping[str, str] | None = None, **fields: object) -> str:
    manifest: dict[str, object] = {"name": name, "version": "1.0.0", "private": True, **fields}
    if deps:
        manifest["dependencies"] = dict(deps)
    return json.dumps(manifest, indent=2) + "\n"


def _function(name: str, source: str, architecture: str = "x86_64", extra: str = "") -> str:
    return (
        f'\n[functions.{name}]\nsource = "{source}"\nhandler = "index.handler"\n'
        f'runtime = "nodejs20.x"\narchitecture = "{architecture}"\n{extra}'
    )


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


def _packages(zip_path: Path) -> set[str]:
    """Every installed package in a zip (the directory of each ``node_modules/…/package.json``)."""
    found = set()
    for name in _names(zip_path):
        match = re.search(r"(?:^|/)node_modules/((?:@[^/]+/)?[^/]+)/package\.json$", name)
        if match:
            found.add(match.group(1))
    return found


def _error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error:")]


def _ok(*args: str, cwd: Path, env: Mapping[str, str | None] | None = None) -> str:
    result = cli(*args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stderr


# -- per-platform packages and prebuilds, for each architecture -------------------------------------

TARGETS_FILES = {
    "fn/package.json": _package(
        "fn",
        {
            "lpfix-util": "^1.0.0",
            "lpfix-native": "1.0.0",
            "lpfix-prebuilds": "1.0.0",
            "lpfix-postinstall": "1.0.0",
        },
        devDependencies={"lpfix-dev": "1.0.0"},
    ),
    "fn/index.js": INDEX,
}


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
    tripwire: Tripwire,
    registry_env: dict[str, str],
) -> Iterator[Path]:
    """One project of three functions with the same code and lock (for arm64,
    for x86_64, and for x86_64 with ``allow_scripts``), locked and built once
    for the module, behind the offline guard's proxies."""
    root = tmp_path_factory.mktemp("node-offline") / "project"
    config = 'output = "dist"\n' + "".join(_function(f"fn-{a}", "fn", a) for a in ARCHITECTURES)
    config += _function("scripts", "fn", "x86_64", 'allow_scripts = ["lpfix-postinstall"]\n')
    write_tree(root, {"lambdapack.toml": config, **TARGETS_FILES})
    env = offline_environment(tripwire, tmp_path_factory.mktemp("uv")) | registry_env
    tripwire.take()
    _ok("lock", cwd=root, env=env)
    _ok("build", cwd=root, env=env)
    assert tripwire.take() == [], "npm went through the proxy"
    yield root


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_zip_holds_only_the_targets_platform_package_and_prebuilds(built: Path, architecture: str) -> None:
    cpu = CPU[architecture]
    zip_path = built / "dist" / f"fn-{architecture}.zip"
    names = _names(zip_path)
    assert _packages(zip_path) == {
        "lpfix-util",
        "@lpfix/scoped",
        "lpfix-native",
        f"lpfix-native-linux-{cpu}-gnu",
        "lpfix-prebuilds",
        "lpfix-postinstall",
    }
    assert f"node_modules/lpfix-postinstall/{MARKER}" not in names  # no script ran
    assert sorted(n for n in names if "/prebuilds/" in n) == [
        f"node_modules/lpfix-prebuilds/prebuilds/linux-{cpu}/x.node"
    ]
    addons = [n for n in names if n.endswith(".node")]
    assert sorted(addons) == [
        f"node_modules/lpfix-native-linux-{cpu}-gnu/lpfix-native.linux-{cpu}-gnu.node",
        f"node_modules/lpfix-prebuilds/prebuilds/linux-{cpu}/x.node",
    ]
    with zipfile.ZipFile(zip_path) as zf:
        for name in addons:
            info = elf.parse(zf.read(name))
            assert (info.machine, info.needed) == (MACHINE[architecture], ("libc.so.6",)), name
        infos = zf.infolist()
    assert not [n for n in names if "/.bin/" in n or n.endswith(".package-lock.json")], names
    assert not [n for n in names if re.search(r"musl|darwin|lpfix-dev", n)], names
    assert not [i.filename for i in infos if stat.S_ISLNK(i.external_attr >> 16)]
    assert {"index.js", "package.json"} <= set(names) and "package-lock.json" not in names

    checked = cli("check", str(zip_path), cwd=built)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ": ok" in checked.stdout + checked.stderr


def test_the_lock_records_every_platform(built: Path) -> None:
    """npm 10+ writes every platform's optional packages into the lock: one lock serves both targets."""
    packages = json.loads((built / "fn" / "package-lock.json").read_text())["packages"]
    assert {
        k.removeprefix("node_modules/") for k in packages if k.startswith("node_modules/lpfix-native-")
    } == {
        "lpfix-native-linux-x64-gnu",
        "lpfix-native-linux-arm64-gnu",
        "lpfix-native-linux-arm64-musl",
        "lpfix-native-darwin-arm64",
    }
    assert packages["node_modules/lpfix-dev"]["dev"] is True
    assert "current" in _ok("lock", "--check", cwd=built)


def _drop_linux_platform_packages(lock_path: Path) -> list[str]:
    """Remove the ``lpfix-native-linux-*`` entries and mentions, as an old npm on macOS wrote the lock."""
    lock = json.loads(lock_path.read_text("utf-8"))
    packages = lock["packages"]
    dropped = [key for key in packages if key.startswith("node_modules/lpfix-native-linux-")]
    for key in dropped:
        del packages[key]
    for entry in packages.values():
        optional = entry.get("optionalDependencies")
        if isinstance(optional, dict):
            entry["optionalDependencies"] = {n: v for n, v in optional.items() if "-linux-" not in n}
    lock_path.write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    return dropped


def test_lock_without_the_linux_platform_packages_fails_clearly(built: Path, tmp_path: Path) -> None:
    project = shutil.copytree(built, tmp_path / "project")
    earlier = (project / "dist" / "fn-arm64.zip").read_bytes()
    dropped = _drop_linux_platform_packages(project / "fn" / "package-lock.json")
    assert "node_modules/lpfix-native-linux-arm64-gnu" in dropped

    result = cli("build", "fn-arm64", cwd=project)
    assert result.returncode == 1, result.stderr
    (error,) = _error_lines(result)
    assert "fn/package-lock.json: has no entry for lpfix-native-linux-arm64-gnu " in error
    assert "(the linux arm64 binaries of lpfix-native@1.0.0)" in error
    assert "musl" not in error  # the musl package is not the target's
    assert "delete package-lock.json and run `lambdapack lock`" in error
    assert (project / "dist" / "fn-arm64.zip").read_bytes() == earlier


def test_same_bytes_from_another_directory_cache_umask_and_time_zone(built: Path, tmp_path: Path) -> None:
    """The arm64 function again, in another directory with its own npm cache
    (npm downloads again), another umask and time zone, in another process:
    the same zip as the module's build. A naive zip of the two trees differs."""
    project = write_tree(
        tmp_path / "elsewhere" / "project",
        {
            "lambdapack.toml": _function("fn-arm64", "fn", "arm64"),
            **{
                f"fn/{n}": (built / "fn" / n).read_bytes()
                for n in ("package.json", "package-lock.json", "index.js")
            },
        },
    )
    os.utime(project / "fn" / "index.js", (1_000_000_000, 1_000_000_000))
    cache = tmp_path / "cache"
    env = {"TZ": "Pacific/Kiritimati", "LAMBDAPACK_CACHE_DIR": str(cache)}
    result = run_cli("build", cwd=project, umask=0o077, env=env)
    assert result.returncode == 0, result.stderr
    assert (cache / "npm" / "_cacache").is_dir(), "npm did not use this build's own cache"
    data = (project / "dist" / "fn-arm64.zip").read_bytes()
    assert data == (built / "dist" / "fn-arm64.zip").read_bytes()
    manifest = json.loads((project / "dist" / "lambdapack-manifest.json").read_text())
    assert (
        manifest["artifacts"]["fn-arm64"]["code_sha256"]
        == base64.b64encode(hashlib.sha256(data).digest()).decode()
    )

    naive = []
    for i, root in enumerate((built, project)):
        with zipfile.ZipFile(tmp_path / f"naive{i}.zip", "w") as zf:
            for path in sorted((root / "fn").rglob("*")):
                zf.write(path, path.relative_to(root / "fn").as_posix())
        naive.append((tmp_path / f"naive{i}.zip").read_bytes())
    assert naive[0] != naive[1], "a naive zip should differ, or this test proves nothing"


# -- install scripts -----------------------------------------------------------------------------


def test_a_package_that_needs_its_install_script_is_one_error_naming_it(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": _function("fn", "fn", "arm64"),
            "fn/package.json": _package("fn", {"lpfix-util": "1.0.0", "lpfix-gyp": "1.0.0"}),
            "fn/index.js": INDEX,
        },
    )
    _ok("lock", cwd=root)
    lock = json.loads((root / "fn" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/lpfix-gyp"]["hasInstallScript"] is True
    result = cli("build", cwd=root)
    assert result.returncode == 1, result.stderr
    (error,) = _error_lines(result)
    assert "lpfix-gyp@1.0.0: needs its install script" in error
    assert "linux arm64" in error and "lambdapack runs no dependency install scripts" in error
    assert "lpfix-util" not in error
    assert not (root / "dist" / "fn.zip").exists()


def test_postinstall_runs_only_for_packages_in_allow_scripts(built: Path) -> None:
    """The same lock for x86_64 without and with ``allow_scripts = ["lpfix-postinstall"]``:
    its postinstall script's marker is in the second zip only."""
    marker = f"node_modules/lpfix-postinstall/{MARKER}"
    plain, allowed = built / "dist" / "fn-x86_64.zip", built / "dist" / "scripts.zip"
    assert marker not in _names(plain)
    with zipfile.ZipFile(allowed) as zf:
        assert zf.read(marker) == b"linux x64\n"  # run by the host's node
    assert set(_names(allowed)) - set(_names(plain)) >= {marker}
    checked = cli("check", "scripts", cwd=built)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    extra = sorted(set(_names(allowed)) - set(_names(plain)) - {marker})
    assert not extra, extra  # npm rebuild links no .bin into the zip


def test_registry_serves_packuments_and_tarballs_npm_can_verify(npm_registry: NpmRegistry) -> None:
    """What npm relies on, checked without npm: a scoped packument, its tarball
    at the advertised URL matching the integrity, ``package/`` entries with
    fixed times, npm's implicit install script for a binding.gyp, a 404."""
    with urllib.request.urlopen(npm_registry.url + "@lpfix%2fscoped") as response:
        packument = json.load(response)
    version = packument["versions"][packument["dist-tags"]["latest"]]
    with urllib.request.urlopen(version["dist"]["tarball"]) as response:
        data = response.read()
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert version["dist"]["integrity"] == f"sha512-{digest}"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["package/index.js", "package/package.json"]
    assert {m.mtime for m in members} == {499162500}
    gyp = json.loads(npm_registry.packuments["lpfix-gyp"])["versions"]["1.0.0"]
    assert gyp["scripts"] == {"install": "node-gyp rebuild"} and gyp["gypfile"] is True  # as npm publish does
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(npm_registry.url + "lpfix-nonexistent")


# -- lambdapack check of a zip another tool made ------------------------------------------------------


def test_check_finds_musl_macos_and_unbuilt_addons_in_a_foreign_zip(tmp_path: Path) -> None:
    """What ``npm install`` on a Mac or in Alpine would ship, zipped by hand from
    the registry's packages: checks.py's musl and unbuilt-addon findings, owned
    by the right packages (ownership.py), besides the generic Mach-O error."""
    by_name = {p.name: p for p in PACKAGES}
    zip_path = tmp_path / "foreign.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:

        def add(name: str, data: str | bytes) -> None:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100644 << 16
            zf.writestr(info, data)

        add("index.js", 'exports.handler = async () => require("lpfix-native");\n')
        add("package.json", _package("fn"))
        names = ("lpfix-native", "lpfix-native-linux-arm64-musl", "lpfix-native-darwin-arm64", "lpfix-gyp")
        for name in names:
            package = by_name[name]
            add(f"node_modules/{name}/package.json", json.dumps(package.package_json))
            for file, content in package.files.items():
                add(f"node_modules/{name}/{file}", content)
        nested = "node_modules/lpfix-native/node_modules/@lpfix/scoped"  # a nested, scoped package
        add(f"{nested}/package.json", json.dumps(by_name["@lpfix/scoped"].package_json))
        add(f"{nested}/x.node", musl_addon(EM_AARCH64))
        add("node_modules/.bin/lpfix-marker", "#!/usr/bin/env node\n")  # npm's links and state
        add("node_modules/.package-lock.json", "{}")

    args = ("--runtime", "nodejs20.x", "--architecture", "arm64", "--handler", "index.handler", "--json")
    result = cli("check", str(zip_path), *args, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    (report,) = json.loads(result.stdout)["packages"]
    found = {(f["severity"], f["check"], f["path"], f["distribution"]) for f in report["findings"]}
    musl = "node_modules/lpfix-native-linux-arm64-musl/lpfix-native.linux-arm64-musl.node"
    assert found == {
        ("error", "architecture", "node_modules/lpfix-native-darwin-arm64/lpfix-native.darwin-arm64.node",
         "lpfix-native-darwin-arm64 1.0.0"),
        ("error", "libc", musl, "lpfix-native-linux-arm64-musl 1.0.0"),
        ("error", "shared-library", musl, "lpfix-native-linux-arm64-musl 1.0.0"),
        ("error", "libc", f"{nested}/x.node", "@lpfix/scoped 1.0.0"),
        ("error", "shared-library", f"{nested}/x.node", "@lpfix/scoped 1.0.0"),
        ("warning", "architecture", "node_modules/lpfix-gyp/", "lpfix-gyp 1.0.0"),
        ("warning", "hygiene", "node_modules/.bin/lpfix-marker", None),
    }  # fmt: skip
