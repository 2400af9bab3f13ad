from __future__ import annotations

import pytest

from lambdapack.runtimes import ARCHITECTURES, RUNTIMES, target


def test_table_covers_python310_to_314_with_glibc_ceilings() -> None:
    assert list(RUNTIMES) == [f"python3.{n}" for n in range(10, 15)]
    assert {RUNTIMES[f"python3.{n}"].glibc for n in (10, 11)} == {(2, 26)}
    assert {RUNTIMES[f"python3.{n}"].glibc for n in (12, 13, 14)} == {(2, 34)}
    assert ARCHITECTURES["arm64"].elf_machine == 183 and ARCHITECTURES["x86_64"].elf_machine == 62


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
    assert t.uv_platform == platform
    assert t.python_version == runtime.removeprefix("python")
