"""Shared helpers: mini projects on disk, running the real CLI, reading ELF headers."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

PROJECTS = Path(__file__).parent / "projects"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test run gets its own lambdapack cache (shared by its tests)."""
    old = os.environ.get("LAMBDAPACK_CACHE_DIR")
    os.environ["LAMBDAPACK_CACHE_DIR"] = str(tmp_path_factory.mktemp("lambdapack-cache"))
    yield
    if old is None:
        os.environ.pop("LAMBDAPACK_CACHE_DIR", None)
    else:
        os.environ["LAMBDAPACK_CACHE_DIR"] = old


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Create ``files`` (relative path → content) below ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    def make(config: str, files: Mapping[str, str | bytes], name: str = "project") -> Path:
        root = tmp_path / name
        write_tree(root, {"lambdapack.toml": config, **files})
        return root

    return make


def copy_project(name: str, dest: Path) -> Path:
    shutil.copytree(PROJECTS / name, dest)
    return dest


def run_cli(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    umask: int | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m lambdapack`` as a real process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lambdapack", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


def elf_header(data: bytes) -> tuple[int, int, int]:
    """(EI_CLASS, EI_DATA, e_machine) of an ELF image; independent of lambdapack."""
    assert data[:4] == b"\x7fELF", "not an ELF file"
    ei_class, ei_data = data[4], data[5]
    fmt = "<H" if ei_data == 1 else ">H"
    (machine,) = struct.unpack_from(fmt, data, 18)
    return ei_class, ei_data, machine


def shared_objects(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {n: zf.read(n) for n in zf.namelist() if n.endswith(".so") or ".so." in n}
