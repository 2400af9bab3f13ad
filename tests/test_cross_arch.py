"""lambdapack run by an aarch64 CPython (under qemu-user) writes the same
bytes as on the x86_64 host: the zip is a function of its inputs and
lambdapack's version, not of the machine that builds it."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import PROJECTS, elf_header, run_cli

REPO = Path(__file__).resolve().parent.parent
PREPARE = Path(__file__).parent / "qemu" / "prepare-arm64-python.sh"


def _arm64_root() -> Path:
    root = Path(os.environ.get("LAMBDAPACK_ARM64_ROOT", REPO / ".cache" / "arm64-python"))
    subprocess.run(["bash", str(PREPARE), str(root)], check=True, capture_output=True)
    return root


def _project(dest: Path) -> Path:
    """The reference project plus ~1.5 MB of varied text, so deflate's
    match finder and block splitting really work."""
    shutil.copytree(PROJECTS / "reference", dest)
    rng = random.Random(1234)
    words = [f"word{n}" for n in range(3000)]
    lines = (" ".join(rng.choice(words) for _ in range(12)) for _ in range(25_000))
    (dest / "src" / "corpus.txt").write_text("\n".join(lines))
    return dest


@pytest.mark.network  # prepare-arm64-python.sh fetches Debian packages and wheels
@pytest.mark.slow
def test_aarch64_python_builds_the_same_bytes(tmp_path: Path) -> None:
    root = _arm64_root()
    host = _project(tmp_path / "host")
    arm = _project(tmp_path / "arm")
    built = run_cli("build", cwd=host)
    assert built.returncode == 0, built.stderr

    env = {
        **os.environ,
        "PYTHONPATH": f"{root / 'site'}:{REPO}",
        "LAMBDAPACK_CACHE_DIR": str(tmp_path / "arm-cache"),
    }
    probe = [
        "qemu-aarch64-static", "-L", str(root), str(root / "usr/bin/python3.11"),
        "-c", "import platform, deflate; print(platform.machine()); print(deflate._deflate.__file__)",
    ]  # fmt: skip
    machine, extension = subprocess.run(
        probe, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert machine == "aarch64"
    assert elf_header(Path(extension).read_bytes())[2] == 183  # libdeflate built for aarch64
    command = ["qemu-aarch64-static", "-L", str(root), str(root / "usr/bin/python3.11"), "-m", "lambdapack"]
    result = subprocess.run(
        [*command, "build"], cwd=arm, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    host_zip = (host / "dist" / "reference.zip").read_bytes()
    assert len(host_zip) > 100_000
    assert (arm / "dist" / "reference.zip").read_bytes() == host_zip
