"""Small file-system primitives every stage that writes shares: atomic
replacement and an exclusive advisory lock."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def write_bytes(target: Path, data: bytes, *, mode: int = 0o644, sync: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``target`` and rename it over
    ``target``: readers see the old file or the new one, never a part. The
    temporary file, ``.<name>.<pid>.<random>.tmp``, names its writer: a build
    that finds one whose process is gone removes it (archive.stale_temporaries)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        tmp.chmod(mode)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None:  # a write that failed (a full disk): name the file meant
            raise OSError(exc.errno, exc.strerror, str(target)) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if needed; a no-op where
    fcntl is missing). Works between processes and between threads."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
