"""Checks of the archive itself, for zips made by anything (``lambdapack
check``): names an extractor could misuse, symlink entries, duplicate names,
members whose data is corrupt, and zip bombs. Reading is bounded: members are
streamed in 1 MiB chunks, and only once."""

from __future__ import annotations

import stat
from collections import Counter
from collections.abc import Iterator

from lambdapack.archive import name_problem
from lambdapack.contents import Package, ZipPackage
from lambdapack.verify.model import Finding

#: A member that expands more than this many times its compressed size, to more
#: than BOMB_SIZE bytes, is taken for a zip bomb (deflate reaches 1032:1 on zeros; real files rarely 20:1).
BOMB_RATIO = 100
BOMB_SIZE = 64 * 1024 * 1024


def findings(package: Package) -> Iterator[Finding]:
    if not isinstance(package, ZipPackage):
        return  # lambdapack's own staging tree: names were checked when it was made
    counts = Counter(info.filename for info in package.infos)
    for name, count in sorted(counts.items()):
        if count > 1:
            yield _error(name, f"{count} entries share this name; extractors keep one or the other")
    for info in package.infos:
        name = info.filename
        problem = name_problem(name.rstrip("/") if info.is_dir() else name)
        if problem:
            yield _error(name, f"unsafe entry name: {problem} (a path traversal on some extractors)")
            continue
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):
            yield _error(name, "a symbolic link entry; Lambda unpacks it as a link, which may point anywhere")
            continue
        if info.is_dir():
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > BOMB_SIZE and ratio > BOMB_RATIO:
            yield _error(
                name,
                f"expands {ratio:,.0f} times to {info.file_size:,} bytes (a zip bomb?); not read",
            )
            continue
        broken = package.test(name, info)
        if broken:
            yield _error(name, f"corrupt member ({broken})")


def unreadable(package: Package, reported: set[str]) -> Iterator[Finding]:
    """Members other checks could not read (not already reported)."""
    if isinstance(package, ZipPackage):
        for name, why in sorted(package.unreadable.items()):
            if name not in reported:
                yield _error(name, f"corrupt member ({why})")


def _error(name: str, message: str) -> Finding:
    return Finding(
        severity="error",
        check="archive",
        path=name,
        message=message,
        fix="rebuild the zip (lambdapack build writes only safe, verified entries)",
    )
