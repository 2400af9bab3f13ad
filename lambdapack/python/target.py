"""What a Lambda target means for Python: the interpreter's version and ABI,
the wheel tags that load there (from :mod:`packaging.tags`), and the platform
triple uv resolves with.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

from packaging.tags import Tag, compatible_tags, cpython_tags

from lambdapack.runtimes import Target

#: Each CPython release's bytecode magic number (the first two bytes of a
#: ``.pyc``, little-endian, then ``\r\n``), from CPython's
#: Lib/importlib/_bootstrap_external.py (3.10-3.13) and
#: Include/internal/pycore_magic_number.h (3.14: 3627 since 3.14rc3). 3.10 to
#: 3.13 checked against ``importlib.util.MAGIC_NUMBER`` of CPython 3.10.13,
#: 3.11.7, 3.12.1 and 3.13.0; 3.14 not checked (no interpreter here).
MAGIC_NUMBERS: Mapping[tuple[int, int], int] = MappingProxyType(
    {(3, 10): 3439, (3, 11): 3495, (3, 12): 3531, (3, 13): 3571, (3, 14): 3627}
)

#: manylinux glibc levels uv 0.13 accepts in ``--python-platform`` triples.
#: uv has no triple for 2.18 … 2.27: a resolution runs at the next level up and
#: lambdapack.python.pins chooses the files; installs of locks that name no file use
#: the highest level not above the runtime's (:func:`uv_platform`, 2.17 on Amazon Linux 2).
UV_MANYLINUX_LEVELS: tuple[tuple[int, int], ...] = (
    (2, 17),
    (2, 28),
    *((2, n) for n in range(31, 41)),
)

#: The legacy manylinux names and the glibc level each stands for (PEP 600).
_LEGACY = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


def python_version(target: Target) -> str:
    return target.runtime.version_string


def abi_tag(target: Target) -> str:
    major, minor = target.runtime.version
    return f"cp{major}{minor}"


def uv_platform(target: Target) -> str:
    """The ``--python-platform`` triple for uv that can never pick a wheel the
    runtime cannot load: the highest glibc level uv offers that does not exceed
    the runtime's glibc (for locks that do not name their files)."""
    major, minor = max(g for g in UV_MANYLINUX_LEVELS if g <= target.runtime.glibc)
    return f"{target.architecture.machine}-manylinux_{major}_{minor}"


def manylinux_platforms(target: Target) -> list[str]:
    """Every manylinux platform tag that loads on ``target``, most specific
    first, as pip would list them on the runtime's own OS: ``manylinux_2_N``
    from the runtime's glibc down (and the legacy aliases beside their level);
    aarch64 starts at 2.17, as manylinux2014 introduced it."""
    machine = target.architecture.machine
    major, ceiling = target.runtime.glibc
    lowest = 5 if machine in ("x86_64", "i686") else 17
    platforms = []
    for minor in range(ceiling, lowest - 1, -1):
        platforms.append(f"manylinux_{major}_{minor}_{machine}")
        legacy = _LEGACY.get((major, minor))
        if legacy:
            platforms.append(f"{legacy}_{machine}")
    return platforms


@functools.lru_cache(maxsize=64)
def ordered_tags(target: Target) -> tuple[Tag, ...]:
    """The wheel tags CPython on ``target`` accepts, most preferred first (the
    order pip installs by on the runtime's own OS)."""
    version = target.runtime.version
    platforms = manylinux_platforms(target)
    tags = [*cpython_tags(version, platforms=platforms)]
    tags += compatible_tags(version, interpreter=abi_tag(target), platforms=platforms)
    return tuple(dict.fromkeys(tags))


@functools.lru_cache(maxsize=64)
def supported_tags(target: Target) -> frozenset[Tag]:
    """The wheel tags CPython on ``target`` accepts."""
    return frozenset(ordered_tags(target))


def tag_loads(tag: Tag, target: Target) -> bool:
    """Whether a wheel tag can load on ``target`` (CPython on manylinux)."""
    return tag in supported_tags(target)


def built_tag_loads(tag: Tag, target: Target) -> bool:
    """Whether a wheel built for ``target`` from its sdist (tagged
    ``linux_<machine>``, as compilers tag them) fits its interpreter and
    machine; its binaries' glibc and libraries are for the ELF checks to judge."""
    machine = target.architecture.machine
    if tag.platform != f"linux_{machine}":
        return False
    return tag_loads(Tag(tag.interpreter, tag.abi, f"manylinux_2_17_{machine}"), target)


def describe_tags(target: Target) -> str:
    """The tags a loading wheel needs, for messages."""
    major, minor = target.runtime.glibc
    return f"{abi_tag(target)} or abi3, manylinux glibc <= {major}.{minor}, {target.architecture.machine}"
