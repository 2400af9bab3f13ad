"""The ``lambdapack lock`` use case: write (or check) each function's lock
file, the resolution of its dependency input for its target."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdapack.config import FunctionSpec, Project
from lambdapack.ecosystem import Ecosystem, Ecosystems


@dataclass(frozen=True, kw_only=True, slots=True)
class LockResult:
    """One lock file: where, for which functions, and its state."""

    path: Path
    functions: tuple[str, ...]
    problem: str | None  # None: current (or just written)
    packages: int = 0


def lock_functions(
    project: Project,
    names: Sequence[str],
    *,
    check_only: bool = False,
    environ: Mapping[str, str] | None = None,
    ecosystems: Mapping[str, Ecosystem] | None = None,
) -> list[LockResult]:
    """Resolve each selected function's (and layer's) dependencies for its target into its
    lock file; functions sharing an input and a target share one lock. With
    ``check_only``, only report which are missing or stale."""
    made = Ecosystems(os.environ if environ is None else environ, ecosystems)
    groups: dict[Path, list[FunctionSpec]] = {}
    for spec in project.select_units(names):  # layers have locks too
        path = made.for_target(spec.target).lock_file(spec)
        if path is not None:
            groups.setdefault(path, []).append(spec)
    results = []
    for path, specs in sorted(groups.items()):
        spec = specs[0]
        ecosystem = made.for_target(spec.target)
        dependencies = ecosystem.plan(spec, project.root)
        assert dependencies is not None
        functions = tuple(s.name for s in specs)
        problem = ecosystem.lock_status(spec, dependencies)
        if check_only or problem is None:
            results.append(LockResult(path=path, functions=functions, problem=problem))
            continue
        with tempfile.TemporaryDirectory(prefix="lambdapack-lock-") as work:
            count = ecosystem.write_lock(spec, dependencies, Path(work), project.root)
        results.append(LockResult(path=path, functions=functions, problem=None, packages=count))
    return results


__all__ = ["LockResult", "lock_functions"]
