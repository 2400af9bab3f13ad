"""Prove a package will load on its target before anyone uploads it.

Each check yields :class:`~lambdapack.verify.model.Finding` objects (severity,
file, distribution, what is wrong and how to fix it). Checks read the package
only through :class:`~lambdapack.contents.Package`, so they run on lambdapack's
staging tree during ``build`` and on any zip with ``lambdapack check``. The
checks common to every language live here (``binaries``, ``size``,
``hygiene``); a language adds its own (ABI, handler) through its ecosystem.
docs/verify.md lists every check.
"""

from __future__ import annotations

from collections.abc import Sequence

from lambdapack.contents import Package, PackageFile
from lambdapack.ecosystem import Ecosystem
from lambdapack.runtimes import Target
from lambdapack.verify import binaries, hygiene, integrity
from lambdapack.verify.model import Finding, Report, render, summarize
from lambdapack.verify.size import (
    API_REQUEST_CAP,
    DIRECT_UPLOAD_LIMIT,
    UNZIPPED_LIMIT,
    size_findings,
    zipped_size_findings,
)

__all__ = [
    "API_REQUEST_CAP",
    "DIRECT_UPLOAD_LIMIT",
    "UNZIPPED_LIMIT",
    "Finding",
    "Report",
    "file_findings",
    "render",
    "summarize",
    "verify",
    "zipped_size_findings",
]

_ORDER = {"error": 0, "warning": 1, "info": 2}


def verify(
    package: Package,
    target: Target,
    handler: str | None,
    ecosystem: Ecosystem,
    *,
    checked: frozenset[str] = frozenset(),
    known: Sequence[Finding] = (),
    provided: frozenset[str] = frozenset(),
) -> Report:
    """Every check on ``package`` for ``target``; ``handler`` None skips that check.

    ``known`` are the findings of :func:`file_findings` for the files named in
    ``checked`` (a cached dependency set): those files are not read again.
    ``provided`` are the files the function's layers add to its path (for the
    handler's imports)."""
    files = [f for f in package.files if f.name not in checked] if checked else list(package.files)
    archive = list(integrity.findings(package))
    damaged = {f.path for f in archive if f.path}
    files = [f for f in files if f.name not in damaged]  # unsafe, bombs, corrupt: read no further
    findings = [
        *archive,
        *file_findings(package, target, files, ecosystem),
        *known,
        *(ecosystem.handler_findings(package, handler, provided) if handler else ()),
        *size_findings(package, package.zipped_size),
    ]
    findings += integrity.unreadable(package, {f.path for f in findings if f.path})
    findings.sort(key=lambda f: (_ORDER[f.severity], f.check, f.path or ""))
    return Report(label=package.label, target=target, handler=handler, findings=tuple(findings))


def file_findings(
    package: Package, target: Target, files: Sequence[PackageFile], ecosystem: Ecosystem
) -> list[Finding]:
    """The checks that look at each file on its own (binaries, the language's
    ABI checks, hygiene): a function of the files and the target, so they can
    be cached."""
    found = list(binaries.findings(package, target, files))
    wrong_machine = {f.path for f in found if f.check == "architecture"}
    own = (f for f in ecosystem.file_findings(package, target, files) if f.path not in wrong_machine)
    return [*found, *own, *hygiene.findings(package, target, files)]
