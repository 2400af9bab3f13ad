"""One error family for the whole tool, each kind with its exit code.

The CLI turns a :class:`LambdapackError` into a message on stderr and its
``exit_code``; nothing else in the package exits the process.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Sequence

#: Exit codes, documented in README.md ("Exit codes"). Keep in sync.
EXIT_OK = 0
EXIT_BUILD = 1
EXIT_DIFFERENT = 1  # `diff`: the two zips differ (not an error)
EXIT_USAGE = 2
EXIT_CHECK = 3
EXIT_STALE = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Interrupted(BaseException):
    """SIGINT or SIGTERM, raised in the main thread by the ``lambdapack``
    command's signal handlers (like KeyboardInterrupt, but never taken for
    one by click or a library)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_TERMINATED if self.signum == 15 else EXIT_INTERRUPTED


class LambdapackError(Exception):
    """Base class of every error lambdapack reports to its user."""

    exit_code: int = EXIT_BUILD

    def __init__(self, message: str, *, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        #: What lies behind the message (a tool's command and stderr), shown with --verbose.
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(LambdapackError):
    """The configuration or the command line is wrong; one line per problem."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class BuildError(LambdapackError):
    """A function could not be built."""

    exit_code = EXIT_BUILD


class SourceError(BuildError):
    """The function's own files are unusable (missing handler, bad symlink …)."""


class ResolveError(BuildError):
    """Requirements could not be resolved for the target."""


class InstallError(BuildError):
    """Dependencies could not be installed for the target."""


class ArchiveError(BuildError):
    """The zip could not be written."""


class VerifyError(BuildError):
    """The package would not load on its target (one line per error finding)."""

    exit_code = EXIT_CHECK


class StaleError(BuildError):
    """A lock file or a prebuilt artifact is not what its inputs give now."""

    exit_code = EXIT_STALE


class ToolError(BuildError):
    """An external tool could not be run."""


class ContainerError(BuildError):
    """A source build in a container failed: no engine, no image, a failed compile."""


def os_error(exc: OSError, doing: str = "") -> BuildError:
    """A build error for a file-system failure: the path, what failed and why
    (a full disk, missing permissions, a file where a directory belongs …)."""
    where = exc.filename if exc.filename is not None else "?"
    reason = exc.strerror or type(exc).__name__
    hint = _OS_HINTS.get(exc.errno or 0, "")
    return BuildError(f"{where}: {doing + ': ' if doing else ''}{reason}{hint}")


_OS_HINTS = {
    errno.ENOSPC: " (the disk is full: free space or set another output / LAMBDAPACK_CACHE_DIR)",
    errno.EDQUOT: " (disk quota exceeded)",
    errno.EACCES: " (check the permissions, or choose another directory)",
    errno.EROFS: " (a read-only file system: choose another directory)",
    errno.ENOTDIR: " (a file stands where a directory is needed)",
    errno.ENAMETOOLONG: " (the name is too long for the file system)",
}


def tool_details(command: Sequence[str], stderr: str) -> str:
    """The ``details`` of an error caused by a tool run (credentials redacted)."""
    return redact(f"$ {' '.join(command)}\n{stderr.rstrip()}")


def redact(text: str) -> str:
    """Hide credentials in URLs (``https://user:secret@host`` -> ``https://***@host``)."""
    return re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@", r"\1***@", text)
