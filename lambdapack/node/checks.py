"""Node.js's own per-file checks: native addons (``.node``) linked against
musl, and packages whose native addon was never built for the target."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from lambdapack import elf
from lambdapack.contents import Package, PackageFile
from lambdapack.node.ownership import package_root
from lambdapack.runtimes import Target
from lambdapack.verify.binaries import PARSE_LIMIT, owner
from lambdapack.verify.model import Finding


def findings(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    yield from _musl(package, target, files)
    yield from _unbuilt(package, target, files)
    yield from _manager_state(files)


#: npm's command links and package managers' state: never read by a function at run time.
_STATE_NAMES = frozenset({".package-lock.json", ".modules.yaml", ".yarn-state.yml", ".yarn-integrity"})


def _manager_state(files: Sequence[PackageFile]) -> Iterator[Finding]:
    found = [
        f
        for f in files
        if "node_modules/" in f.name
        and (
            "/.bin/" in f"/{f.name}" or f.name.rsplit("/", 1)[-1] in _STATE_NAMES or "/.pnpm/" in f"/{f.name}"
        )
    ]
    if found:
        yield Finding(
            severity="warning",
            check="hygiene",
            path=found[0].name,
            message=f"{len(found)} file(s) of npm's .bin links or package managers' state "
            f"({sum(f.size for f in found):,} bytes); a function never runs or reads them",
            fix="leave node_modules/.bin/ and the state files out (lambdapack build does)",
            details=tuple(f.name for f in found[:5]),
        )


def _musl(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    for file in files:
        if not file.name.endswith(".node") or file.size > PARSE_LIMIT:
            continue
        if package.head(file.name, 4) != elf.ELF_MAGIC:
            continue
        try:
            info = elf.parse(package.read(file.name))
        except ValueError:
            continue
        musl = [lib for lib in info.needed if lib.startswith(("libc.musl", "ld-musl"))]
        if musl:
            owner_ = owner(package, file.name)
            yield Finding(
                severity="error",
                check="libc",
                path=file.name,
                distribution=owner_,
                message=f"native addon linked against musl ({', '.join(musl)}); Lambda's "
                f"{target.runtime.os} has glibc",
                fix=f"install {owner_ or 'the package'} for libc=glibc (lambdapack build does; "
                "npm needs --libc=glibc)",
            )


def _optional(package: Package, root: str) -> list[str]:
    """A package's optional dependencies (where sharp-style packages keep their addons)."""
    try:
        data = json.loads(package.read(f"{root}/package.json"))
    except (KeyError, OSError, ValueError, UnicodeDecodeError):
        return []
    optional = data.get("optionalDependencies") if isinstance(data, dict) else None
    return [str(name) for name in optional] if isinstance(optional, dict) else []


def _own(name: str, root: str) -> bool:
    """Whether ``name`` is a file of the package at ``root`` itself (not of a nested dependency)."""
    return name.startswith(root + "/") and "/node_modules/" not in name[len(root) :]


def _within(name: str, roots: tuple[str, ...]) -> bool:
    """Whether ``name`` lies in one of the package directories ``roots``, at any nesting."""
    return any(name.startswith(r) or f"/{r}" in name for r in roots)


def _unbuilt(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    """A dependency with a binding.gyp but no ``.node`` file anywhere in it:
    its addon was never built (install scripts did not run)."""
    names = [f.name for f in package.files]
    for file in files:
        if not file.name.endswith("/binding.gyp") or "node_modules/" not in file.name:
            continue
        root = package_root(file.name) or file.name.rsplit("/", 1)[0]
        optional = tuple(f"node_modules/{name}/" for name in _optional(package, root))
        if any(n.endswith(".node") and (_own(n, root) or _within(n, optional)) for n in names):
            continue
        owner_ = owner(package, file.name)
        yield Finding(
            severity="warning",
            check="architecture",
            path=root + "/",
            distribution=owner_,
            message=f"{owner_ or root} has a binding.gyp but no compiled addon (.node); requiring it "
            "fails unless it falls back to JavaScript",
            fix=f"use a version with prebuilt binaries for linux {target.architecture.name}, or build it "
            "in a container of the runtime's build image",
        )
