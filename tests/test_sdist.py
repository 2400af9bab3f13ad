"""The parts of lambdapack.python.sdist that need no index and no engine:
how an sdist is classified, its build requirements, the line of a build log
that explains a failure, credentials for downloads, and wheel unpacking."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from conftest import write_tree
from lambdapack.errors import InstallError
from lambdapack.python.index import credentials
from lambdapack.python.sdist import (
    _build_requires,
    _last_line,
    _native_evidence,
    unpack_wheel,
)


def test_native_code_is_found_by_its_sources_or_by_setup_py(tmp_path: Path) -> None:
    pure = write_tree(
        tmp_path / "pure", {"setup.py": "from setuptools import setup\nsetup()\n", "p/__init__.py": ""}
    )
    assert _native_evidence(pure) is None
    cpp = write_tree(tmp_path / "cpp", {"setup.py": "", "src/MurmurHash3.cpp": "", "tests/t.c": ""})
    assert _native_evidence(cpp) == "src/MurmurHash3.cpp"
    rust = write_tree(tmp_path / "rust", {"pyproject.toml": "", "Cargo.toml": ""})
    assert _native_evidence(rust) == "Cargo.toml"
    declared = write_tree(
        tmp_path / "declared", {"setup.py": "setup(ext_modules=[Extension('x', ['x.c'])])\n"}
    )
    assert _native_evidence(declared) == "setup.py declares extension modules"
    only_tests = write_tree(tmp_path / "tests-only", {"setup.py": "", "tests/helper.c": ""})
    assert _native_evidence(only_tests) is None  # test fixtures are not built


def test_build_requirements_from_pyproject_or_the_setuptools_default(tmp_path: Path) -> None:
    assert _build_requires(write_tree(tmp_path / "legacy", {"setup.py": ""})) == [
        "setuptools>=40.8.0",
        "wheel",
    ]
    flit = write_tree(
        tmp_path / "flit", {"pyproject.toml": '[build-system]\nrequires = ["flit_core>=3.2,<4"]\n'}
    )
    assert _build_requires(flit) == ["flit_core>=3.2,<4"]
    setuptools = write_tree(
        tmp_path / "st", {"pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\n'}
    )
    assert _build_requires(setuptools) == ["setuptools>=61", "wheel"]  # older setuptools asks for wheel
    broken = write_tree(tmp_path / "broken", {"pyproject.toml": "[build-system\n"})
    with pytest.raises(InstallError, match=r"pyproject\.toml in the sdist"):
        _build_requires(broken)


def test_the_line_that_explains_a_failed_build() -> None:
    log = "running build_ext\nbrokenext.c:2:1: error: unknown type name 'this'\n  2 | this\n"
    log += "error: command 'gcc' failed\n"
    assert _last_line(log) == "brokenext.c:2:1: error: unknown type name 'this'"
    assert _last_line("ok\nERROR: Failed to build one or more wheels\ndone\n") == (
        "ERROR: Failed to build one or more wheels"
    )
    assert _last_line("") == "no output"


def test_credentials_of_an_index_on_the_same_host_go_with_a_download() -> None:
    index = ["--index-url", "https://me:s%40cret@pkgs.example.com/simple", "--no-index"]
    assert credentials("pkgs.example.com", index) == {"Authorization": "Basic bWU6c0BjcmV0"}  # me:s@cret
    assert credentials("files.pythonhosted.org", index) == {}


def _wheel(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def test_a_built_wheel_unpacks_like_an_installer_with_target(tmp_path: Path) -> None:
    wheel = tmp_path / "x-1.0-cp311-cp311-linux_x86_64.whl"
    wheel.write_bytes(
        _wheel(
            {
                "x/__init__.py": b"",
                "x/_speed.so": b"\x7fELF",
                "x-1.0.data/platlib/x_extra.py": b"",
                "x-1.0.data/scripts/x-cli": b"#!python\n",
                "x-1.0.dist-info/RECORD": b"",
            }
        )
    )
    dest = tmp_path / "site"
    dest.mkdir()
    unpack_wheel(wheel, dest)
    found = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert found == ["x-1.0.dist-info/RECORD", "x/__init__.py", "x/_speed.so", "x_extra.py"]
    assert (dest / "x" / "_speed.so").stat().st_mode & 0o777 == 0o755
    assert (dest / "x" / "__init__.py").stat().st_mode & 0o777 == 0o644
    evil = tmp_path / "evil-1.0-py3-none-any.whl"
    evil.write_bytes(_wheel({"../outside.py": b""}))
    with pytest.raises(InstallError, match=r"unsafe path '\.\./outside\.py'"):
        unpack_wheel(evil, dest)
    assert not (tmp_path / "outside.py").exists()
