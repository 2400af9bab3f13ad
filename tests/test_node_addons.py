"""A Node.js package whose native addon has no prebuilt binary (posix 4.2.0:
a binding.gyp and nan, compiled by npm's implicit `node-gyp rebuild`) is
compiled in the runtime's Node.js build image with `sdists = "container"`,
and the handler calls it on the target's machine: the host's Node.js 20 for
x86_64, Node.js 20 under qemu (the arm64 build image's) for arm64."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import noderun
from conftest import cli, write_tree
from lambdapack import elf

pytestmark = [pytest.mark.engine, pytest.mark.network, pytest.mark.slow]

APP = """\
const posix = require("posix");
exports.handler = async () => {
  const limit = posix.getrlimit("nofile");
  return { soft: typeof limit.soft, hard: typeof limit.hard, pid: posix.getpgid(0) > 0 };
};
"""


def _project(root: Path, architecture: str, policy: str) -> Path:
    return write_tree(
        root,
        {
            "lambdapack.toml": f'sdists = "{policy}"\n[functions.fn]\nsource = "fn"\n'
            f'handler = "index.handler"\nruntime = "nodejs20.x"\narchitecture = "{architecture}"\n',
            "fn/index.js": APP,
            "fn/package.json": json.dumps(
                {"name": "fn", "version": "1.0.0", "dependencies": {"posix": "4.2.0"}}
            ),
        },
    )


def _run_arm64(zip_path: Path, work: Path, docker_host: str) -> object:
    """The handler under Node.js 20 for arm64 (the arm64 build image's, run by qemu)."""
    import docker

    task = work / "task"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    (work / "driver.mjs").write_text(noderun._DRIVER)
    (work / "event.json").write_text("{}")
    client = docker.DockerClient(base_url=docker_host)
    output = client.containers.run(
        "public.ecr.aws/sam/build-nodejs20.x:latest-arm64",
        ["node", "/opt/run/driver.mjs", "/var/task", "index.handler", "/opt/run/event.json", noderun._MARKER],
        platform="linux/arm64",
        network_mode="none",
        volumes={
            str(task): {"bind": "/var/task", "mode": "ro"},
            str(work): {"bind": "/opt/run", "mode": "ro"},
        },
        working_dir="/var/task",
        remove=True,
    ).decode()
    lines = [line for line in output.splitlines() if line.startswith(noderun._MARKER)]
    assert lines, output
    return json.loads(lines[-1][len(noderun._MARKER) :])


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_an_addon_without_binaries_is_compiled_in_the_build_image(
    docker_host: str, tmp_path: Path, architecture: str
) -> None:
    root = _project(tmp_path / "p", architecture, "container")
    locked = cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    image = f"public.ecr.aws/sam/build-nodejs20.x:latest-{architecture}"
    assert f"info [source-build] posix@4.2.0: native addon compiled in {image}" in result.stderr
    zip_path = root / "dist" / "fn.zip"
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        addon = archive.read("node_modules/posix/build/Release/posix.node")
    # only the addon of node-gyp's build directory: no objects, Makefiles or config.gypi with paths
    assert [n for n in names if "/build/" in n] == ["node_modules/posix/build/Release/posix.node"]
    assert elf.parse(addon).machine == {"x86_64": 62, "arm64": 183}[architecture]
    expected = {"soft": "number", "hard": "number", "pid": True}
    if architecture == "x86_64":
        assert noderun.run_handler(
            zip_path, "index.handler", {}, architecture="x86_64", work=tmp_path / "run"
        ) == (expected)
    else:
        assert _run_arm64(zip_path, tmp_path / "run", docker_host) == expected


def test_without_container_builds_the_addon_is_an_error_naming_the_key(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "x86_64", "pure")
    assert cli("lock", cwd=root).returncode == 0
    result = cli("build", cwd=root)
    assert result.returncode == 1
    assert "posix@4.2.0: needs its install script to build or download a native addon" in result.stderr
    assert 'sdists = "container"' in result.stderr
