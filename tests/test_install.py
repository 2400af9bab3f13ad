"""Real wheels from PyPI, installed for a target that is not the host."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from packaging.tags import Tag

import lambdapack
from conftest import elf_header, shared_objects, write_tree
from lambdapack.python.target import tag_loads
from lambdapack.runtimes import target

REQUIREMENTS = """\
orjson>=3.10
pydantic>=2.5
six ; platform_machine == "aarch64"
idna ; platform_machine == "x86_64"
colorama ; sys_platform == "win32"
"""

CONFIG = """\
[functions.arm]
source = "fn"
handler = "app.handler"
runtime = "python3.12"
architecture = "arm64"

[functions.x86]
source = "fn"
handler = "app.handler"
runtime = "python3.13"
architecture = "x86_64"

[functions.old]
source = "old"
handler = "app.handler"
runtime = "python3.11"
architecture = "x86_64"
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = write_tree(
        tmp_path_factory.mktemp("targets"),
        {
            "lambdapack.toml": CONFIG,
            "fn/app.py": "import orjson, pydantic\n\ndef handler(event, context):\n    return {}\n",
            "fn/requirements.txt": REQUIREMENTS,
            "old/app.py": "import cryptography\n\ndef handler(event, context):\n    return {}\n",
            "old/requirements.txt": "cryptography>=42\n",
        },
    )
    artifacts = lambdapack.build(root)
    return {a.name: a.path for a in artifacts}


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


@pytest.mark.network
@pytest.mark.parametrize(
    ("name", "machine", "python"),
    [("arm", 183, "cpython-312-aarch64-linux-gnu"), ("x86", 62, "cpython-313-x86_64-linux-gnu")],
)
def test_every_shared_object_is_for_the_target(
    built: dict[str, Path], name: str, machine: int, python: str
) -> None:
    objects = shared_objects(built[name])
    assert any("pydantic_core/_pydantic_core" in n for n in objects)
    assert any(n.startswith("orjson/") for n in objects)
    for so_name, data in objects.items():
        assert elf_header(data) == (2, 1, machine), so_name  # 64-bit, little-endian, target machine
        assert python in so_name or ".abi3." in so_name, so_name
    assert "app.py" in _names(built[name])  # handler module at the zip root


@pytest.mark.network
def test_markers_are_evaluated_for_the_target_not_the_host(built: dict[str, Path]) -> None:
    arm, x86 = _names(built["arm"]), _names(built["x86"])
    assert "six.py" in arm and "six.py" not in x86
    assert any(n.startswith("idna/") for n in x86) and not any(n.startswith("idna/") for n in arm)
    assert not any(n.startswith("colorama") for n in arm + x86)


@pytest.mark.network
def test_python311_never_gets_a_wheel_above_manylinux_2_26(built: dict[str, Path]) -> None:
    """cryptography ships manylinux2014 and manylinux_2_28/2_34 wheels: AL2 must get the former."""
    with zipfile.ZipFile(built["old"]) as zf:
        wheels = [n for n in zf.namelist() if n.endswith(".dist-info/WHEEL")]
        assert any(w.startswith("cryptography-") for w in wheels)
        for wheel in wheels:
            for tag in re.findall(r"^Tag: (\S+)$", zf.read(wheel).decode(), re.M):
                platform = tag.rsplit("-", 1)[1]
                found = re.match(r"manylinux_(\d+)_(\d+)_", platform)
                if found:
                    assert (int(found.group(1)), int(found.group(2))) <= (2, 26), (wheel, tag)
                else:
                    assert platform in ("any", "manylinux2014_x86_64", "manylinux1_x86_64"), tag
    for so_name, data in shared_objects(built["old"]).items():
        assert elf_header(data)[2] == 62, so_name


def test_tag_compatibility_rules() -> None:
    py311_arm = target("python3.11", "arm64")
    py312_x86 = target("python3.12", "x86_64")
    assert tag_loads(Tag("cp311", "cp311", "manylinux_2_17_aarch64"), py311_arm)
    assert tag_loads(Tag("cp39", "abi3", "manylinux2014_aarch64"), py311_arm)
    assert tag_loads(Tag("py3", "none", "any"), py311_arm)
    assert not tag_loads(Tag("cp311", "abi3", "manylinux_2_28_aarch64"), py311_arm)
    assert not tag_loads(Tag("cp311", "cp311", "manylinux_2_17_x86_64"), py311_arm)
    assert not tag_loads(Tag("cp312", "cp312", "manylinux_2_17_aarch64"), py311_arm)
    assert not tag_loads(Tag("cp311", "cp311", "macosx_11_0_arm64"), py311_arm)
    assert tag_loads(Tag("cp311", "abi3", "manylinux_2_34_x86_64"), py312_x86)
    assert not tag_loads(Tag("cp311", "abi3", "manylinux_2_35_x86_64"), py312_x86)
    assert not tag_loads(Tag("cp313", "abi3", "manylinux_2_17_x86_64"), py312_x86)
    assert not tag_loads(Tag("py2", "none", "any"), py312_x86)


@pytest.mark.network
def test_every_zip_is_valid_and_its_hash_is_independent(built: dict[str, Path]) -> None:
    for zip_path in built.values():
        with zipfile.ZipFile(zip_path) as zf:
            assert zf.testzip() is None
        unzip = subprocess.run(["unzip", "-tq", str(zip_path)], capture_output=True, text=True, check=False)
        assert unzip.returncode == 0, unzip.stdout
        data = zip_path.read_bytes()
        manifest = json.loads((zip_path.parent / "lambdapack-manifest.json").read_text())
        entry = manifest["artifacts"][zip_path.stem]
        assert entry["code_sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert entry["size"] == len(data)


@pytest.mark.network
def test_dependency_exclude_drops_files_and_their_record_lines(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "x86_64"\n'
            '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
            'dependency_exclude = ["*.pyi", "orjson/py.typed"]\n',
            "fn/app.py": "import orjson\n\ndef handler(event, context):\n    return {}\n",
            "fn/requirements.txt": "orjson>=3.10\n",
        },
    )
    (artifact,) = lambdapack.build(root)
    with zipfile.ZipFile(artifact.path) as zf:
        names = zf.namelist()
        record = zf.read(next(n for n in names if n.startswith("orjson-") and n.endswith("/RECORD"))).decode()
    assert "orjson/__init__.py" in names
    assert not any(n.endswith(".pyi") or n == "orjson/py.typed" for n in names)
    assert ".pyi" not in record and "py.typed" not in record
