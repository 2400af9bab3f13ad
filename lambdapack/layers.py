"""Layers, from a function's side: what it leaves to its layers, and the
function with its layers against Lambda's limits.

A layer is built like a function (lambdapack.usecases.build) and zipped under
the directory Lambda puts on the path from ``/opt`` (``python/``,
``nodejs/``: the ecosystem's ``layer_roots``). A function that uses layers
does not ship a distribution a layer provides at the same version; a
different version is an error unless the function names it in
``layer_overrides`` (its own copy then wins: ``/var/task`` comes first on
Lambda's path). docs/layers.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from lambdapack.archive import ArchiveEntry
from lambdapack.config import FunctionSpec
from lambdapack.contents import Distribution, Package, StagedPackage
from lambdapack.errors import BuildError
from lambdapack.manifest import Artifact
from lambdapack.verify.model import Finding
from lambdapack.verify.size import NEAR_LIMIT, UNZIPPED_LIMIT, share


def prefixed(entries: Sequence[ArchiveEntry], root: str) -> list[ArchiveEntry]:
    """``entries`` under ``root`` ("python/" …) in the zip."""
    return [replace(entry, name=root + entry.name) for entry in entries]


def leave_to_layers(
    spec: FunctionSpec,
    installed: Sequence[ArchiveEntry],
    layers: Sequence[Artifact],
    ownership: Callable[[Package], dict[str, Distribution]],
) -> tuple[list[ArchiveEntry], frozenset[str]]:
    """The installed dependency files the function still ships: those of
    distributions no layer provides at the same version; and the labels
    ("name version") of the distributions left to the layers. Raises BuildError
    naming both versions when a layer has another version of one, unless it
    is in the function's ``layer_overrides``."""
    provided: dict[str, tuple[str, str]] = {}
    for layer in layers:  # Lambda unpacks them in order: a later layer's files win
        for name, version in layer.distributions:
            provided[canonical(name)] = (version, layer.name)
    overrides = {canonical(name) for name in spec.layer_overrides}
    owners = StagedPackage(installed, label=spec.name, ownership=ownership).owners()
    left: set[Distribution] = set()
    conflicts: list[str] = []
    for dist in sorted(set(owners.values()), key=lambda d: canonical(d.name)):
        hit = provided.get(canonical(dist.name))
        if hit is None:
            continue
        version, layer_name = hit
        if version == dist.version:
            left.add(dist)
        elif canonical(dist.name) not in overrides:
            conflicts.append(f"{dist.name} {dist.version} here, {version} in layer {layer_name}")
    if conflicts:
        raise BuildError(
            "a layer has another version of what the function installs: "
            + "; ".join(conflicts)
            + "; pin the layer's version in the function's requirements, or name the distribution in "
            "layer_overrides to ship the function's own"
        )
    kept = [entry for entry in installed if owners.get(entry.name) not in left]
    return kept, frozenset(d.label() for d in left)


def layer_size_findings(package: Package, layers: Sequence[tuple[str, int]]) -> list[Finding]:
    """The function's files plus its layers' (name, unzipped bytes) against
    Lambda's 262,144,000-byte unzipped limit (an error over it, a warning from
    80 %), with the breakdown."""
    if not layers:
        return []
    own = sum(f.size for f in package.files)
    total = own + sum(size for _name, size in layers)
    if total < NEAR_LIMIT * UNZIPPED_LIMIT:
        return []
    over = total > UNZIPPED_LIMIT
    details = (
        f"  {own:>13,}  function {package.label}",
        *(f"  {size:>13,}  layer {name}" for name, size in layers),
        f"  {total:>13,}  in all",
    )
    return [
        Finding(
            severity="error" if over else "warning",
            check="size",
            message=f"the function and its layers unzip to {total:,} bytes, "
            f"{share(total, UNZIPPED_LIMIT)} Lambda's limit ({UNZIPPED_LIMIT:,} bytes)",
            fix="leave out what the function does not import (slim, dependency_exclude), use fewer layers, "
            "or package it as a container image",
            details=details,
        )
    ]


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 / npm compare it."""
    return re.sub(r"[-_.]+", "-", name).lower()
