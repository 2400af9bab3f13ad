"""No-op detection, the shared cache, and parallel builds."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import lambdapack
from conftest import run_cli, write_tree
from lambdapack.config import load_project
from lambdapack.python.ecosystem import PythonEcosystem
from lambdapack.python.engine import ToolResult, UvEngine
from lambdapack.runtimes import Target
from lambdapack.usecases.build import run

CONFIG = (
    'runtime = "python3.12"\narchitecture = "arm64"\n[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
)
APP = "def handler(event, context):\n    return 1\n"


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def _age(path: Path, seconds: int = 10) -> None:
    """Make a file look written a while ago (hashes of fresh files are not cached)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_no_op_rewrites_nothing_and_changes_are_seen(make_project: Callable[..., Path]) -> None:
    root = make_project(CONFIG, {"fn/app.py": APP, "fn/lib/util.py": "X = 1\n"})
    for path in (root / "fn").rglob("*.py"):
        _age(path)
    (first,) = lambdapack.build(root)
    zip_path, manifest = root / "dist" / "fn.zip", root / "dist" / "lambdapack-manifest.json"
    before = (_stat(zip_path), _stat(manifest), zip_path.read_bytes())

    (again,) = lambdapack.build(root)
    assert again == first
    assert (_stat(zip_path), _stat(manifest), zip_path.read_bytes()) == before  # not even rewritten

    util = root / "fn" / "lib" / "util.py"
    util.write_text("X = 2\n")  # same size, just now
    (changed,) = lambdapack.build(root)
    assert changed.code_sha256 != first.code_sha256
    util.write_text("X = 1\n")
    (back,) = lambdapack.build(root)
    assert back.code_sha256 == first.code_sha256

    util.chmod(0o755)  # a mode change is a change
    (executable,) = lambdapack.build(root)
    assert executable.code_sha256 != first.code_sha256
    util.chmod(0o644)

    zip_path.write_bytes(b"tampered")  # a zip changed behind lambdapack's back is rebuilt
    (restored,) = lambdapack.build(root)
    assert restored.code_sha256 == first.code_sha256 and zip_path.read_bytes() == before[2]

    (root / "lambdapack.toml").write_text(CONFIG + 'exclude = ["lib/"]\n')
    (excluded,) = lambdapack.build(root)
    assert excluded.code_sha256 != first.code_sha256


def test_jobs_and_completion_order_do_not_change_outputs(make_project: Callable[..., Path]) -> None:
    config = 'runtime = "python3.12"\narchitecture = "x86_64"\n' + "".join(
        f'[functions.f{i:02}]\nsource = "f{i:02}"\nhandler = "app.handler"\n' for i in range(12)
    )
    files = {f"f{i:02}/app.py": APP + f"# {i}\n" * (i * 50) for i in range(12)}
    outputs = []
    for jobs in (1, 4):
        root = make_project(config, files, name=f"jobs{jobs}")
        result = run_cli("build", "--jobs", str(jobs), "--json", cwd=root)
        assert result.returncode == 0, result.stderr
        zips = {p.name: p.read_bytes() for p in (root / "dist").glob("*.zip")}
        outputs.append((result.stdout, (root / "dist" / "lambdapack-manifest.json").read_text(), zips))
    assert outputs[0] == outputs[1]
    assert list(json.loads(outputs[0][0])["artifacts"]) == [f"f{i:02}" for i in range(12)]


class CountingEngine(UvEngine):
    """The real uv engine, counting how often it resolves and installs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def compile(self, requirements: Path, target: Target, output: Path, **options: Any) -> ToolResult:
        self.calls.append("compile")
        return super().compile(requirements, target, output, **options)

    def install(self, lock: Path, target: Target, dest: Path, **options: Any) -> ToolResult:
        self.calls.append("install")
        return super().install(lock, target, dest, **options)


@pytest.mark.network
def test_dependencies_are_installed_once_per_lock_and_target(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "LAMBDAPACK_CACHE_DIR": str(cache)}
    config = "".join(
        f'[functions.{name}]\nsource = "{name}"\nhandler = "app.handler"\nruntime = "python3.12"\n'
        f'architecture = "{arch}"\nrequirements = "requirements.txt"\n'
        for name, arch in (("a", "arm64"), ("b", "arm64"), ("c", "x86_64"))
    )
    files = {f"{n}/app.py": APP + f"# {n}\n" for n in "abc"}
    root = write_tree(tmp_path / "p", {"lambdapack.toml": config, "requirements.txt": "orjson\n", **files})
    engine = CountingEngine()
    project = load_project(root / "lambdapack.toml")
    first = run(
        project, [], jobs=1, ecosystems={"python": PythonEcosystem(environ=env, engine=engine)}, environ=env
    )
    # a and b share the lock and the target: one resolution, one install; c is another target
    assert sorted(engine.calls) == ["compile", "compile", "install", "install"]

    engine.calls.clear()
    (root / "a" / "app.py").write_text(APP + "# changed\n")
    second = run(
        project, [], jobs=1, ecosystems={"python": PythonEcosystem(environ=env, engine=engine)}, environ=env
    )
    assert engine.calls == []  # a source edit never reaches uv
    assert second.artifacts[1:] == first.artifacts[1:]

    # another project of the same user reuses the installed set, byte for byte
    other = write_tree(tmp_path / "q", {"lambdapack.toml": config, "requirements.txt": "orjson\n", **files})
    third = run(
        load_project(other / "lambdapack.toml"),
        ["b"],
        ecosystems={"python": PythonEcosystem(environ=env, engine=engine)},
        environ=env,
    )
    assert engine.calls == []
    assert third.artifacts[0].code_sha256 == first.artifacts[1].code_sha256

    # a corrupt cache entry is detected by its hash and rebuilt
    payloads = list((cache / "deps").glob("*/payload.bin"))
    assert len(payloads) == 2
    for payload in payloads:
        data = bytearray(payload.read_bytes())
        data[len(data) // 2] ^= 0xFF
        payload.write_bytes(bytes(data))
    for path in (root / "dist").glob("*.zip"):
        path.unlink()
    rebuilt = run(
        project, [], jobs=1, ecosystems={"python": PythonEcosystem(environ=env, engine=engine)}, environ=env
    )
    assert engine.calls.count("install") == 2 and "compile" not in engine.calls
    assert [a.code_sha256 for a in rebuilt.artifacts] == [a.code_sha256 for a in second.artifacts]

    info = run_cli("cache", "info", "--json", cwd=root, env={"LAMBDAPACK_CACHE_DIR": str(cache)})
    document = json.loads(info.stdout)
    assert document["path"] == str(cache) and document["deps"]["entries"] == 2
    assert document["locks"]["entries"] >= 2 and document["deps"]["bytes"] > 100_000
    clean = run_cli("cache", "clean", cwd=root, env={"LAMBDAPACK_CACHE_DIR": str(cache)})
    assert clean.returncode == 0 and not (cache / "deps").exists()


@pytest.mark.network
def test_parallel_builds_with_requirements_from_a_fresh_process(tmp_path: Path) -> None:
    """Several threads start uv at once in a new process (uv.find_uv_bin's
    first sysconfig lookup is not thread-safe)."""
    config = 'runtime = "python3.12"\narchitecture = "arm64"\nexclude = ["requirements.txt"]\n' + "".join(
        f'[functions.{n}]\nsource = "{n}"\nhandler = "app.handler"\n' for n in "abcd"
    )
    files = {f"{n}/app.py": APP for n in "abcd"} | {f"{n}/requirements.txt": "six\n" for n in "abcd"}
    root = write_tree(tmp_path, {"lambdapack.toml": config, **files})
    result = run_cli("build", "--jobs", "4", cwd=root)
    assert result.returncode == 0, result.stderr
    assert len({p.read_bytes() for p in (root / "dist").glob("*.zip")}) == 1


def test_progress_on_a_terminal_disappears_into_the_summary(make_project: Callable[..., Path]) -> None:
    import pty
    import subprocess
    import sys

    config = 'runtime = "python3.12"\narchitecture = "arm64"\n' + "".join(
        f'[functions.{n}]\nsource = "{n}"\nhandler = "app.handler"\n' for n in ("one", "two")
    )
    root = make_project(config, {"one/app.py": APP, "two/app.py": APP})
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "lambdapack", "build"],
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    assert process.wait() == 0
    os.close(controller)
    text = output.decode()
    assert "zipping" in text and "\x1b[" in text  # stages drawn in place ...
    summary = text.rsplit("\x1b[J", 1)[-1]  # ... and erased before the summary
    lines = [line for line in summary.replace("\r", "").splitlines() if line]
    assert [line.split()[0] for line in lines] == ["one", "two"]
    assert "zipping" not in summary
