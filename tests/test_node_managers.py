"""lambdapack.node.managers: pnpm and yarn locks installed for a Lambda target.

The network tests make a small project (sharp, whose native parts are
per-platform optional packages, plus uuid and a devDependency), write each
lock with the real pinned tool, install it for arm64 and for x64 and compare
the installed (name, version) pairs with what npm installs for the same pins
with ``--os linux --cpu <cpu> --libc glibc --omit=dev``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import write_tree
from lambdapack.errors import InstallError
from lambdapack.node import managers, target
from lambdapack.node.managers import (
    PNPM_VERSION,
    YARN_BERRY_VERSION,
    YARN_CLASSIC_VERSION,
    install,
    lock_kind,
    prune_foreign,
)
from lambdapack.node.tools import NodeTools, find

PACKAGE_JSON = {
    "name": "fn",
    "version": "1.0.0",
    "private": True,
    "dependencies": {"sharp": "0.33.5", "uuid": "9.0.1"},
    "devDependencies": {"left-pad": "1.3.0"},
}
LOCKS = {"pnpm": "pnpm-lock.yaml", "yarn-classic": "yarn.lock", "yarn-berry": "yarn.lock"}
TOOLS = {
    "pnpm": ("pnpm", PNPM_VERSION, "bin/pnpm.cjs"),
    "yarn-classic": ("yarn", YARN_CLASSIC_VERSION, "bin/yarn.js"),
    "yarn-berry": ("@yarnpkg/cli-dist", YARN_BERRY_VERSION, "bin/yarn.js"),
}
#: How each tool writes a lock (in a throwaway copy of the project).
LOCK_COMMANDS = {
    "pnpm": ["install", "--lockfile-only", "--ignore-scripts"],
    "yarn-classic": [
        "install",
        "--ignore-scripts",
        "--ignore-engines",
        "--no-bin-links",
        "--non-interactive",
    ],
    "yarn-berry": ["install", "--mode=update-lockfile"],
}
FOREIGN_WORDS = ("darwin", "win32", "musl", "wasm", "freebsd", "s390x", "linux-arm-", "linux-arm/")


# -- offline -------------------------------------------------------------------------------------


def test_lock_kind(tmp_path: Path) -> None:
    assert lock_kind(tmp_path) is None
    (tmp_path / "yarn.lock").write_text('# yarn lockfile v1\n\n\nuuid@9.0.1:\n  version "9.0.1"\n')
    assert lock_kind(tmp_path) == "yarn-classic"
    (tmp_path / "yarn.lock").write_text(
        '# generated\n\n__metadata:\n  version: 8\n  cacheKey: 10c0\n\n"uuid@npm:9.0.1":\n'
    )
    assert lock_kind(tmp_path) == "yarn-berry"
    (tmp_path / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    assert lock_kind(tmp_path) == "pnpm"


def _package(node_modules: Path, name: str, version: str = "1.0.0", **fields: object) -> None:
    write_tree(
        node_modules / name, {"package.json": json.dumps({"name": name, "version": version, **fields})}
    )


def test_prune_foreign_applies_npm_rules_and_removes_what_only_foreign_packages_needed(
    tmp_path: Path,
) -> None:
    project = write_tree(tmp_path, {"package.json": json.dumps({"dependencies": {"native": "1"}})})
    nm = project / "node_modules"
    opt = {
        "native-linux-arm64-gnu": "1",
        "native-linux-arm64-musl": "1",
        "native-darwin-arm64": "1",
        "native-linux-x64-gnu": "1",
        "native-wasm32": "1",
    }
    _package(nm, "native", dependencies={"shared": "1"}, optionalDependencies=opt)
    _package(nm, "shared")
    _package(nm, "native-linux-arm64-gnu", os=["linux"], cpu=["arm64"], libc=["glibc"])
    _package(nm, "native-linux-arm64-musl", os=["linux"], cpu=["arm64"], libc=["musl"])
    _package(nm, "native-darwin-arm64", os=["darwin"], cpu=["arm64"])
    _package(nm, "native-linux-x64-gnu", os="linux", cpu="x64", libc="glibc")
    _package(nm, "native-wasm32", cpu=["wasm32"], dependencies={"@emnapi/runtime": "1"})
    _package(nm, "@emnapi/runtime", dependencies={"tslib": "2"})
    _package(nm, "tslib", "2.0.0")
    _package(nm, "not-windows", os=["!win32"])  # unreachable from the start: left alone
    _package(nm / "native" / "node_modules", "nested-musl", libc=["musl"])

    removed = prune_foreign(nm, cpu="arm64")

    assert removed == [
        "@emnapi/runtime@1.0.0",
        "native-darwin-arm64@1.0.0",
        "native-linux-arm64-musl@1.0.0",
        "native-linux-x64-gnu@1.0.0",
        "native-wasm32@1.0.0",
        "nested-musl@1.0.0",
        "tslib@2.0.0",
    ]
    left = sorted(p.name for p in nm.iterdir())
    assert left == ["native", "native-linux-arm64-gnu", "not-windows", "shared"]  # empty @emnapi went too
    assert not (nm / "native" / "node_modules" / "nested-musl").exists()
    assert prune_foreign(nm, cpu="arm64") == []


def test_allows_follows_npm_install_checks() -> None:
    allows = target.allows
    assert allows(None, "linux") and allows([], "linux") and allows(["any"], "x64")
    assert allows(["!win32"], "linux") and not allows(["!linux"], "linux")
    assert allows(["linux", "darwin"], "linux") and not allows(["darwin"], "linux")
    assert not allows(["linux", "!linux"], "linux")
    assert allows("glibc", "glibc") and not allows("musl", "glibc")


def test_the_project_yarnrc_keeps_its_settings_but_not_the_target(tmp_path: Path) -> None:
    (tmp_path / ".yarnrc.yml").write_text(
        "nodeLinker: pnp\nsupportedArchitectures:\n  os:\n    - darwin\n  cpu: [arm64]\n"
        'npmRegistryServer: "https://registry.example"\nyarnPath: .yarn/releases/yarn-4.cjs\n'
        "npmScopes:\n  acme:\n    npmAlwaysAuth: true\n"
    )
    rc = managers._berry_rc(tmp_path, "x64")
    assert rc == (
        'npmRegistryServer: "https://registry.example"\n'
        "npmScopes:\n  acme:\n    npmAlwaysAuth: true\n"
        "supportedArchitectures:\n  os: [linux]\n  cpu: [x64]\n  libc: [glibc]\n"
    )


# -- with the npm registry -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tools() -> NodeTools:
    try:
        return find(os.environ)
    except Exception as exc:  # noqa: BLE001 - any reason to have no node skips these tests
        pytest.skip(f"no Node.js: {exc}")


@pytest.fixture(scope="module")
def tool_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("node-tools")


def _env(tools: NodeTools, home: Path) -> dict[str, str]:
    env = tools.env(
        {k: v for k, v in os.environ.items() if not k.lower().startswith(("npm_config_", "yarn_"))}
    )
    home.mkdir(parents=True, exist_ok=True)
    return env | {
        "HOME": str(home),
        "npm_config_cache": str(home / "npm-cache"),
        "YARN_ENABLE_TELEMETRY": "0",
    }


def _check(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"$ {' '.join(command)}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def locked(tools: NodeTools, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A directory per lock kind holding package.json and the lock the real tool wrote."""
    base = tmp_path_factory.mktemp("locked")
    env = _env(tools, base / "home")
    prefix = base / "tools"
    _check(
        tools.npm(
            "install", "--prefix", str(prefix), "--no-save", "--ignore-scripts",
            *(f"{package}@{version}" for package, version, _ in TOOLS.values()),
        ),
        base, env,
    )  # fmt: skip
    made: dict[str, Path] = {}
    for kind, (package, _, entry) in TOOLS.items():
        work = write_tree(base / f"{kind}-work", {"package.json": json.dumps(PACKAGE_JSON, indent=2)})
        if kind == "yarn-berry":
            (work / "yarn.lock").touch()
        cli = prefix / "node_modules" / package / entry
        _check([str(tools.node), str(cli), *LOCK_COMMANDS[kind]], work, env | {"YARN_IGNORE_PATH": "1"})
        # As a user has it: the original package.json (yarn berry rewrites it) and the lock.
        made[kind] = write_tree(base / kind, {"package.json": json.dumps(PACKAGE_JSON, indent=2)})
        shutil.copy2(work / LOCKS[kind], made[kind] / LOCKS[kind])
    return made


@pytest.fixture(scope="module")
def npm_sets(tools: NodeTools, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[str, str]]]:
    """What npm installs for the same pins, per cpu."""
    base = tmp_path_factory.mktemp("npm")
    env = _env(tools, base / "home")
    project = write_tree(base / "project", {"package.json": json.dumps(PACKAGE_JSON)})
    _check(tools.npm("install", "--package-lock-only", "--ignore-scripts"), project, env)
    sets = {}
    for cpu in ("arm64", "x64"):
        shutil.rmtree(project / "node_modules", ignore_errors=True)
        flags = ["--os", "linux", "--cpu", cpu, "--libc", "glibc", "--omit=dev", "--ignore-scripts"]
        _check(tools.npm("ci", *flags), project, env)
        sets[cpu] = _installed(project / "node_modules")
    return sets


def _installed(node_modules: Path) -> set[tuple[str, str]]:
    found = set()
    for manifest in node_modules.rglob("package.json"):
        package = manifest.parent
        owner = package.parent if not package.parent.name.startswith("@") else package.parent.parent
        if owner.name != "node_modules" or package.name.startswith("."):
            continue
        data = json.loads(manifest.read_text("utf-8"))
        found.add((data["name"], data["version"]))
    return found


def _stage(source: Path, destination: Path, extra: dict[str, str] | None = None) -> Path:
    shutil.copytree(source, destination)
    if extra:
        write_tree(destination, extra)
    return destination


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("cpu", ["arm64", "x64"])
@pytest.mark.parametrize("kind", ["pnpm", "yarn-classic", "yarn-berry"])
def test_install_gives_npm_set_for_the_target(
    kind: str,
    cpu: str,
    locked: dict[str, Path],
    npm_sets: dict[str, set[tuple[str, str]]],
    tools: NodeTools,
    tool_cache: Path,
    tmp_path: Path,
) -> None:
    other = "x64" if cpu == "arm64" else "arm64"
    # Project settings that ask for another platform must not win over the target.
    pnpm_wants_darwin = dict(
        PACKAGE_JSON, pnpm={"supportedArchitectures": {"os": ["darwin"], "libc": ["musl"]}}
    )
    extra = {
        "pnpm": {
            ".npmrc": "node-linker=isolated\n",
            "package.json": json.dumps(pnpm_wants_darwin, indent=2),
            "pnpm-workspace.yaml": "supportedArchitectures:\n  os: [win32]\n  cpu: [x64]\n",
        },
        "yarn-classic": {},
        "yarn-berry": {
            ".yarnrc.yml": "nodeLinker: pnp\nsupportedArchitectures:\n  os: [darwin]\n  cpu: [arm64]\n"
        },
    }[kind]
    stage = _stage(locked[kind], tmp_path / "stage", extra)
    before = {p.name: p.read_bytes() for p in stage.iterdir()}
    assert lock_kind(stage) == kind

    install(kind, stage, cpu=cpu, tools=tools, tool_cache=tool_cache, environ=os.environ)

    nm = stage / "node_modules"
    got = _installed(nm)
    assert got == npm_sets[cpu]
    names = {name for name, _ in got}
    assert {f"@img/sharp-linux-{cpu}", f"@img/sharp-libvips-linux-{cpu}", "sharp", "uuid"} <= names
    assert not names & {f"@img/sharp-linux-{other}", f"@img/sharp-libvips-linux-{other}", "left-pad"}
    assert not [n for n in names if any(word in n + "/" for word in FOREIGN_WORDS)]
    paths = list(nm.rglob("*"))
    assert not [p for p in paths if p.is_symlink()]
    assert not [p for p in paths if p.name.startswith(".") and p.parent.name == "node_modules"]
    assert not [p for p in paths if p.name == ".bin"]
    # The stage is as it was, plus node_modules (the lock untouched, no state of the tools).
    assert {p.name: p.read_bytes() for p in stage.iterdir() if p.name != "node_modules"} == before


@pytest.mark.network
@pytest.mark.parametrize("kind", ["pnpm", "yarn-classic", "yarn-berry"])
def test_a_lock_that_does_not_match_package_json_is_an_error(
    kind: str, locked: dict[str, Path], tools: NodeTools, tool_cache: Path, tmp_path: Path
) -> None:
    stage = _stage(locked[kind], tmp_path / "stage")
    changed = dict(PACKAGE_JSON, dependencies={"sharp": "0.33.5", "uuid": "9.0.0"})
    (stage / "package.json").write_text(json.dumps(changed, indent=2))
    lock = (stage / LOCKS[kind]).read_bytes()

    with pytest.raises(InstallError) as caught:
        install(kind, stage, cpu="arm64", tools=tools, tool_cache=tool_cache, environ=os.environ)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{LOCKS[kind]} does not match package.json; run `")
    assert (stage / LOCKS[kind]).read_bytes() == lock


@pytest.mark.network
def test_managers_are_installed_once_into_the_tool_cache(
    locked: dict[str, Path], tools: NodeTools, tool_cache: Path, tmp_path: Path
) -> None:
    install("pnpm", _stage(locked["pnpm"], tmp_path / "a"), cpu="x64", tools=tools, tool_cache=tool_cache,
            environ=os.environ)  # fmt: skip
    home = tool_cache / f"pnpm-{PNPM_VERSION}"
    entry = home / "node_modules" / "pnpm" / "bin" / "pnpm.cjs"
    assert entry.is_file()
    stamp = entry.stat().st_mtime_ns
    install("pnpm", _stage(locked["pnpm"], tmp_path / "b"), cpu="x64", tools=tools, tool_cache=tool_cache,
            environ=os.environ)  # fmt: skip
    assert entry.stat().st_mtime_ns == stamp
    assert not [p for p in tool_cache.iterdir() if p.name.startswith(".pnpm-")]  # no temporary left


def test_a_symlink_out_of_node_modules_is_an_error(tmp_path: Path) -> None:
    nm = tmp_path / "stage" / "node_modules"
    _package(nm, "inside")
    (tmp_path / "elsewhere").mkdir()
    (nm / "linked").symlink_to(nm / "inside", target_is_directory=True)
    managers.materialize_symlinks(nm)
    assert not (nm / "linked").is_symlink() and (nm / "linked" / "package.json").is_file()
    (nm / "outside").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(InstallError, match=r"node_modules/outside is a symlink to .*elsewhere, outside"):
        managers.materialize_symlinks(nm)


@pytest.mark.network
@pytest.mark.slow
def test_pnpm_and_yarn_locks_build_the_same_zip_as_the_npm_lock(
    locked: dict[str, Path], tmp_path: Path
) -> None:
    """The same pins through each lock format give the same zip bytes (built by lambdapack)."""
    from conftest import cli

    handler = 'const sharp = require("sharp");\nexports.handler = async () => typeof sharp;\n'
    hashes = {}
    for kind in ("npm", "pnpm", "yarn-classic", "yarn-berry"):
        project = tmp_path / kind
        function = project / "functions" / "fn"
        if kind == "npm":
            write_tree(function, {"package.json": json.dumps(PACKAGE_JSON, indent=2)})
        else:
            shutil.copytree(locked[kind], function)
        write_tree(
            project,
            {
                "functions/fn/index.js": handler,
                "lambdapack.toml": '[functions.fn]\nsource = "functions/fn"\nhandler = "index.handler"\n'
                'runtime = "nodejs20.x"\narchitecture = "arm64"\n',
            },
        )
        if kind == "npm":
            assert cli("lock", cwd=project).returncode == 0
        built = cli("build", "--locked", cwd=project)
        assert built.returncode == 0, built.stderr
        manifest = json.loads((project / "dist" / "lambdapack-manifest.json").read_text())
        hashes[kind] = manifest["artifacts"]["fn"]["code_sha256"]
    assert len(set(hashes.values())) == 1, hashes
