"""The dependency stage of a build: a lock for the target (the lock file, a
cached resolution, or a fresh one), then the installed dependency set from
the cache or installed now, with its per-file check results."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from lambdapack.atomic import exclusive_lock
from lambdapack.cache import Cache, DependencySet
from lambdapack.config import FunctionSpec
from lambdapack.contents import StagedPackage
from lambdapack.ecosystem import Ecosystem
from lambdapack.plan import BuildPlan
from lambdapack.verify import Finding, file_findings


def dependencies(
    spec: FunctionSpec,
    plan: BuildPlan,
    ecosystem: Ecosystem,
    cache: Cache,
    work: Path,
    *,
    root: Path,
    refresh: bool,
    report: Callable[[str], None],
    warnings: list[Finding] | None = None,
    check: bool = True,
    environ: Mapping[str, str] | None = None,
) -> DependencySet | None:
    """The function's dependencies as zip entries, from the cache when this
    lock was installed for this target before; None when there are none.
    Processes that need the same resolution or dependency set wait for the
    one making it and then use it. A lock file that exists but is stale adds
    a warning to ``warnings``."""
    assert plan.dependencies is not None
    lock_key = plan.lock_key()
    stale = ecosystem.lock_status(spec, plan.dependencies)  # (--locked was enforced by the caller)
    if stale is not None and stale != "missing" and warnings is not None:
        where = plan.dependencies.lock_file
        warnings.append(
            Finding(
                severity="warning",
                check="lock",
                path=where,
                message=f"the lock is {stale}; the dependencies were resolved afresh instead",
                fix=f"run `lambdapack lock {spec.name}` and commit the lock (`build --locked` fails instead)",
            )
        )
    if stale is None:
        resolved = ecosystem.resolve(spec, work, cwd=root, reuse=ecosystem.lock_file(spec))
    else:
        with exclusive_lock(cache.root / "locks" / f".resolve-{lock_key}.lock"):  # one resolves, others wait
            reuse = None if refresh else cache.lock_file(lock_key)  # an earlier resolution of the same inputs
            if reuse is None:
                report("resolving")
            resolved = ecosystem.resolve(
                spec, work, cwd=root, reuse=reuse, keep=lambda fresh: cache.store_lock(lock_key, fresh)
            )
    if resolved.empty:
        return None

    notes: list[Finding] = []

    def install_into(site: Path) -> None:
        report("installing")
        notes.extend(ecosystem.install(spec, resolved, site, root))
        if spec.slim:
            notes.extend(_slim(spec, site, environ))
        notes.extend(ecosystem.finish_dependencies(spec, site))

    def finish(made: DependencySet) -> None:
        if check:  # checked once, by the build that made the set
            dependency_findings(made, spec, ecosystem, notes=notes)

    made = cache.dependencies(plan.deps_key(resolved.pins), install_into, finish)
    return replace(made, pins=resolved.pins)  # what the SBOM takes the files' hashes from


def _slim(spec: FunctionSpec, site: Path, environ: Mapping[str, str] | None) -> list[Finding]:
    """Slim the installed tree (lambdapack.slim); a note of what it saved."""
    from lambdapack.slim import slim_tree

    made = slim_tree(
        site, spec.slim, language=spec.target.language, target=spec.target, environ=environ or {}
    )
    if not made.savings:
        return []
    parts = ", ".join(f"{s.option} {s.bytes:,}" for s in made.savings)
    return [
        Finding(
            severity="info",
            check="slim",
            message=f"slimming saved {made.bytes:,} bytes unzipped in {made.files:,} file(s) ({parts})",
        )
    ]


def dependency_findings(
    deps: DependencySet, spec: FunctionSpec, ecosystem: Ecosystem, *, notes: Sequence[Finding] = ()
) -> tuple[frozenset[str], list[Finding]]:
    """The per-file check results of a cached dependency set (computed once per
    set, kept with the ``notes`` of its install)."""
    names = frozenset(entry.name for entry in deps.entries)
    stored = deps.load_findings()
    if stored is not None:
        return names, [Finding.from_json(f) for f in stored]
    package = StagedPackage(deps.entries, label=deps.root.name, ownership=ecosystem.owners)
    findings = [*notes, *file_findings(package, spec.target, package.files, ecosystem)]
    deps.store_findings([f.to_json() for f in findings])
    return names, findings
