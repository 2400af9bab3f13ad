"""What a build reads is verified, what it writes is never read back as input:
corrupt cache entries are rebuilt to the same bytes, a zip changed behind
lambdapack's back is rebuilt, outputs inside sources are not packaged, stale
locks warn, and concurrent cold builds share their work."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import cli, offline_requirements, write_tree

HANDLER = "def handler(event, context):\n    return 1\n"


def _project(tmp_path: Path, requirements: str | None = None, extra: str = "") -> Path:
    files = {
        "lambdapack.toml": f'runtime = "python3.12"\narchitecture = "arm64"\n{extra}\n'
        '[functions.api]\nsource = "api"\nhandler = "app.handler"\nexclude = ["requirements*"]\n',
        "api/app.py": HANDLER,
        "api/data.txt": "x" * 40_000,  # kept as a cache object (over 16 KiB)
    }
    if requirements is not None:
        files["api/requirements.txt"] = requirements
    return write_tree(tmp_path / "project", files)


def test_corrupt_cache_entries_are_rebuilt_to_the_same_bytes(tmp_path: Path) -> None:
    root = _project(tmp_path, offline_requirements("lpfix-pure"))
    cache = tmp_path / "cache"
    env = {"LAMBDAPACK_CACHE_DIR": str(cache)}
    assert cli("build", cwd=root, env=env).returncode == 0
    reference = (root / "dist" / "api.zip").read_bytes()
    (obj,) = [p for p in (cache / "objects").rglob("*") if p.is_file()]
    (entries,) = (cache / "deps").glob("*/entries.json")

    for corrupt in (
        lambda: obj.write_bytes(bytes([obj.read_bytes()[0] ^ 1]) + obj.read_bytes()[1:]),  # the header
        lambda: entries.write_text(
            entries.read_text().replace(", 8, ", ", 8, ", 1).replace('"entries": [[', '"entries": [[', 1)
        ),
        lambda: _bump_crc(entries),  # still valid JSON, one CRC off
    ):
        corrupt()
        (root / "api" / "app.py").write_text(HANDLER + f"# {time.time_ns()}\n")
        assert cli("build", cwd=root, env=env).returncode == 0
        (root / "api" / "app.py").write_text(HANDLER)
        result = cli("build", cwd=root, env=env)
        assert result.returncode == 0, result.stderr
        built = (root / "dist" / "api.zip").read_bytes()
        assert built == reference
        assert subprocess.run(["unzip", "-tq", str(root / "dist" / "api.zip")]).returncode == 0


def _bump_crc(entries: Path) -> None:
    document = json.loads(entries.read_text())
    document["entries"][0][3] ^= 1
    entries.write_text(json.dumps(document))


def test_a_zip_changed_with_its_mtime_restored_is_rebuilt(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert cli("build", cwd=root).returncode == 0
    zip_path = root / "dist" / "api.zip"
    reference = zip_path.read_bytes()
    st = zip_path.stat()
    time.sleep(0.01)
    with zip_path.open("r+b") as f:  # edited in place, same size, mtime put back
        f.seek(40)
        f.write(b"\xff")
    os.utime(zip_path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cli("build", cwd=root).returncode == 0
    assert zip_path.read_bytes() == reference
    check = cli("check", "api", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("layout", ["output is the source", "source is the project root"])
def test_outputs_are_never_inputs(tmp_path: Path, layout: str) -> None:
    if layout == "output is the source":
        root = _project(tmp_path, extra='output = "api"')
    else:
        root = write_tree(
            tmp_path / "project",
            {
                "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "arm64"\n'
                '[functions.api]\nsource = "."\nhandler = "app.handler"\n',
                "app.py": HANDLER,
            },
        )
        assert cli("build", "-o", "elsewhere", cwd=root).returncode == 0  # an earlier output
    first = cli("build", cwd=root)
    assert first.returncode == 0, first.stderr
    zip_path = next(root.rglob("api.zip"))
    names = zipfile.ZipFile(zip_path).namelist()
    assert not [n for n in names if n.endswith((".zip", ".json", ".lock", ".tmp"))], names
    assert not [n for n in names if n.startswith(("elsewhere/", "dist/"))], names
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    second = cli("build", cwd=root)
    assert second.returncode == 0
    assert hashlib.sha256(next(root.rglob("api.zip")).read_bytes()).hexdigest() == digest  # stable


def test_a_hand_edited_lock_warns_and_locked_fails(tmp_path: Path) -> None:
    root = _project(tmp_path, offline_requirements("lpfix-pure"))
    assert cli("lock", cwd=root).returncode == 0
    (lock,) = (root / "api").glob("*.lock.txt")
    text = lock.read_text()
    assert "lpfix-pure==1.0.0" in text
    lock.write_text(text.replace("lpfix-pure==1.0.0", "lpfix-pure==1.0.1"))  # a hand edit
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "warning [lock]" in result.stderr and "stale: edited by hand" in result.stderr
    locked = cli("build", "--locked", cwd=root)
    assert locked.returncode == 4 and "stale: edited by hand" in locked.stderr


@pytest.mark.network
@pytest.mark.slow
def test_concurrent_cold_builds_share_the_work(tmp_path: Path) -> None:
    """Four processes building one project from a cold cache: one resolves and
    installs, the others wait for it (4 at once take at most 1.3 times one)."""
    root = _project(tmp_path, "numpy==2.1.3\npandas==2.2.3\n")
    env = {**os.environ, "LAMBDAPACK_CACHE_DIR": str(tmp_path / "warmup")}
    warm = subprocess.run([sys.executable, "-m", "lambdapack", "build", "-q"], cwd=root, env=env)
    assert warm.returncode == 0  # uv's own cache holds the wheels now: what is timed is lambdapack's work

    def cold(cache: Path, count: int) -> float:
        env = {**os.environ, "LAMBDAPACK_CACHE_DIR": str(cache)}
        started = time.monotonic()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "lambdapack", "build", "-q", "-o", f"{cache.name}-out{i}"],
                cwd=root,
                env=env,
            )
            for i in range(count)
        ]
        assert all(p.wait(timeout=600) == 0 for p in procs)
        return time.monotonic() - started

    one = min(cold(tmp_path / f"one{i}", 1) for i in range(2))
    four = cold(tmp_path / "four", 4)
    zips = {(root / f"four-out{i}" / "api.zip").read_bytes() for i in range(4)}
    assert len(zips) == 1
    assert four <= 1.3 * one + 0.5, f"4 at once {four:.2f}s, one {one:.2f}s"
