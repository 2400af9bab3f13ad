"""Fault injection: a build killed (SIGKILL) or interrupted (SIGINT, SIGTERM)
at any instant leaves every zip the manifest names with exactly the recorded
bytes, stops within half a second when asked to, and the next build restores
the reference bytes and removes what the dead build left behind."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write_tree

CONFIG = """\
runtime = "python3.12"
architecture = "x86_64"
exclude = ["requirements.txt"]

[functions.np]
source = "np"
handler = "app.handler"

[functions.plain]
source = "plain"
handler = "app.handler"
"""
APP = "def handler(event, context):\n    return 1\n"


def _numpy_project(tmp_path: Path) -> Path:
    """Two functions, one with numpy: a cold build resolves, installs, compresses and zips."""
    files = {
        "lambdapack.toml": CONFIG,
        "np/app.py": APP,
        "np/requirements.txt": "numpy==2.1.3\n",
        "plain/app.py": APP,
    }
    return write_tree(tmp_path / "project", files)


def _start(root: Path, cache: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "LAMBDAPACK_CACHE_DIR": str(cache)}
    return subprocess.Popen(
        [sys.executable, "-m", "lambdapack", "build", "-q"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_consistent(root: Path) -> list[str]:
    """Every zip the manifest names has the recorded size and hashes and passes `unzip -t`."""
    path = root / "dist" / "lambdapack-manifest.json"
    if not path.exists():
        return []
    document = json.loads(path.read_text("utf-8"))  # always valid JSON
    for name, entry in document["artifacts"].items():
        data = (root / entry["path"]).read_bytes()
        assert len(data) == entry["size"], name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert base64.b64encode(hashlib.sha256(data).digest()).decode() == entry["code_sha256"], name
        tested = subprocess.run(["unzip", "-tq", str(root / entry["path"])], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stdout + tested.stderr
    return sorted(document["artifacts"])


@pytest.mark.network
@pytest.mark.slow
def test_kill_and_interrupt_at_any_instant_never_break_the_manifest(tmp_path: Path) -> None:
    root = _numpy_project(tmp_path)
    cache = tmp_path / "cache"
    # The reference: a complete cold build, and how long it takes.
    started = time.monotonic()
    reference = _start(root, cache)
    assert reference.wait(timeout=300) == 0, reference.stderr.read() if reference.stderr else ""
    duration = time.monotonic() - started
    expected = {n: (root / "dist" / f"{n}.zip").read_bytes() for n in ("np", "plain")}

    instants = [duration * (i + 0.5) / 12 for i in range(12)]
    for index, (delay, sig) in enumerate([(t, s) for t in instants for s in (signal.SIGKILL, signal.SIGINT)]):
        shutil.rmtree(cache, ignore_errors=True)  # cold: resolve, install, compress, zip
        (root / "np" / "app.py").write_text(APP + f"# edit {index}\n")  # np's zip must change
        proc = _start(root, cache)
        time.sleep(delay)
        proc.send_signal(sig)
        asked = time.monotonic()
        _out, err = proc.communicate(timeout=60)
        took = time.monotonic() - asked
        if sig == signal.SIGINT and proc.returncode != 0:  # it was still running: it must stop fast
            # Before Python has loaded lambdapack's entry point, SIGINT ends it as Python's
            # default handler does (-2, a traceback); from then on: 130 and one line.
            assert proc.returncode == 130 or (proc.returncode == -2 and "lambdapack: " not in err), (
                delay,
                err,
            )
            assert took < 0.5, f"stopped {took:.2f}s after SIGINT"
            if proc.returncode == 130:
                assert err.startswith("lambdapack: interrupted;") and err.count("\n") == 1, err
        _assert_consistent(root)

    # The next build restores the reference bytes and leaves no temporary files behind.
    (root / "np" / "app.py").write_text(APP)
    final = _start(root, cache)
    assert final.wait(timeout=300) == 0
    _assert_consistent(root)
    for name, data in expected.items():
        assert (root / "dist" / f"{name}.zip").read_bytes() == data, name
    assert not [p.name for p in (root / "dist").iterdir() if p.name.endswith(".tmp")]
    assert not list((cache / "tmp").iterdir()) if (cache / "tmp").exists() else True


@pytest.mark.network
def test_sigterm_stops_a_build_with_143(tmp_path: Path) -> None:
    root = _numpy_project(tmp_path)
    proc = _start(root, tmp_path / "cache")
    time.sleep(0.4)  # loading, resolving or installing
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        assert proc.returncode == 143, err
        # (on a loaded machine the signal may come before the build started: nothing was written)
        assert err.strip().endswith(("run the build again to finish)", "nothing was written")), err
    _assert_consistent(root)


def test_dead_builds_leave_nothing_the_next_build_keeps(tmp_path: Path) -> None:
    """Temporary zips and cache work directories of a process that no longer
    exists are removed by the next build; those of a live process are kept."""
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": CONFIG.split("[functions.np]")[0]
            + '[functions.plain]\nsource = "plain"\nhandler = "app.handler"\n',
            "plain/app.py": APP,
        },
    )
    cache = tmp_path / "cache"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    (root / "dist").mkdir()
    stale = root / "dist" / f".plain.zip.{dead_pid}.abc123.tmp"
    stale.write_bytes(b"x" * 100)
    live = root / "dist" / f".plain.zip.{os.getpid()}.abc123.tmp"
    live.write_bytes(b"y")
    # killed while it replaced the manifest (atomic.write_bytes names its temporary files the same way)
    manifest = root / "dist" / f".lambdapack-manifest.json.{dead_pid}.k2j4x9.tmp"
    manifest.write_bytes(b"{")
    (cache / "tmp" / f"{dead_pid}-work").mkdir(parents=True)
    (cache / "tmp" / f"{dead_pid}-work" / "payload.bin").write_bytes(b"z" * 1000)
    env = {**os.environ, "LAMBDAPACK_CACHE_DIR": str(cache)}
    info = subprocess.run(
        [sys.executable, "-m", "lambdapack", "cache", "info", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert json.loads(info.stdout)["tmp"] == {"entries": 1, "bytes": 1000}  # shown by cache info
    done = subprocess.run(
        [sys.executable, "-m", "lambdapack", "build", "-q"], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and live.exists() and not manifest.exists()
    assert not (cache / "tmp" / f"{dead_pid}-work").exists()
