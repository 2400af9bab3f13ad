"""The Lambda runtimes and architectures lambdapack builds for: one table.

Each runtime fixes the Python version and the glibc of its base image; the
glibc bounds which ``manylinux`` wheels load there (see docs/design.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Runtime:
    name: str
    python: tuple[int, int]
    glibc: tuple[int, int]
    os: str

    @property
    def python_version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Architecture:
    name: str  # Lambda's name
    machine: str  # wheel tag / platform_machine
    elf_machine: int  # ELF e_machine


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    runtime: Runtime
    architecture: Architecture

    @property
    def python_version(self) -> str:
        return self.runtime.python_version

    @property
    def uv_platform(self) -> str:
        """The ``--python-platform`` triple for uv: the highest glibc level uv
        offers that does not exceed the runtime's glibc."""
        best = max(g for g in UV_MANYLINUX_LEVELS if g <= self.runtime.glibc)
        return f"{self.architecture.machine}-manylinux_{best[0]}_{best[1]}"

    @property
    def abi_tag(self) -> str:
        return f"cp{self.runtime.python[0]}{self.runtime.python[1]}"

    def describe(self) -> str:
        return f"{self.runtime.name} {self.architecture.name}"


_AL2 = "Amazon Linux 2"
_AL2023 = "Amazon Linux 2023"

RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(name="python3.10", python=(3, 10), glibc=(2, 26), os=_AL2),
        Runtime(name="python3.11", python=(3, 11), glibc=(2, 26), os=_AL2),
        Runtime(name="python3.12", python=(3, 12), glibc=(2, 34), os=_AL2023),
        Runtime(name="python3.13", python=(3, 13), glibc=(2, 34), os=_AL2023),
        Runtime(name="python3.14", python=(3, 14), glibc=(2, 34), os=_AL2023),
    )
}

ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(name="x86_64", machine="x86_64", elf_machine=62),
        Architecture(name="arm64", machine="aarch64", elf_machine=183),
    )
}

#: manylinux glibc levels uv 0.13 accepts in ``--python-platform`` triples.
#: uv has no triple for 2.18 … 2.27, so the Amazon Linux 2 runtimes map to 2.17.
UV_MANYLINUX_LEVELS: tuple[tuple[int, int], ...] = (
    (2, 17),
    (2, 28),
    *((2, n) for n in range(31, 41)),
)


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
    for os_name, extra in ((_AL2, ("libnsl.so.1", "libcrypt.so.1")), (_AL2023, ("libcrypt.so.2",)))
}


def target(runtime: str, architecture: str) -> Target:
    """The target for Lambda's runtime and architecture names (both known)."""
    return Target(runtime=RUNTIMES[runtime], architecture=ARCHITECTURES[architecture])
