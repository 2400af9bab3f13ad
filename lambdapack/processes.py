"""External tools, run so that an interrupted build stops them at once.

Every tool lambdapack starts (uv, and later npm or docker) runs through
:func:`run`, in a session of its own, and is registered while it runs. When a
build is interrupted, :func:`stop_all` terminates every registered process
group (then kills what is left after a short grace period) and makes every
later :func:`run` fail with :class:`Cancelled`, so worker threads finish
within a fraction of a second instead of waiting for their tools.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from lambdapack.errors import BuildError

_GRACE = 0.2  # seconds between SIGTERM and SIGKILL


class Cancelled(BuildError):
    """The build was interrupted while this tool ran (or was about to)."""


class _Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen[str]] = set()
        self.stopping = threading.Event()


_REGISTRY = _Registry()


def run(command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to completion, capturing its output (text); raises
    OSError when it cannot be started and :class:`Cancelled` when the build
    is being interrupted."""
    if _REGISTRY.stopping.is_set():
        raise Cancelled("interrupted")
    proc = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: stop_all() stops its children too
    )
    with _REGISTRY.lock:
        _REGISTRY.running.add(proc)
    try:
        stdout, stderr = proc.communicate()
    finally:
        with _REGISTRY.lock:
            _REGISTRY.running.discard(proc)
    if _REGISTRY.stopping.is_set():
        raise Cancelled("interrupted")
    return subprocess.CompletedProcess(list(command), proc.returncode, stdout, stderr)


def stop_all() -> None:
    """Stop every running tool and refuse to start new ones (an interrupt)."""
    _REGISTRY.stopping.set()
    with _REGISTRY.lock:
        running = list(_REGISTRY.running)
    for proc in running:
        _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + _GRACE
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)


def stopping() -> bool:
    return _REGISTRY.stopping.is_set()


def reset() -> None:
    """Allow tools again (for a library caller that goes on after an interrupt)."""
    _REGISTRY.stopping.clear()


def _signal(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # it ended meanwhile
        os.killpg(proc.pid, sig)
