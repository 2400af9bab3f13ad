"""The build plan: every input that decides a function's zip bytes, computed
in one place as one structured, versioned record.

The plan holds the function's target and handler, the options that change
bytes or checks, the versions of lambdapack and of the tools whose output is
shipped, every source file (name, executable bit, content hash) and, from the
function's ecosystem, the dependency input with its related files, its lock
file, selection and index settings (hashed). Everything that decides whether
work can be skipped derives from it:

* :attr:`BuildPlan.fingerprint` — the function's zip is current when it is unchanged;
* :meth:`BuildPlan.lock_key` — a cached resolution of the dependencies;
* :meth:`BuildPlan.deps_key` — a cached installed dependency set.

``<output>/.lambdapack-plan.json`` keeps the plan of each function's last
build beside the state, so that a change can be explained input by input.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from lambdapack import __version__
from lambdapack.archive import ArchiveEntry
from lambdapack.cache import key as cache_key
from lambdapack.ecosystem import DependencyPlan
from lambdapack.runtimes import Target
from lambdapack.sources import Selected, select

if TYPE_CHECKING:
    from lambdapack.cache import Cache
    from lambdapack.config import FunctionSpec
    from lambdapack.ecosystem import Ecosystem
    from lambdapack.state import TreeMemos

from lambdapack.state import PLAN_VERSION

__all__ = ["PLAN_VERSION", "BuildPlan", "Planned", "SourceFile", "for_function", "make"]


class SourceFile(NamedTuple):
    """One source file of a plan (a named tuple: a plan may list 20,000)."""

    name: str  # in the zip
    executable: bool
    sha256: str  # of the content, hex


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildPlan:
    function: str
    target: Target
    handler: str
    #: Options that change the bytes or the checks (epoch, check, dependency_exclude).
    options: Mapping[str, object]
    #: lambdapack's version and the ecosystem's tools.
    engines: Mapping[str, str]
    sources: tuple[SourceFile, ...]
    dependencies: DependencyPlan | None
    fingerprint: str = field(default="", compare=False)

    def head(self) -> dict[str, object]:
        """Everything but the sources, as JSON values."""
        return {
            "version": PLAN_VERSION,
            "function": self.function,
            "target": self.target.to_json(),
            "handler": self.handler,
            "options": dict(self.options),
            "engines": dict(self.engines),
            "dependencies": self.dependencies.to_json() if self.dependencies else None,
        }

    def to_json(self) -> dict[str, object]:
        return {
            **self.head(),
            "fingerprint": self.fingerprint,
            "sources": [[s.name, s.executable, s.sha256] for s in self.sources],
        }

    def lock_key(self) -> str:
        """The cache key of a resolution of these dependencies for this target."""
        assert self.dependencies is not None
        deps = self.dependencies
        return cache_key(
            "lock",
            _canonical(
                {
                    "input": deps.input_digest,
                    "lock": deps.lock_digest,
                    "target": self.target.to_json(),
                    "index": dict(deps.index),
                    "options": dict(deps.options),
                    "engines": dict(self.engines),
                }
            ),
        )

    def deps_key(self, pins: bytes) -> str:
        """The cache key of the dependency set installed from ``pins`` for this target."""
        assert self.dependencies is not None
        return cache_key(
            "deps",
            pins,
            _canonical(
                {
                    "target": self.target.to_json(),
                    "dependency_exclude": self.options.get("dependency_exclude"),
                    # slimmed and compiled before it is cached; a layer's compiled for /opt/python
                    **{name: self.options[name] for name in ("slim", "bytecode") if name in self.options},
                    **(
                        {"root": "layer" if "layer" in self.options else "function"}
                        if "bytecode" in self.options
                        else {}
                    ),
                    "options": dict(self.dependencies.options),
                    "engines": dict(self.engines),
                }
            ),
        )


def make(
    *,
    function: str,
    target: Target,
    handler: str,
    options: Mapping[str, object],
    engines: Mapping[str, str],
    sources: tuple[SourceFile, ...],
    dependencies: DependencyPlan | None,
) -> BuildPlan:
    """A plan with its fingerprint."""
    plan = BuildPlan(
        function=function,
        target=target,
        handler=handler,
        options=options,
        engines=engines,
        sources=sources,
        dependencies=dependencies,
    )
    digest = hashlib.sha256(_canonical(plan.head()).encode())
    for source in sources:
        digest.update(f"\n{source.name}\0{int(source.executable)}\0{source.sha256}".encode())
    return replace(plan, fingerprint=digest.hexdigest())


def _canonical(value: Mapping[str, object]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, kw_only=True, slots=True)
class Planned:
    """A plan with the source entries it was computed from (to zip them)."""

    plan: BuildPlan
    selected: tuple[Selected, ...]  # the source trees (own code, local packages)

    @property
    def trees(self) -> tuple[str, ...]:
        """The keys of the source walks' memos."""
        return tuple(tree.key for tree in self.selected)

    def sources(self) -> tuple[ArchiveEntry, ...]:
        """The source files as zip entries (made when a build needs them)."""
        return tuple(entry for tree in self.selected for entry in tree.entries())


def for_function(
    spec: FunctionSpec,
    ecosystem: Ecosystem,
    *,
    project_root: Path,
    memos: TreeMemos,
    options: Mapping[str, object],
    skip: Sequence[Path] = (),
    environ: Mapping[str, str] | None = None,
    cache: Cache | None = None,
) -> Planned:
    """The plan of ``spec``: its sources (own files and local packages) with
    their content hashes (remembered in ``memos``), its dependency inputs from
    ``ecosystem``, ``options`` and the engines' versions. The one place a
    function's inputs are gathered."""
    trees = []
    if spec.source is not None:  # (a layer of dependencies only has none)
        trees.append(
            select(
                spec.source,
                project_root=project_root,
                memos=memos,
                exclude=spec.exclude,
                include=spec.include,
                skip=skip,
                defaults=ecosystem.default_excludes,
            )
        )
    for local in ecosystem.local_sources(spec):
        trees.append(
            select(local.path, project_root=project_root, memos=memos, exclude=local.exclude, skip=skip)
        )
    sources = tuple(
        SourceFile(name, executable, digest)
        for tree in trees
        for name, executable, digest in zip(tree.names, tree.executables, tree.hashes, strict=True)
    )
    dependencies = ecosystem.plan(spec, project_root)
    # The language's tools only decide the bytes of functions that have dependencies.
    tools = dict(ecosystem.engine_versions()) if dependencies is not None else {}
    tools.update(ecosystem.package_tools(spec))
    if "strip" in spec.slim and dependencies is not None:
        env = environ if environ is not None else {}
        search = env.get("PATH", os.defpath).split(os.pathsep)
        machine = spec.target.architecture.machine
        find = functools.partial(_strip_tool, spec.target, env)
        found = cache.tool(f"strip {machine}", search, find) if cache is not None else find()
        tools["strip"] = found[1] if found else "-"  # none: the build says so
    plan = make(
        function=spec.name,
        target=spec.target,
        handler=spec.handler,
        options={**options, **_spec_options(spec)},
        engines={"lambdapack": __version__, **tools},
        sources=sources,
        dependencies=dependencies,
    )
    return Planned(plan=plan, selected=tuple(trees))


def _strip_tool(target: Target, environ: Mapping[str, str]) -> tuple[str, str] | None:
    from lambdapack.slim import strip_tool  # (imported only when the tool is looked for)

    return strip_tool(target, environ)


def _spec_options(spec: FunctionSpec) -> dict[str, object]:
    """The function's options that change its bytes; those added since plans
    were first recorded appear only when set, so that older plans stay current."""
    options: dict[str, object] = {"dependency_exclude": list(spec.dependency_exclude)}
    if spec.bytecode != "none":
        options["bytecode"] = spec.bytecode
    if spec.slim:
        options["slim"] = list(spec.slim)
    if spec.layer is not None:
        role = spec.layer
        options["layer"] = {
            "name": role.name,
            "runtimes": list(role.runtimes),
            "architectures": list(role.architectures),
        }
    if spec.layer_overrides:
        options["layer_overrides"] = sorted(spec.layer_overrides)
    if spec.bundle is not None:
        options["bundle"] = spec.bundle.to_json()
    if spec.sbom:  # not a byte of the zip, but an output the build writes
        options["sbom"] = True
    return options
