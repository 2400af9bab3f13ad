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
    for file in package.files:  # bytecode compiled after the install is its source's
        if file.name.endswith(".pyc") and file.name not in found:
            owner = found.get(_source_of(file.name))
            if owner is not None:
                found[file.name] = owner
    return found


def _source_of(pyc: str) -> str:
    """The source of a ``.pyc``: ``a/__pycache__/m.cpython-311.pyc`` and the
    sourceless ``a/m.pyc`` are both ``a/m.py``'s."""
    directory, _, name = pyc.rpartition("/")
    if directory == "__pycache__" or directory.endswith("/__pycache__"):
        directory = directory[: -len("__pycache__")].rstrip("/")
        name = name.split(".", 1)[0] + ".pyc"
    return f"{directory}/{name[:-1]}" if directory else name[:-1]


def _record_paths(data: bytes) -> Iterator[str]:
    text = data.decode("utf-8", errors="replace")
    for row in csv.reader(io.StringIO(text)):
        if row and row[0] and not row[0].startswith(("/", "..")):
            yield row[0]
