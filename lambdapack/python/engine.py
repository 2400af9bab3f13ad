"""The resolver/installer engine: uv, driven only through subprocess.

lambdapack never imports pip or uv internals. :class:`Engine` is the small
surface the lock and install stages need; :class:`UvEngine` implements it by
running the ``uv`` binary shipped in the ``uv`` wheel.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lambdapack import processes
from lambdapack.errors import ToolError
from lambdapack.python.target import python_version, uv_platform
from lambdapack.runtimes import Target


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolResult:
    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class Engine(Protocol):
    def compile(
        self, requirements: Path, target: Target, output: Path, *, cwd: Path, extra: Sequence[str] = ()
    ) -> ToolResult:
        """Resolve ``requirements`` for ``target`` into a hashed lock at ``output``
        (a ``pylock.toml`` listing every candidate file when ``output`` is named so)."""
        ...

    def install(
        self,
        lock: Path,
        target: Target,
        dest: Path,
        *,
        cwd: Path,
        resolve_deps: bool,
        extra: Sequence[str] = (),
        exact: bool = False,
    ) -> ToolResult:
        """Install the hash-checked ``lock`` for ``target`` into ``dest``;
        ``exact``: the lock names one file per pin (lambdapack.python.pins), so
        the resolution's wider platform level may be used."""
        ...

    def build_wheel(
        self, sdist: Path, out: Path, *, constraints: Path, cwd: Path, extra: Sequence[str] = ()
    ) -> ToolResult:
        """Build ``sdist`` into a wheel in ``out`` on this machine, in an isolated
        environment whose build requirements are the hash-pinned ``constraints``."""
        ...

    def export(self, project: Path, args: Sequence[str]) -> ToolResult:
        """Export a uv.lock in ``project`` as hashed requirements (stdout)."""
        ...


#: One lock for every engine of the process: uv.find_uv_bin() races with itself in threads.
_FIND_LOCK = threading.Lock()


class UvEngine:
    """:class:`Engine` backed by ``uv pip compile`` / ``uv pip install``."""

    def __init__(self, uv: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._uv = uv  # found on first use: a build with nothing to install never needs uv
        self._lock = threading.Lock()
        base = dict(os.environ if environ is None else environ)
        base.setdefault("UV_NO_PROGRESS", "1")
        # pip's index settings count too (uv reads only its own variables).
        if base.get("PIP_INDEX_URL") and not (base.get("UV_INDEX_URL") or base.get("UV_DEFAULT_INDEX")):
            base["UV_INDEX_URL"] = base["PIP_INDEX_URL"]
        if base.get("PIP_EXTRA_INDEX_URL") and not base.get("UV_EXTRA_INDEX_URL"):
            base["UV_EXTRA_INDEX_URL"] = base["PIP_EXTRA_INDEX_URL"]
        base["NO_COLOR"] = "1"
        self._env = base

    def compile(
        self, requirements: Path, target: Target, output: Path, *, cwd: Path, extra: Sequence[str] = ()
    ) -> ToolResult:
        pylock = output.name.startswith("pylock.")
        return self._run(
            [
                "pip",
                "compile",
                str(requirements),
                "--output-file",
                str(output),
                *(["--format", "pylock.toml"] if pylock else []),
                *_target_args(target, resolution_platform(target) if pylock else uv_platform(target)),
                # Wheels only: ``--no-binary NAME`` in ``extra`` allows one package's sdist.
                "--only-binary",
                ":all:",
                # The running interpreter: uv needs one, and would otherwise look for (or
                # download) one of the target's version; the target is set by the options above.
                "--python",
                sys.executable,
                "--generate-hashes",
                "--no-header",
                "--no-annotate",
                "--quiet",
                *extra,
            ],
            cwd,
        )

    def install(
        self,
        lock: Path,
        target: Target,
        dest: Path,
        *,
        cwd: Path,
        resolve_deps: bool,
        extra: Sequence[str] = (),
        exact: bool = False,
    ) -> ToolResult:
        return self._run(
            [
                "pip",
                "install",
                "--target",
                str(dest),
                *_target_args(target, resolution_platform(target) if exact else uv_platform(target)),
                "--only-binary",
                ":all:",
                "--python",
                sys.executable,
                "--no-installer-metadata",
                "--no-compile-bytecode",
                "--require-hashes",
                *([] if resolve_deps else ["--no-deps"]),
                "--requirements",
                str(lock),
                "--quiet",
                *extra,
            ],
            cwd,
        )

    def build_wheel(
        self, sdist: Path, out: Path, *, constraints: Path, cwd: Path, extra: Sequence[str] = ()
    ) -> ToolResult:
        return self._run(
            [
                "build",
                str(sdist),
                "--wheel",
                "--out-dir",
                str(out),
                "--build-constraints",
                str(constraints),
                "--require-hashes",
                "--python",
                sys.executable,
                "--no-create-gitignore",
                "--quiet",
                *extra,
            ],
            cwd,
            # the wheel's file times (the zip does not keep them, the cached wheel does)
            env={"SOURCE_DATE_EPOCH": "315532800"},
        )

    def export(self, project: Path, args: Sequence[str]) -> ToolResult:
        return self._run(["export", "--frozen", "--format", "requirements-txt", *args], project)

    @property
    def uv(self) -> str:
        with _FIND_LOCK:  # uv.find_uv_bin's first sysconfig call is not thread-safe
            if self._uv is None:
                self._uv = _find_uv()
            return self._uv

    def _run(self, args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> ToolResult:
        command = (self.uv, *args)
        try:
            proc = processes.run(command, cwd=cwd, env={**self._env, **(env or {})})
        except OSError as exc:
            raise ToolError(f"cannot run uv ({self.uv}): {exc.strerror}") from None
        return ToolResult(command=command, returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)


def _target_args(target: Target, platform: str) -> list[str]:
    return ["--python-platform", platform, "--python-version", python_version(target)]


def _find_uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:  # pragma: no cover - uv is a dependency
        return "uv"
    return find_uv_bin()


def resolution_platform(target: Target) -> str:
    """lambdapack.python.pins.resolution_platform (imported when a resolution needs it:
    a build that reuses its lock and dependency set never loads the pin selection)."""
    from lambdapack.python.pins import resolution_platform as platform

    return platform(target)
