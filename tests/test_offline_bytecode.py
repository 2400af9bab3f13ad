"""``bytecode = true`` in builds: functions and layers ship .pyc files compiled
by the target's Python, for the paths Lambda imports from, the same bytes from
any directory and hash seed, used by a read-only import, cached and no-op'd;
no interpreter of the target's version is the documented error."""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import cli, offline_requirements
from lambdapack.python.bytecode import find_interpreter

CONFIG = """\
runtime = "python3.11"
architecture = "x86_64"
bytecode = true

[layers.common]
requirements = "layers/common/requirements.txt"

[functions.api]
source = "api"
handler = "app.handler"
layers = ["common"]

[functions.plain]
source = "api"
handler = "app.handler"
bytecode = false
requirements = "api/requirements.txt"
"""
APP = """import lpfix_base
from helpers import label


def handler(event, context):
    return label(lpfix_base.__name__)
"""
FILES = {
    "layers/common/requirements.txt": offline_requirements("lpfix_base==1.0.0"),
    "api/requirements.txt": offline_requirements("lpfix_base==1.0.0"),
    "api/app.py": APP,
    "api/helpers.py": 'def label(x):\n    return f"from {x}"\n',
}


def _zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _code_filename(pyc: bytes) -> str:
    # same Python as the target here (3.11): the code object loads with this process's marshal
    code = marshal.loads(pyc[16:])
    filename: str = code.co_filename
    return filename


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Path:
    root = make_project(CONFIG, FILES)
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def test_functions_and_layers_ship_target_bytecode_for_lambdas_paths(project: Path) -> None:
    api, layer, plain = (_zip(project / "dist" / f"{n}.zip") for n in ("api", "common", "plain"))
    assert _code_filename(api["__pycache__/app.cpython-311.pyc"]) == "/var/task/app.py"
    assert "__pycache__/helpers.cpython-311.pyc" in api
    pyc = "python/lpfix_base/__pycache__/__init__.cpython-311.pyc"
    assert _code_filename(layer[pyc]) == "/opt/python/lpfix_base/__init__.py"
    assert layer[pyc][4:8] == b"\x01\x00\x00\x00"  # PEP 552: hash-based, unchecked
    assert all(n.endswith(".pyc") or f"{n}c" not in plain for n in plain)
    assert not [n for n in plain if n.endswith(".pyc")]  # bytecode = false on this one
    assert [n for n in api if n.startswith("lpfix_base")] == []  # left to the layer


def test_same_bytes_from_another_directory_and_hash_seed(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "else" / "where"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("dist"))
    env = {"PYTHONHASHSEED": "12345", "LAMBDAPACK_CACHE_DIR": str(tmp_path / "cache")}
    result = cli("build", cwd=copy, env=env)
    assert result.returncode == 0, result.stderr
    for name in ("api", "common"):
        assert (copy / "dist" / f"{name}.zip").read_bytes() == (project / "dist" / f"{name}.zip").read_bytes()


def test_a_read_only_import_uses_the_bytecode(project: Path, tmp_path: Path) -> None:
    """With unchecked-hash pycs Python never reads the source again: changing
    app.py after unpacking does not change what runs."""
    task = tmp_path / "task"
    with zipfile.ZipFile(project / "dist" / "api.zip") as zf:
        zf.extractall(task)
    with zipfile.ZipFile(project / "dist" / "common.zip") as zf:
        zf.extractall(tmp_path / "opt")
    (task / "helpers.py").write_text('def label(x):\n    return "SOURCE WAS READ"\n')
    for path in [task, *task.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    python = find_interpreter("3.11", environ=os.environ).path
    driver = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import app; "
        "print(app.handler({}, None)); print(sys.flags.dont_write_bytecode)"
    )
    done = subprocess.run(
        [str(python), "-I", "-S", "-B", "-c", driver, str(task), str(tmp_path / "opt" / "python")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["from", "lpfix_base", "1"]


def test_no_op_and_an_edit_compiles_only_the_edit(project: Path) -> None:
    zips = {n: project / "dist" / f"{n}.zip" for n in ("api", "common")}
    before = {n: p.stat().st_mtime_ns for n, p in zips.items()}
    again = cli("build", "-v", cwd=project)
    assert again.returncode == 0, again.stderr
    assert {n: p.stat().st_mtime_ns for n, p in zips.items()} == before
    (project / "api" / "helpers.py").write_text('def label(x):\n    return f"edited {x}"\n')
    edited = cli("build", cwd=project)
    assert edited.returncode == 0, edited.stderr
    assert zips["common"].stat().st_mtime_ns == before["common"]
    api = _zip(zips["api"])
    assert b"edited" in api["__pycache__/helpers.cpython-311.pyc"]


def test_no_interpreter_of_the_targets_version_is_the_documented_error(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_project(CONFIG.replace('runtime = "python3.11"', 'runtime = "python3.12"'), FILES)
    empty = tmp_path / "nothing"
    empty.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",  # no python3.12 (lambdapack's uv comes with it)
        "HOME": str(empty),  # no pyenv, no uv-managed interpreters
        "PYENV_ROOT": str(empty),
        "UV_PYTHON_INSTALL_DIR": str(empty),
    }
    if shutil.which("python3.12", path=env["PATH"]):
        pytest.fail("this test needs a PATH without python3.12")
    result = cli("build", cwd=root, env=env)
    assert result.returncode == 1, result.stderr
    assert (
        "bytecode = true needs a Python 3.12 interpreter to compile for python3.12; none found"
        in result.stderr
    )
    assert "uv python install 3.12" in result.stderr


def test_only_ships_dependencies_without_their_sources(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    config = (
        'runtime = "python3.11"\narchitecture = "x86_64"\nbytecode = "only"\n'
        '[functions.api]\nsource = "api"\nhandler = "app.handler"\n'
    )
    files = {k: v for k, v in FILES.items() if k.startswith("api/")}
    files["api/app.py"] = APP.replace("from helpers import label\n", "").replace("label(", "str(")
    root = make_project(config, files)
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    names = set(_zip(root / "dist" / "api.zip"))
    assert "lpfix_base/__init__.pyc" in names and "lpfix_base/__init__.py" not in names
    assert "app.py" in names and "__pycache__/app.cpython-311.pyc" in names  # own code keeps its source
    task = tmp_path / "task"
    with zipfile.ZipFile(root / "dist" / "api.zip") as zf:
        zf.extractall(task)
    python = find_interpreter("3.11", environ=os.environ).path
    driver = "import sys; sys.path.insert(0, sys.argv[1]); import app; print(app.handler({}, None))"
    done = subprocess.run(
        [str(python), "-I", "-S", "-B", "-c", driver, str(task)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lpfix_base"
