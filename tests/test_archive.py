from __future__ import annotations

import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from lambdapack.archive import ArchiveEntry, dos_timestamp, write
from lambdapack.digest import code_sha256
from lambdapack.errors import ArchiveError


def test_failed_write_leaves_the_previous_zip_and_no_temp_file(tmp_path: Path) -> None:
    good = tmp_path / "a.py"
    good.write_text("x = 1\n")
    dest = tmp_path / "out" / "fn.zip"
    write([ArchiveEntry(name="a.py", path=good, executable=False)], dest)
    before = dest.read_bytes()
    entries = [
        ArchiveEntry(name="a.py", path=good, executable=False),
        ArchiveEntry(name="b.py", path=tmp_path / "vanished.py", executable=False),
    ]
    with pytest.raises(ArchiveError, match=r"vanished\.py"):
        write(entries, dest)
    assert dest.read_bytes() == before
    assert [p.name for p in dest.parent.iterdir()] == ["fn.zip"]


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "a.py"
    f.write_text("")
    with pytest.raises(ArchiveError, match="duplicate entries"):
        write([ArchiveEntry(name="a.py", path=f, executable=False)] * 2, tmp_path / "x.zip")


def test_empty_and_incompressible_files_are_stored(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "random").write_bytes(bytes(range(256)))
    (tmp_path / "text").write_text("abc" * 1000)
    entries = [ArchiveEntry(name=n, path=tmp_path / n, executable=False) for n in ("text", "random", "empty")]
    result = write(entries, tmp_path / "x.zip")
    with zipfile.ZipFile(result.path) as zf:
        methods = {i.filename: i.compress_type for i in zf.infolist()}
        assert zf.read("text") == b"abc" * 1000
    assert methods == {
        "empty": zipfile.ZIP_STORED,
        "random": zipfile.ZIP_STORED,
        "text": zipfile.ZIP_DEFLATED,
    }
    assert result.entries == 3 and result.uncompressed == 3256
    assert code_sha256(result.path) == __import__("base64").b64encode(result.sha256).decode()


@pytest.mark.slow
def test_zip64_end_record_above_65535_entries(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"")
    entries = [ArchiveEntry(name=f"d/{i:05}", path=f, executable=False) for i in range(65_600)]
    result = write(entries, tmp_path / "many.zip")
    with zipfile.ZipFile(result.path) as zf:
        assert len(zf.infolist()) == 65_600
    # zipfile reads the central directory whatever the end records say; Info-ZIP's unzip
    # trusts the entry counts, so it fails on a missing or wrong zip64 end record
    data = result.path.read_bytes()
    eocd = data.rindex(b"PK\x05\x06")
    assert data[eocd + 8 : eocd + 12] == b"\xff\xff\xff\xff"  # the 16-bit counts say: see zip64
    locator = data.rindex(b"PK\x06\x07", 0, eocd)
    (zip64_at,) = struct.unpack_from("<Q", data, locator + 8)
    assert data[zip64_at : zip64_at + 4] == b"PK\x06\x06"
    assert struct.unpack_from("<QQ", data, zip64_at + 24) == (65_600, 65_600)
    unzip = subprocess.run(["unzip", "-t", str(result.path)], capture_output=True, text=True, check=False)
    assert unzip.returncode == 0, unzip.stdout[-2000:] + unzip.stderr
    assert unzip.stdout.rstrip().endswith(f"No errors detected in compressed data of {result.path}.")
    assert unzip.stdout.count("    testing: d/") == 65_600


def test_dos_timestamp_clamps_and_rounds() -> None:
    assert dos_timestamp(None) == (0, (0 << 9) | (1 << 5) | 1)
    assert dos_timestamp(0) == dos_timestamp(None)
    assert dos_timestamp(315532801) == dos_timestamp(315532800)
