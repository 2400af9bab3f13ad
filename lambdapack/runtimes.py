"""The Lambda runtimes and architectures lambdapack builds for: one table.

A runtime is a language at a version on a base OS, whose glibc bounds which
native code loads there. Nothing here is specific to one language: what a
language makes of a target (Python's ABI tag and wheel platforms, for
instance) lives in that language's subpackage.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Runtime:
    name: str  # Lambda's name, e.g. "python3.12"
    language: str  # the ecosystem that builds it (lambdapack.ecosystem)
    version: tuple[int, int]  # the language's major.minor
    os: str
    glibc: tuple[int, int]

    @property
    def version_string(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Architecture:
    name: str  # Lambda's name
    machine: str  # uname -m / wheel tag machine
    elf_machine: int  # ELF e_machine


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    runtime: Runtime
    architecture: Architecture

    @property
    def language(self) -> str:
        return self.runtime.language

    def describe(self) -> str:
        return f"{self.runtime.name} {self.architecture.name}"

    def to_json(self) -> dict[str, str]:
        return {"runtime": self.runtime.name, "architecture": self.architecture.name}


AL2 = "Amazon Linux 2"
AL2023 = "Amazon Linux 2023"
_GLIBC = {AL2: (2, 26), AL2023: (2, 34)}


def _row(name: str, language: str, version: tuple[int, int], os: str) -> Runtime:
    return Runtime(name=name, language=language, version=version, os=os, glibc=_GLIBC[os])


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        _row("python3.10", "python", (3, 10), AL2),
        _row("python3.11", "python", (3, 11), AL2),
        _row("python3.12", "python", (3, 12), AL2023),
        _row("python3.13", "python", (3, 13), AL2023),
        _row("python3.14", "python", (3, 14), AL2023),
        _row("nodejs18.x", "node", (18, 0), AL2),
        _row("nodejs20.x", "node", (20, 0), AL2023),
        _row("nodejs22.x", "node", (22, 0), AL2023),
        _row("nodejs24.x", "node", (24, 0), AL2023),
    )
}

ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(name="x86_64", machine="x86_64", elf_machine=62),
        Architecture(name="arm64", machine="aarch64", elf_machine=183),
    )
}


#: Shared libraries the Lambda base images provide, by OS: a ``DT_NEEDED``
#: entry outside this set must be bundled in the package (as auditwheel does in
#: ``<dist>.libs/``) or the import fails. Documented in docs/verify.md.
SYSTEM_LIBRARIES: dict[str, frozenset[str]] = {
    os_name: frozenset(
        {
            "libc.so.6",
            "libm.so.6",
            "libpthread.so.0",
            "libdl.so.2",
            "librt.so.1",
            "libutil.so.1",
            "libresolv.so.2",
            "libanl.so.1",
            "libgcc_s.so.1",
            "libstdc++.so.6",
            "libz.so.1",
            "ld-linux-x86-64.so.2",
            "ld-linux-aarch64.so.1",
            *extra,
        }
    )
    for os_name, extra in ((AL2, ("libnsl.so.1", "libcrypt.so.1")), (AL2023, ("libcrypt.so.2",)))
}


def target(runtime: str, architecture: str) -> Target:
    """The target for Lambda's runtime and architecture names (both known)."""
    return Target(runtime=RUNTIMES[runtime], architecture=ARCHITECTURES[architecture])
