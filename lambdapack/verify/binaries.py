"""Binary checks: every ELF (or foreign binary) in a package against the
target's machine, glibc and base-image libraries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from lambdapack import elf
from lambdapack.contents import Package, PackageFile
from lambdapack.runtimes import SYSTEM_LIBRARIES, Target
from lambdapack.verify.model import Finding

#: ELF files larger than this are not read whole (memory stays bounded on hostile zips).
PARSE_LIMIT = 64 * 1024 * 1024


def owner(package: Package, name: str) -> str | None:
    dist = package.owners().get(name)
    return dist.label() if dist else None


def findings(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    """Each binary's format, machine, glibc version needs and shared libraries."""
    want = target.architecture
    system = SYSTEM_LIBRARIES[target.runtime.os]
    bundled = {f.name.rsplit("/", 1)[-1] for f in package.files}
    ceiling = target.runtime.glibc
    for file in files:
        kind = elf.binary_format(package.head(file.name, elf.HEAD_SIZE), file.name)
        if kind is None:
            continue
        owner_ = owner(package, file.name)
        rebuild = _rebuild_fix(owner_, target)
        if kind != "elf":
            yield Finding(
                severity="error",
                check="architecture",
                path=file.name,
                distribution=owner_,
                message=f"{'macOS Mach-O' if kind == 'mach-o' else 'Windows PE'} binary; Lambda runs Linux "
                f"{want.name}",
                fix=rebuild,
            )
            continue
        info: elf.ElfInfo | None
        problem: str | None
        if file.size > PARSE_LIMIT:
            yield Finding(
                severity="warning",
                check="architecture",
                path=file.name,
                distribution=owner_,
                message=f"an ELF file of {file.size:,} bytes: too large to check",
                fix="check it with readelf; Lambda's unzipped limit is 262,144,000 bytes in all",
            )
            continue
        try:
            info = elf.parse(package.read(file.name))
        except ValueError as exc:
            info, problem = None, str(exc)
        else:
            problem = info.problem
        if problem is not None:
            yield Finding(
                severity="error",
                check="architecture",
                path=file.name,
                distribution=owner_,
                message=f"malformed ELF file: {problem}; the loader would refuse it",
                fix=f"reinstall {owner_ or 'the package that ships this file'}; if it is your own file, "
                "rebuild it",
            )
        if info is None:
            continue
        if (info.bits, info.little_endian, info.machine) != (64, True, want.elf_machine):
            yield Finding(
                severity="error",
                check="architecture",
                path=file.name,
                distribution=owner_,
                message=f"ELF for {info.machine_name} ({info.bits}-bit, "
                f"{'little' if info.little_endian else 'big'}-endian); target is {want.name} "
                f"({elf.MACHINES[want.elf_machine]}, 64-bit, little-endian)",
                fix=rebuild,
            )
            continue
        if info.glibc is not None and info.glibc > ceiling:
            yield Finding(
                severity="error",
                check="glibc",
                path=file.name,
                distribution=owner_,
                message=f"needs GLIBC_{info.glibc[0]}.{info.glibc[1]}; {target.runtime.name} "
                f"({target.runtime.os}) has glibc {ceiling[0]}.{ceiling[1]}",
                fix=f"use a version of {owner_ or 'this package'} built for glibc <= "
                f"{ceiling[0]}.{ceiling[1]} (for Python, a manylinux wheel of that level), or a runtime on "
                "Amazon Linux 2023 (glibc 2.34)",
            )
        missing = [lib for lib in info.needed if lib not in system and lib not in bundled]
        if missing:
            yield Finding(
                severity="error",
                check="shared-library",
                path=file.name,
                distribution=owner_,
                message=f"needs {', '.join(missing)}, which is neither in the package nor in the "
                f"{target.runtime.os} base image",
                fix="bundle the library (auditwheel-repaired manylinux wheels do), or provide it in a layer",
            )


def _rebuild_fix(owner_: str | None, target: Target) -> str:
    what = owner_ or "the package that ships this file"
    return (
        f"install {what} for {target.describe()} ({target.architecture.machine}; lambdapack build installs "
        "for the target, other tools need their platform options)"
    )
