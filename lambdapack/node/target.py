"""What a Lambda target means to npm: ``os=linux``, ``cpu=x64|arm64``,
``libc=glibc``, and which platform-specific files and packages load there."""

from __future__ import annotations

from collections.abc import Mapping

from lambdapack.runtimes import Target

#: Lambda architecture → Node.js ``process.arch`` (npm's ``cpu``).
CPU = {"x86_64": "x64", "arm64": "arm64"}


def cpu(target: Target) -> str:
    return CPU[target.architecture.name]


def allows(field: object, value: str) -> bool:
    """npm-install-checks' checkList for an os/cpu/libc field: absent allows
    all; ``!x`` excludes x; positive entries, if any, must include the value
    (negations alone allow the rest)."""
    if isinstance(field, str):
        field = [field]
    if not isinstance(field, list):
        return True
    entries = [e for e in field if isinstance(e, str)]
    if not entries or entries == ["any"]:
        return True
    if f"!{value}" in entries:
        return False
    positives = [e for e in entries if not e.startswith("!")]
    return not positives or value in positives


def selects(manifest: Mapping[str, object], cpu_: str) -> bool:
    """Whether a package (its package.json) installs on linux/cpu/glibc."""
    return (
        allows(manifest.get("os"), "linux")
        and allows(manifest.get("cpu"), cpu_)
        and allows(manifest.get("libc"), "glibc")
    )


def prebuild_dir_matches(name: str, cpu_: str) -> bool:
    """Whether a ``prebuilds/<platform>-<arch>[+arch…]`` directory (prebuildify's
    layout, read by node-gyp-build) serves linux/cpu."""
    platform, _, arches = name.partition("-")
    return platform == "linux" and cpu_ in arches.split("+")
