"""Run a Python Lambda handler from a built zip on the target's machine: the
host's CPython of the runtime's version for x86_64, the arm64 CPython of
``tests/qemu/prepare-arm64-python.sh`` under ``qemu-aarch64-static`` for arm64.

The interpreter runs isolated (``-I -S``: no site-packages, no user paths), so
only the zip's own files can be imported, from a read-only task directory,
as on Lambda; layer zips are unpacked together into one read-only ``opt``
directory and put on the path after the task directory, in the Python
runtime's order (/var/task, /opt/python/lib/pythonX.Y/site-packages,
/opt/python).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_PREPARE = Path(__file__).parent / "qemu" / "prepare-arm64-python.sh"
_MARKER = "--pyrun-result--"
_DRIVER = """
import importlib, json, sys
task, handler, event = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[0:0] = [task, *sys.argv[4:]]  # the task, then the layers' directories
module, _, function = handler.rpartition(".")
result = getattr(importlib.import_module(module), function)(event, None)
print("\\n" + MARKER + json.dumps(result))
""".replace("MARKER", repr(_MARKER))


def arm64_python_root() -> Path:
    root = Path(os.environ.get("LAMBDAPACK_ARM64_ROOT", REPO / ".cache" / "arm64-python"))
    subprocess.run(["bash", str(_PREPARE), str(root)], check=True, capture_output=True)
    return root


def interpreter(version: str, architecture: str) -> list[str]:
    """The command that runs CPython ``version`` ("3.11") on ``architecture``."""
    if architecture == "arm64":
        assert version == "3.11", "tests/qemu prepares an arm64 CPython 3.11 only"
        root = arm64_python_root()
        return ["qemu-aarch64-static", "-L", str(root), str(root / "usr" / "bin" / "python3.11")]
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return [sys.executable]
    found = shutil.which(f"python{version}")
    assert found is not None, f"no python{version} on PATH for x86_64 handlers"
    return [found]


def _unpacked(zips: Sequence[Path], directory: Path) -> None:
    """``zips`` extracted into a fresh, read-only ``directory`` (later ones
    over earlier ones, as Lambda stacks layers in /opt)."""
    if directory.exists():
        for path in [directory, *directory.rglob("*")]:  # writable again, to be removed
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for zip_path in zips:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(directory)
    for path in [directory, *directory.rglob("*")]:  # read-only, as /var/task and /opt are
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def run_handler(
    zip_path: Path,
    handler: str,
    event: object,
    *,
    architecture: str,
    work: Path,
    version: str = "3.11",
    layers: Sequence[Path] = (),
) -> object:
    """Invoke ``handler`` of the zip with ``event``, with the layer zips
    ``layers`` (in the order Lambda stacks them) unpacked under ``work/opt``;
    its JSON-decoded result. A failed run raises AssertionError with the
    interpreter's stderr."""
    task = work / "task"
    _unpacked([zip_path], task)
    layer_path: list[str] = []
    if layers:
        opt = work / "opt"
        _unpacked(layers, opt)
        layer_path = [str(opt / "python" / "lib" / f"python{version}" / "site-packages"), str(opt / "python")]
    command = [*interpreter(version, architecture), "-I", "-S", "-B", "-c", _DRIVER]
    command += [str(task), handler, json.dumps(event), *layer_path]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, f"{handler} failed on {architecture}:\n{done.stderr}"
    line = done.stdout.rsplit(_MARKER, 1)[-1].strip()
    return json.loads(line)
