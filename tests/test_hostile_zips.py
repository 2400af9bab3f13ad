"""`lambdapack check` and `inspect` on zips made to hurt: unsafe names, symlink
entries, duplicates, corrupt members, truncated archives, zip bombs, random bit
flips. Each is a finding (exit code 3) or a one-line error, never a crash
(exit code 70), with bounded memory and time."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import cli

TARGET = ("--runtime", "python3.12", "--architecture", "x86_64", "--handler", "app.handler")
HANDLER = "def handler(event, context):\n    return 1\n"


def _zip(path: Path, members: list[tuple[str, bytes, int]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data, mode in members:
                info = zipfile.ZipInfo(name)
                info.external_attr = mode << 16
                info.create_system = 3
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
    return path


def _archive_findings(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    (package,) = json.loads(result.stdout)["packages"]
    return {f["path"] or "": f["message"] for f in package["findings"] if f["check"] == "archive"}


@pytest.mark.parametrize(
    ("name", "mode", "expected"),
    [
        ("../../evil.py", 0o100644, "a '..' component"),
        ("/etc/evil", 0o100644, "an absolute path"),
        ("..\\..\\evil.txt", 0o100644, "a backslash"),
        ("lib/./x.py", 0o100644, "an empty or '.' component"),
        ("link", stat.S_IFLNK | 0o777, "a symbolic link entry"),
    ],
)
def test_unsafe_entries_are_errors(tmp_path: Path, name: str, mode: int, expected: str) -> None:
    _zip(tmp_path / "fn.zip", [("app.py", HANDLER.encode(), 0o100644), (name, b"/etc/passwd", mode)])
    result = cli("check", "fn.zip", *TARGET, "--json", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert expected in _archive_findings(result)[name]


def test_duplicates_and_a_corrupt_member(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "fn.zip",
        [
            ("app.py", HANDLER.encode(), 0o100644),
            ("x.py", b"a = 1\n" * 100, 0o100644),
            ("x.py", b"b", 0o100644),
        ],
    )
    data = bytearray(path.read_bytes())
    first = zipfile.ZipFile(path).infolist()[0]
    data[first.header_offset + 30 + len(first.filename) + 2] ^= 0xFF  # a byte of app.py's data
    path.write_bytes(bytes(data))
    result = cli("check", "fn.zip", *TARGET, "--json", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    found = _archive_findings(result)
    assert "2 entries share this name" in found["x.py"]
    assert "corrupt member" in found["app.py"]
    assert "internal error" not in result.stderr


def test_truncated_archive_is_a_finding_and_inspect_says_so(tmp_path: Path) -> None:
    path = _zip(tmp_path / "fn.zip", [("app.py", HANDLER.encode(), 0o100644)])
    path.write_bytes(path.read_bytes()[:-30])  # the end of the central directory is gone
    result = cli("check", "fn.zip", *TARGET, cwd=tmp_path)
    assert result.returncode == 3 and "not a readable zip file" in result.stdout
    inspected = cli("inspect", "fn.zip", cwd=tmp_path)
    assert inspected.returncode == 3 and inspected.stderr.count("\n") == 1, inspected.stderr


@pytest.mark.slow
def test_a_zip_bomb_is_found_in_bounded_memory_and_time(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("app.py", HANDLER)
        with zf.open("big.so", "w", force_zip64=True) as member:  # 1 GiB of zeros
            chunk = b"\0" * (1 << 20)
            for _ in range(1024):
                member.write(chunk)
    assert bomb.stat().st_size < 8 * 1024 * 1024
    # A fresh parent, so that the peak memory measured is this check's alone.
    measure = (
        "import resource, subprocess, sys, time; t = time.monotonic(); "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "sys.stderr.write(p.stderr); sys.stdout.write(p.stdout); "
        "print(f'@@ {p.returncode} {time.monotonic() - t} "
        "{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", measure, sys.executable, "-m", "lambdapack", "check", str(bomb), *TARGET],
        capture_output=True,
        text=True,
    )
    code, took, peak_kib = proc.stdout.rsplit("@@ ", 1)[1].split()
    assert int(code) == 3, proc.stderr
    assert "zip bomb" in proc.stdout
    assert float(took) < 10, took
    assert int(peak_kib) < 100 * 1024, f"{peak_kib} KiB"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=4)
)
def test_bit_flipped_zips_never_crash_check(tmp_path: Path, flips: list[tuple[float, int]]) -> None:
    source = _zip(
        tmp_path / "good.zip",
        [("app.py", HANDLER.encode(), 0o100644), ("lib/mod.py", b"x = 1\n" * 50, 0o100644)],
    )
    data = bytearray(source.read_bytes())
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    (tmp_path / "flipped.zip").write_bytes(bytes(data))
    started = time.monotonic()
    result = cli("check", "flipped.zip", *TARGET, cwd=tmp_path)
    assert time.monotonic() - started < 5  # bounded: a damaged zip is never read for long
    assert result.returncode in (0, 2, 3), result.stderr
    assert "internal error" not in result.stderr
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(bytes(data[: max(1, int(flips[0][0] * len(data)))]))
    cut = cli("check", "cut.zip", *TARGET, cwd=tmp_path)
    assert cut.returncode in (2, 3) and "internal error" not in cut.stderr, cut.stderr


def test_an_encrypted_member_is_a_finding(tmp_path: Path) -> None:
    """The 'encrypted' flag set on a member (found by the bit-flip test): zipfile
    refuses to read it; lambdapack reports it."""
    path = _zip(tmp_path / "fn.zip", [("app.py", HANDLER.encode(), 0o100644)])
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 8] |= 0x01  # general purpose flags, bit 0: encrypted (central directory)
    data[6] |= 0x01  # and in the local header
    path.write_bytes(bytes(data))
    result = cli("check", "fn.zip", *TARGET, "--json", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "encrypted" in _archive_findings(result)["app.py"]
