from __future__ import annotations

import json
import zipfile
from pathlib import Path

from conftest import run_cli
from lambdapack.contents import ZipPackage
from lambdapack.inventory import OWN_FILES, take


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        zf.writestr("big/__init__.py", "x" * 5000)
        zf.writestr("big/data.bin", bytes(range(256)) * 40)
        zf.writestr(
            "big-2.0.dist-info/RECORD", "big/__init__.py,,\nbig/data.bin,,\nbig-2.0.dist-info/RECORD,,\n"
        )
        zf.writestr("small.py", "y = 2\n")
        zf.writestr("small-1.0.dist-info/RECORD", "small.py,,\nsmall-1.0.dist-info/RECORD,,\n")
    return path


def test_breakdown_by_distribution_and_top_level(tmp_path: Path) -> None:
    with ZipPackage(_zip(tmp_path / "fn.zip")) as package:
        inv = take(package)
    assert inv.entries == 6
    assert inv.size == sum(p.size for p in inv.distributions) == sum(p.size for p in inv.directories)
    names = [p.name for p in inv.distributions]
    assert names == ["big 2.0", "small 1.0", OWN_FILES]  # largest first
    big = inv.distributions[0]
    assert big.files == 3 and big.size == 5000 + 10240 + len(
        "big/__init__.py,,\nbig/data.bin,,\nbig-2.0.dist-info/RECORD,,\n"
    )
    assert big.compressed is not None and big.compressed < big.size
    assert [p.name for p in inv.directories][:2] == ["big/", "big-2.0.dist-info/"]


def test_inspect_cli_text_and_json(tmp_path: Path) -> None:
    zip_path = _zip(tmp_path / "fn.zip")
    text = run_cli("inspect", str(zip_path), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"{zip_path}: ") and "unzipped, 6 files" in lines[0]
    header = next(line for line in lines if line.startswith("distribution"))
    row = next(line for line in lines if line.startswith("big 2.0"))
    assert len(row) == len(header)  # aligned columns
    document = json.loads(run_cli("inspect", "--json", str(zip_path), cwd=tmp_path).stdout)
    assert document["entries"] == 6 and document["distributions"][0]["name"] == "big 2.0"
    assert document["zipped_size"] == zip_path.stat().st_size
    missing = run_cli("inspect", str(tmp_path / "nope.zip"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
