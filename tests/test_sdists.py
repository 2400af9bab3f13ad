"""Every package that can run on the target, from PyPI: wheels up to the
runtime's exact glibc ceiling, and pure-Python sdists built on this machine
(no container, no engine). The handlers import them on the target's machine."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from conftest import cli, write_tree
from pyrun import run_handler

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _project(
    root: Path, requirements: str, app: str, *, runtime: str = "python3.11", architecture: str
) -> Path:
    return write_tree(
        root,
        {
            "lambdapack.toml": '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
            f'runtime = "{runtime}"\narchitecture = "{architecture}"\n',
            "fn/app.py": app,
            "fn/requirements.txt": requirements,
        },
    )


FUTURE_APP = """\
from builtins import bytes as newbytes
from future.utils import PY3
import future

def handler(event, context):
    return [future.__version__, PY3, list(newbytes(b"ab"))]
"""


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_a_pure_sdist_is_built_on_this_machine_without_an_engine(tmp_path: Path, architecture: str) -> None:
    """future 0.18.3 is an sdist only: built into a pure wheel on the host, with no
    Docker engine anywhere (DOCKER_HOST points at nothing)."""
    root = _project(tmp_path / "p", "future==0.18.3\n", FUTURE_APP, architecture=architecture)
    result = cli("build", cwd=root, env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert result.returncode == 0, result.stderr
    assert (
        "info [source-build] [future 0.18.3]: built from its sdist future-0.18.3.tar.gz on this machine "
        "(pure Python)" in result.stderr
    )
    with zipfile.ZipFile(root / "dist" / "fn.zip") as archive:
        names = archive.namelist()
    assert "future-0.18.3.dist-info/WHEEL" in names and "future/__init__.py" in names
    assert not any(name.endswith((".so", ".pyc")) for name in names)
    result_value = run_handler(
        root / "dist" / "fn.zip", "app.handler", {}, architecture=architecture, work=tmp_path / "run"
    )
    assert result_value == ["0.18.3", True, [97, 98]]


def test_sdists_never_refuses_a_package_without_a_wheel(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", "future==0.18.3\n", FUTURE_APP, architecture="x86_64")
    (root / "lambdapack.toml").write_text('sdists = "never"\n' + (root / "lambdapack.toml").read_text())
    result = cli("build", cwd=root)
    assert result.returncode == 1
    assert (
        "lambdapack: error: fn: no wheel of future==0.18.3 loads on python3.11 x86_64 (needs cp311 or abi3, "
        "manylinux glibc <= 2.26, x86_64); pin a version that ships such a wheel, or allow building its "
        'sdist: sdists = "pure" or "container"'
    ) in result.stderr
    assert not (root / "dist" / "fn.zip").exists()


FUTURE_SDIST = "34a17436ed1e96697a86f9de3d15a3b0be01d8bc8de9c1dffd59fb8234ed5307"


def test_a_hashed_requirements_file_gets_its_sdist_built_and_its_hashes_checked(tmp_path: Path) -> None:
    """A pip-compile style file (every pin hashed) is installed as it is, until a pin has
    no wheel: then each pin's file is chosen for the target, and must be one it lists."""
    pinned = f"future==0.18.3 --hash=sha256:{FUTURE_SDIST}\n"
    root = _project(tmp_path / "p", pinned, FUTURE_APP, architecture="arm64")
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "info [source-build] [future 0.18.3]" in result.stderr
    wrong = pinned.replace(FUTURE_SDIST[:8], "00000000")
    (root / "fn" / "requirements.txt").write_text(wrong)
    refused = cli("build", cwd=root)
    assert refused.returncode == 1
    assert (
        "lambdapack: error: fn: requirements.txt has no hash of future-0.18.3.tar.gz (future==0.18.3), the "
        "file that loads on python3.11 arm64"
    ) in refused.stderr


UJSON_APP = 'import ujson\n\ndef handler(event, context):\n    return ujson.dumps({"a": [1, 2]})\n'


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_a_release_with_only_manylinux_2_24_wheels_loads_on_python311(
    tmp_path: Path, architecture: str
) -> None:
    """ujson 5.11.0's only Linux wheels are tagged manylinux_2_24 (and 2_28): uv's
    manylinux_2_17 triple finds none, Amazon Linux 2's glibc 2.26 loads them."""
    root = _project(tmp_path / "p", "ujson==5.11.0\n", UJSON_APP, architecture=architecture)
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    machine = "x86_64" if architecture == "x86_64" else "aarch64"
    with zipfile.ZipFile(root / "dist" / "fn.zip") as archive:
        wheel = archive.read("ujson-5.11.0.dist-info/WHEEL").decode()
    assert f"Tag: cp311-cp311-manylinux_2_24_{machine}" in wheel
    locked = cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    lock = (root / "fn" / f"requirements.python3.11-{architecture}.lock.txt").read_text()
    assert f"# ujson-5.11.0-cp311-cp311-manylinux_2_24_{machine}.manylinux_2_28_{machine}.whl" in lock
    assert run_handler(
        root / "dist" / "fn.zip", "app.handler", {}, architecture=architecture, work=tmp_path / "r"
    ) == ('{"a":[1,2]}')


def test_the_ceiling_is_exact_at_2_26_and_never_above(tmp_path: Path) -> None:
    """pyzmq 27.0.1 ships manylinux_2_26 wheels (they load on python3.11); orjson 3.8.0's
    only x86_64 wheel for cp311 is manylinux_2_28 (it does not), and its sdist is Rust."""
    root = _project(
        tmp_path / "p",
        "pyzmq==27.0.1\n",
        "import zmq\n\ndef handler(e, c):\n    return zmq.pyzmq_version()\n",
        architecture="x86_64",
    )
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(root / "dist" / "fn.zip") as archive:
        assert (
            "Tag: cp311-cp311-manylinux_2_26_x86_64" in archive.read("pyzmq-27.0.1.dist-info/WHEEL").decode()
        )
    assert (
        run_handler(root / "dist" / "fn.zip", "app.handler", {}, architecture="x86_64", work=tmp_path / "r")
        == "27.0.1"
    )
    (root / "fn" / "requirements.txt").write_text("orjson==3.8.0\n")
    refused = cli("build", cwd=root)
    assert refused.returncode == 1
    assert (
        "orjson==3.8.0 has no wheel for python3.11 x86_64 and its sdist holds native code" in refused.stderr
    )
    assert 'set sdists = "container"' in refused.stderr
