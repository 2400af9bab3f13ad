"""Differential determinism: the same inputs give the same zip bytes whatever
the directory, umask, mtimes, time zone or file creation order; a naive
zipfile archive of the same tree does not, so these tests can fail."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import PROJECTS, naive_zip, run_cli

#: code_sha256 of tests/projects/reference built by this version of lambdapack.
#: A change here is a change of every user's zip: note it in the CHANGELOG.
GOLDEN_CODE_SHA256 = "fgiCZ6qbAkq8NNhye1r/bhxocZM7udKj7l5E7GJpeh4="


def _copy(src: Path, dest: Path, *, reverse: bool, umask: int, mtime: int) -> Path:
    """Copy a tree creating files in sorted or reverse order under ``umask``."""
    old = os.umask(umask)
    try:
        files = sorted(p for p in src.rglob("*") if p.is_file())
        for path in reversed(files) if reverse else files:
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
            if path.stat().st_mode & 0o100:
                target.chmod(0o777 & ~umask)
            os.utime(target, (mtime, mtime))
    finally:
        os.umask(old)
    return dest


def _build(project: Path, *, umask: int, tz: str) -> bytes:
    result = run_cli("build", cwd=project, env={"TZ": tz}, umask=umask)
    assert result.returncode == 0, result.stderr
    return (project / "dist" / "reference.zip").read_bytes()


def test_same_bytes_across_dirs_umask_mtime_tz_and_order(tmp_path: Path) -> None:
    src = PROJECTS / "reference"
    one = _copy(src, tmp_path / "a" / "one", reverse=False, umask=0o022, mtime=1_000_000_000)
    two = _copy(src, tmp_path / "b" / "deeper" / "two", reverse=True, umask=0o002, mtime=1_700_000_000)
    assert (one / "src/handler.py").stat().st_mode != (two / "src/handler.py").stat().st_mode

    first = _build(one, umask=0o022, tz="UTC")
    second = _build(two, umask=0o002, tz="Pacific/Kiritimati")
    assert first == second

    naive_one = naive_zip(one / "src", tmp_path / "naive1.zip")
    naive_two = naive_zip(two / "src", tmp_path / "naive2.zip")
    assert naive_one != naive_two, "the naive archive should differ, or this test proves nothing"


def test_golden_code_sha256(tmp_path: Path) -> None:
    project = shutil.copytree(PROJECTS / "reference", tmp_path / "reference")
    data = _build(project, umask=0o022, tz="UTC")
    independent = base64.b64encode(hashlib.sha256(data).digest()).decode()
    manifest = (project / "dist" / "lambdapack-manifest.json").read_text()
    assert f'"code_sha256": "{independent}"' in manifest
    assert independent == GOLDEN_CODE_SHA256


def test_zip_layout_is_the_documented_contract(tmp_path: Path) -> None:
    project = shutil.copytree(PROJECTS / "reference", tmp_path / "reference")
    (project / "src" / "__pycache__").mkdir()
    (project / "src" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"junk")
    (project / "src" / ".env").write_text("SECRET=1\n")
    (project / "src" / "pkg" / "util.py").chmod(0o600)
    zip_path = project / "dist" / "reference.zip"
    _build(project, umask=0o077, tz="UTC")

    with zipfile.ZipFile(zip_path) as zf:
        assert zf.testzip() is None
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names, key=lambda n: n.encode())
        assert names == [
            "data/café.txt",
            "data/config.json",
            "handler.py",
            "pkg/__init__.py",
            "pkg/util.py",
            "scripts/run.sh",
        ]
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.create_system == 3
            assert info.extra == b""
            mode = info.external_attr >> 16
            assert mode == (0o100755 if info.filename == "scripts/run.sh" else 0o100644), info.filename
    assert zip_path.stat().st_mode & 0o777 == 0o644
    unzip = subprocess.run(["unzip", "-t", str(zip_path)], capture_output=True, text=True, check=False)
    assert unzip.returncode == 0, unzip.stdout
    assert "No errors detected" in unzip.stdout


def test_source_date_epoch_sets_every_timestamp(tmp_path: Path) -> None:
    project = shutil.copytree(PROJECTS / "reference", tmp_path / "reference")
    result = run_cli("build", cwd=project, env={"SOURCE_DATE_EPOCH": "1700000000", "TZ": "Asia/Tokyo"})
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(project / "dist" / "reference.zip") as zf:
        # 2023-11-14T22:13:20Z, in UTC whatever TZ says
        assert {i.date_time for i in zf.infolist()} == {(2023, 11, 14, 22, 13, 20)}
    bad = run_cli("build", cwd=project, env={"SOURCE_DATE_EPOCH": "yesterday"})
    assert bad.returncode == 2
    assert "SOURCE_DATE_EPOCH" in bad.stderr


@pytest.mark.network
def test_dependencies_install_deterministically(tmp_path: Path) -> None:
    """A function with compiled dependencies, built in two places with
    different umasks: identical bytes, no installer metadata."""
    config = (
        'runtime = "python3.12"\narchitecture = "arm64"\n[functions.fn]\nsource = "fn"\nhandler = "app.h"\n'
    )
    zips = []
    for index, umask in enumerate((0o022, 0o002)):
        root = tmp_path / f"p{index}"
        (root / "fn").mkdir(parents=True)
        (root / "lambdapack.toml").write_text(config)
        (root / "fn" / "app.py").write_text("import orjson\n\ndef h(e, c):\n    return orjson.dumps(e)\n")
        (root / "fn" / "requirements.txt").write_text("orjson==3.10.18\ncffi==1.17.1\n")
        result = run_cli("build", cwd=root, umask=umask, env={"TZ": "UTC" if index else "EST5EDT"})
        assert result.returncode == 0, result.stderr
        zips.append((root / "dist" / "fn.zip").read_bytes())
    assert zips[0] == zips[1]
    with zipfile.ZipFile(tmp_path / "p0" / "dist" / "fn.zip") as zf:
        names = zf.namelist()
        for bad in ("INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json"):
            assert not any(n.endswith("/" + bad) for n in names), bad
        assert not any(n.startswith("bin/") or "__pycache__" in n or n == ".lock" for n in names)
        for record in (n for n in names if n.endswith(".dist-info/RECORD")):
            for line in zf.read(record).decode().splitlines():
                listed = line.split(",", 1)[0]
                assert listed in names, f"{record} lists {listed}, which is not in the zip"


def test_same_bytes_when_the_host_zlib_is_zlib_ng(tmp_path: Path) -> None:
    """A laptop with zlib-ng (Fedora 40+, CPython 3.14 on Windows) and CI with
    zlib must agree. lambdapack's deflate is its own pinned libdeflate, so
    swapping the zlib module under it changes nothing; the same swap does
    change what zlib-based tools write, so this test can fail."""
    hook = tmp_path / "zlib-ng-hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import sys\nfrom zlib_ng import zlib_ng\nsys.modules['zlib'] = zlib_ng\n"
    )
    swapped = {"PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    probe = (
        "import sys, zlib, hashlib; data = open(sys.argv[1], 'rb').read() * 20; "
        "print(zlib.__name__, hashlib.sha256(zlib.compress(data, 6)).hexdigest())"
    )
    sample = str(PROJECTS / "reference" / "src" / "handler.py")
    plain_probe = subprocess.run([sys.executable, "-c", probe, sample], capture_output=True, text=True)
    ng_probe = subprocess.run(
        [sys.executable, "-c", probe, sample],
        capture_output=True,
        text=True,
        env={**os.environ, **swapped},
    )
    assert plain_probe.stdout.split()[0] == "zlib" and ng_probe.stdout.split()[0] == "zlib_ng.zlib_ng"
    assert plain_probe.stdout.split()[1] != ng_probe.stdout.split()[1], "zlib-ng should deflate differently"

    one = shutil.copytree(PROJECTS / "reference", tmp_path / "one")
    two = shutil.copytree(PROJECTS / "reference", tmp_path / "two")
    plain = run_cli("build", cwd=one)
    ng = run_cli("build", cwd=two, env=swapped)
    assert plain.returncode == 0 and ng.returncode == 0, (plain.stderr, ng.stderr)
    data = (one / "dist" / "reference.zip").read_bytes()
    assert data == (two / "dist" / "reference.zip").read_bytes()
    assert base64.b64encode(hashlib.sha256(data).digest()).decode() == GOLDEN_CODE_SHA256
