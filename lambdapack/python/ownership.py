"""Which installed files belong to which distribution: ``*.dist-info/RECORD``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from lambdapack.contents import Distribution, Package


def owners(package: Package) -> dict[str, Distribution]:
    """Each file listed in a top-level ``*.dist-info/RECORD`` (and every file of
    that dist-info) with its distribution."""
    found: dict[str, Distribution] = {}
    for record in (f.name for f in package.files if f.name.endswith(".dist-info/RECORD")):
        dist_info = record[: -len("/RECORD")]
        if "/" in dist_info:
            continue
        name, _, version = dist_info[: -len(".dist-info")].partition("-")
        dist = Distribution(name=name, version=version, metadata=dist_info)
        for path in _record_paths(package.read(record)):
            found[path] = dist
        for file in package.files:
            if file.name.startswith(dist_info + "/"):
                found[file.name] = dist
    return found


def _record_paths(data: bytes) -> Iterator[str]:
    text = data.decode("utf-8", errors="replace")
    for row in csv.reader(io.StringIO(text)):
        if row and row[0] and not row[0].startswith(("/", "..")):
            yield row[0]
