"""What a Lambda target means for Python: uv's platform triple and the wheel
tags that load (from packaging.tags, with the runtime's exact glibc ceiling)."""

from __future__ import annotations

import pytest
from packaging.tags import parse_tag

from lambdapack.python.target import (
    abi_tag,
    manylinux_platforms,
    python_version,
    tag_loads,
    uv_platform,
)
from lambdapack.runtimes import target


@pytest.mark.parametrize(
    ("runtime", "architecture", "platform"),
    [
        ("python3.10", "x86_64", "x86_64-manylinux_2_17"),
        ("python3.11", "arm64", "aarch64-manylinux_2_17"),
        ("python3.12", "arm64", "aarch64-manylinux_2_34"),
        ("python3.14", "x86_64", "x86_64-manylinux_2_34"),
    ],
)
def test_uv_platform_never_exceeds_the_runtime_glibc(runtime: str, architecture: str, platform: str) -> None:
    t = target(runtime, architecture)
    assert uv_platform(t) == platform
    assert python_version(t) == runtime.removeprefix("python")
    assert abi_tag(t) == "cp" + runtime.removeprefix("python").replace(".", "")


def test_manylinux_platforms_most_specific_first_with_legacy_aliases() -> None:
    x86 = manylinux_platforms(target("python3.11", "x86_64"))
    assert x86[0] == "manylinux_2_26_x86_64"
    assert x86[-1] == "manylinux1_x86_64"
    assert x86.index("manylinux2014_x86_64") == x86.index("manylinux_2_17_x86_64") + 1
    assert not any("2_27" in p or "2_28" in p for p in x86)
    arm = manylinux_platforms(target("python3.12", "arm64"))
    assert arm[0] == "manylinux_2_34_aarch64" and arm[-1] == "manylinux2014_aarch64"
    assert not any(p.startswith(("manylinux1", "manylinux2010")) for p in arm)  # aarch64 starts at 2.17


@pytest.mark.parametrize(
    ("tag", "runtime", "architecture", "loads"),
    [
        ("cp311-cp311-manylinux_2_24_x86_64", "python3.11", "x86_64", True),
        ("cp311-cp311-manylinux_2_26_aarch64", "python3.11", "arm64", True),
        ("cp311-cp311-manylinux_2_28_x86_64", "python3.11", "x86_64", False),
        ("cp311-cp311-manylinux_2_28_x86_64", "python3.12", "x86_64", False),  # cp311 on 3.12
        ("cp312-cp312-manylinux_2_28_x86_64", "python3.12", "x86_64", True),
        ("cp38-abi3-manylinux2014_aarch64", "python3.11", "arm64", True),
        ("cp311-abi3-manylinux2014_aarch64", "python3.10", "arm64", False),  # abi3 of a newer Python
        ("cp311-cp311-manylinux_2_17_x86_64", "python3.11", "arm64", False),
        ("cp311-cp311-linux_x86_64", "python3.11", "x86_64", False),  # a host build
        ("cp311-cp311-macosx_11_0_arm64", "python3.11", "arm64", False),
        ("cp311-cp311-musllinux_1_2_x86_64", "python3.11", "x86_64", False),
        ("py3-none-any", "python3.13", "arm64", True),
        ("py311-none-any", "python3.11", "arm64", True),
        ("py312-none-any", "python3.11", "arm64", False),
        ("py2-none-any", "python3.11", "arm64", False),
        ("cp311-none-any", "python3.11", "x86_64", True),
    ],
)
def test_tag_loads(tag: str, runtime: str, architecture: str, loads: bool) -> None:
    assert any(tag_loads(t, target(runtime, architecture)) for t in parse_tag(tag)) is loads
