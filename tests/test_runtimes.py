from __future__ import annotations

from lambdapack.runtimes import ARCHITECTURES, RUNTIMES, target


def test_table_covers_python310_to_314_and_nodejs18_to_24_with_glibc_ceilings() -> None:
    assert list(RUNTIMES) == [
        *(f"python3.{n}" for n in range(10, 15)),
        *(f"nodejs{n}.x" for n in (18, 20, 22, 24)),
    ]
    assert RUNTIMES["nodejs18.x"].glibc == (2, 26) and RUNTIMES["nodejs18.x"].os == "Amazon Linux 2"
    assert {RUNTIMES[f"nodejs{n}.x"].glibc for n in (20, 22, 24)} == {(2, 34)}
    assert {r.language for r in RUNTIMES.values()} == {"python", "node"}
    assert {RUNTIMES[f"python3.{n}"].glibc for n in (10, 11)} == {(2, 26)}
    assert {RUNTIMES[f"python3.{n}"].glibc for n in (12, 13, 14)} == {(2, 34)}
    assert ARCHITECTURES["arm64"].elf_machine == 183 and ARCHITECTURES["x86_64"].elf_machine == 62


def test_runtimes_are_language_neutral_rows() -> None:
    row = RUNTIMES["python3.11"]
    assert (row.language, row.version, row.os, row.glibc) == ("python", (3, 11), "Amazon Linux 2", (2, 26))
    assert row.version_string == "3.11"
    assert not hasattr(row, "python")  # Python-only facts live in lambdapack.python.target
    assert target("python3.12", "arm64").to_json() == {"runtime": "python3.12", "architecture": "arm64"}
