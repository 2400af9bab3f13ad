"""What a Lambda target means to npm: ``os=linux``, ``cpu=x64|arm64``,
``libc=glibc``, and which platform-specific files and packages load there."""

from __future__ import annotations

from collections.abc import Mapping

from lambdapack.runtimes import Target

#: Lambda architecture → Node.js ``process.arch`` (npm's ``cpu``).
CPU = {"x86_64": "x64", "arm64": "arm64"}


def cpu(target: Target) -> str:
    return CPU[target.architecture.name]


def _allows(field: object, value: str) -> bool:
    """npm's rule for an os/cpu/libc list: absent allows all; ``!x`` excludes x;
    otherwise the value must be listed."""
    if isinstance(field, str):
        field = [field]
    if not isinstance(field, list) or not field:
        return True
    values = [v for v in field if isinstance(v, str)]
    if f"!{value}" in values:
        return False
    positive = [v for v in values if not v.startswith("!")]
    return not positive or value in positive or "any" in positive


def selects(manifest: Mapping[str, object], cpu_: str) -> bool:
    """Whether a package (its package.json) installs on linux/cpu/glibc."""
    return (
        _allows(manifest.get("os"), "linux")
        and _allows(manifest.get("cpu"), cpu_)
        and _allows(manifest.get("libc"), "glibc")
    )


def prebuild_dir_matches(name: str, cpu_: str) -> bool:
    """Whether a ``prebuilds/<platform>-<arch>[+arch…]`` directory (prebuildify's
    layout, read by node-gyp-build) serves linux/cpu."""
    platform, _, arches = name.partition("-")
    return platform == "linux" and cpu_ in arches.split("+")
