"""The committed wheelhouse (tests/wheelhouse) is what its script makes, and
each wheel is valid: metadata, tags, RECORD hashes, and binaries for the
machine its tags name. Checked without lambdapack."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import EM_AARCH64, EM_X86_64, WHEELHOUSE, elf_header

SCRIPT = WHEELHOUSE / "make_wheels.py"
#: Real wheels from PyPI, committed beside the made ones (make_wheels.py copies them).
VENDORED = {"flit_core-3.12.0-py3-none-any.whl"}
WHEELS = sorted(w for w in WHEELHOUSE.glob("*.whl") if w.name not in VENDORED)
SDISTS = sorted(WHEELHOUSE.glob("*.tar.gz"))


def _read(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        assert zf.testzip() is None
        return {info.filename: zf.read(info) for info in zf.infolist()}


def test_the_wheelhouse_holds_every_fixture_and_each_is_tiny() -> None:
    names = {w.name for w in WHEELS}
    assert names == {
        "jmespath-0.0.0+lpfix-py3-none-any.whl",
        "lpfix_base-1.0.0-py3-none-any.whl",
        "lpfix_base-1.1.0-py3-none-any.whl",
        "lpfix_ceiling-1.0.0-cp311-abi3-manylinux2014_x86_64.whl",
        "lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_24_aarch64.whl",
        "lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_24_x86_64.whl",
        "lpfix_ceiling-1.1.0-cp311-abi3-manylinux_2_28_aarch64.whl",
        "lpfix_ceiling-1.1.0-cp311-abi3-manylinux_2_28_x86_64.whl",
        "lpfix_glibc-1.0.0-cp311-abi3-manylinux_2_28_x86_64.whl",
        "lpfix_mislabeled-1.0.0-cp311-abi3-manylinux_2_17_x86_64.whl",
        "lpfix_needslib-1.0.0-cp311-abi3-manylinux_2_17_x86_64.whl",
        "lpfix_pure-1.0.0-py3-none-any.whl",
        "lpfix_speedup-1.0.0-cp311-cp311-macosx_11_0_arm64.whl",
        "lpfix_speedup-1.0.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "lpfix_speedup-1.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "lpfix_speedup-1.0.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "lpfix_speedup-1.0.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    }
    assert all(w.stat().st_size < 8192 for w in WHEELS)
    assert {p.name for p in SDISTS} == {"lpfix_native-1.0.0.tar.gz", "lpfix_sdist-1.0.0.tar.gz"}
    assert {p.name for p in WHEELHOUSE.glob("*.whl")} - names == VENDORED


@pytest.mark.parametrize("wheel", WHEELS, ids=[w.name for w in WHEELS])
def test_every_wheel_is_valid(wheel: Path) -> None:
    files = _read(wheel)
    stem, version, *tag_parts = wheel.name[: -len(".whl")].split("-")
    dist_info = f"{stem}-{version}.dist-info"
    metadata = files[f"{dist_info}/METADATA"].decode()
    assert re.search(rf"^Version: {re.escape(version)}$", metadata, re.M)
    name = re.search(r"^Name: (\S+)$", metadata, re.M)
    assert name and re.sub(r"[-_.]+", "_", name.group(1)).lower() == stem
    assert stem == "jmespath" or stem.startswith("lpfix_")  # never a real PyPI project's name

    # WHEEL: the Tag lines are exactly the expansion of the file name's compressed tag set
    interpreters, abis, platforms = (part.split(".") for part in tag_parts)
    expected = {f"{i}-{a}-{p}" for i in interpreters for a in abis for p in platforms}
    wheel_file = files[f"{dist_info}/WHEEL"].decode()
    assert set(re.findall(r"^Tag: (\S+)$", wheel_file, re.M)) == expected
    assert "Wheel-Version: 1.0" in wheel_file

    # RECORD: every other file, with its urlsafe-base64 SHA-256 and size
    rows = list(csv.reader(io.StringIO(files[f"{dist_info}/RECORD"].decode())))
    assert {row[0] for row in rows} == set(files)
    for path, digest, size in rows:
        if path.endswith("/RECORD"):
            assert (digest, size) == ("", "")
            continue
        data = files[path]
        encoded = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (f"sha256={encoded}", len(data)), path


@pytest.mark.parametrize("wheel", [w for w in WHEELS if "py3-none-any" not in w.name], ids=lambda w: w.name)
def test_binaries_are_for_the_machine_their_tags_name(wheel: Path) -> None:
    (so_name, data), *others = [(n, d) for n, d in _read(wheel).items() if n.endswith(".so")]
    assert others == []
    if "macosx" in wheel.name:
        assert data[:4] == b"\xcf\xfa\xed\xfe" and so_name.endswith("-darwin.so")
        return
    machine = EM_AARCH64 if wheel.name.endswith("aarch64.whl") else EM_X86_64
    assert elf_header(data) == (2, 1, machine)  # 64-bit little-endian shared object for the tag's machine
    found = re.search(r"\.cpython-(\d+)-(\w+)-linux-gnu\.so$", so_name)
    if found:  # the extension module's own tags agree with the wheel's
        assert f"cp{found.group(1)}-cp{found.group(1)}-manylinux_2_17_{found.group(2)}" in wheel.name
    else:
        assert so_name.endswith(".abi3.so") and "-abi3-" in wheel.name
    needs_228 = b"GLIBC_2.28" in data
    assert needs_228 == ("glibc" in wheel.name or "mislabeled" in wheel.name), so_name
    assert (b"liblpfixmissing.so.1" in data) == ("needslib" in wheel.name)


def test_the_simple_index_links_every_wheel_with_its_hash() -> None:
    pages = sorted((WHEELHOUSE / "simple").glob("*/index.html"))
    linked = {}
    for page in pages:
        for href, digest in re.findall(r'href="\.\./\.\./([^"#]+)#sha256=([0-9a-f]{64})"', page.read_text()):
            linked[href] = digest
    files = [*WHEELHOUSE.glob("*.whl"), *SDISTS]
    assert linked == {w.name: hashlib.sha256(w.read_bytes()).hexdigest() for w in files}
    root = (WHEELHOUSE / "simple" / "index.html").read_text()
    assert sorted(re.findall(r'href="([^"/]+)/"', root)) == [p.parent.name for p in pages]


def _can_compile() -> bool:
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    tools = ("gcc", "aarch64-linux-gnu-gcc")
    return sys.version_info >= (3, 11) and include.is_file() and all(shutil.which(t) for t in tools)


@pytest.mark.skipif(not _can_compile(), reason="needs gcc, aarch64-linux-gnu-gcc and Python.h")
def test_make_wheels_reproduces_the_committed_wheelhouse(tmp_path: Path) -> None:
    """Re-running the script gives the committed bytes (the same compilers assumed:
    a different gcc legitimately gives other .so bytes)."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    made = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {
        p.relative_to(WHEELHOUSE).as_posix(): p.read_bytes()
        for p in WHEELHOUSE.rglob("*")
        if p.is_file() and p != SCRIPT and "__pycache__" not in p.parts
    }
    assert sorted(made) == sorted(committed)
    differ = sorted(name for name in made if made[name] != committed[name])
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=False).stdout
    assert differ == [], f"make_wheels.py output differs from the committed files ({gcc.splitlines()[0]})"
