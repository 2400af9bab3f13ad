"""`lambdapack check` and `inspect` without the network: on zips built from the
hand-made wheelhouse and on zips made by hand (zipfile) with every kind of
binary and hygiene problem: wrong machine, glibc too new, Mach-O, PE, 32-bit,
big-endian, missing library, wrong Python ABI, unreadable files, secrets,
dependency test directories, truncated ELF."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

import lambdapack
from conftest import (
    EM_386,
    EM_AARCH64,
    EM_PPC64,
    cli,
    elf_image,
    macho_image,
    offline_requirements,
    pe_image,
    run_cli,
    wheel_members,
    write_tree,
)

HANDLER = "def handler(event, context):\n    return 1\n"
TARGET = ("--runtime", "python3.11", "--architecture", "x86_64", "--handler", "app.handler")


def put(zf: zipfile.ZipFile, name: str, data: str | bytes, mode: int = 0o644) -> None:
    """writestr with a Unix mode (zipfile gives 0600 to a bare name)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def make_zip(path: Path, files: Mapping[str, str | bytes], wheels: tuple[str, ...] = ()) -> Path:
    """A zip of ``files`` plus every member of the wheelhouse wheels matching ``wheels``."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            put(zf, name, data)
        for pattern in wheels:
            for name, data in wheel_members(pattern).items():
                put(zf, name, data, 0o755 if name.endswith(".so") else 0o644)
    return path


def findings(stdout: str) -> list[tuple[str, str, str | None, str | None, str]]:
    (package,) = json.loads(stdout)["packages"]
    return [
        (f["severity"], f["check"], f["path"], f["distribution"], f["message"]) for f in package["findings"]
    ]


def test_check_names_every_problem_of_a_hand_made_zip(tmp_path: Path) -> None:
    zip_path = make_zip(
        tmp_path / "zoo.zip",
        {
            "app.py": 'KEY = "AKIAIOSFODNN7EXAMPLE"\n\n' + HANDLER,
            "__pycache__/app.cpython-312.pyc": b"\x00" * 16,
            # untagged bytecode is told apart by its magic number: 3.12's, 3.11's, too short
            "old.pyc": (3531).to_bytes(2, "little") + b"\r\n" + bytes(12),
            "current.pyc": (3495).to_bytes(2, "little") + b"\r\n" + bytes(12),
            "tiny.pyc": b"\x00",
            "odd-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nTag: garbage\n",  # no tag to check
            "odd-1.0.dist-info/RECORD": "odd-1.0.dist-info/WHEEL,,\nodd-1.0.dist-info/RECORD,,\n",
            "native/helper.so": macho_image(),
            "win/_ext.pyd": pe_image(),
            "legacy/_old.so": elf_image(bits=32, machine=EM_386),
            "legacy/_be.so": elf_image(little=False, machine=EM_PPC64),
            "ext/_mod.cpython-312-x86_64-linux-gnu.so": elf_image(),
            "ext/_fine.cpython-311-x86_64-linux-gnu.so": elf_image(),
        },
        wheels=(
            "lpfix_speedup-1.0.0-cp311-cp311-manylinux_2_17_aarch64*",
            "lpfix_glibc-*",
            "lpfix_needslib-*",
            "lpfix_base-1.1.0-*",
        ),
    )
    with zipfile.ZipFile(zip_path, "a") as zf:
        zf.writestr("config/settings.py", "DEBUG = False\n")  # a bare name: mode 0600
    result = run_cli("check", str(zip_path), *TARGET, "--json", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    found = findings(result.stdout)
    assert [f[:4] for f in found] == [
        ("error", "architecture", "legacy/_be.so", None),
        ("error", "architecture", "legacy/_old.so", None),
        (
            "error",
            "architecture",
            "lpfix_speedup/_speedup.cpython-311-aarch64-linux-gnu.so",
            "lpfix_speedup 1.0.0",
        ),
        ("error", "architecture", "native/helper.so", None),
        ("error", "architecture", "win/_ext.pyd", None),
        ("error", "glibc", "lpfix_glibc/_glibc.abi3.so", "lpfix_glibc 1.0.0"),
        ("error", "python-abi", "ext/_mod.cpython-312-x86_64-linux-gnu.so", None),
        ("error", "shared-library", "lpfix_needslib/_needslib.abi3.so", "lpfix_needslib 1.0.0"),
        ("error", "wheel-tag", "lpfix_glibc-1.0.0.dist-info/WHEEL", "lpfix_glibc 1.0.0"),
        ("error", "wheel-tag", "lpfix_speedup-1.0.0.dist-info/WHEEL", "lpfix_speedup 1.0.0"),
        ("warning", "hygiene", "__pycache__/", None),
        ("warning", "hygiene", "app.py", None),
        ("warning", "hygiene", "config/", None),
        ("warning", "hygiene", "lpfix_base/tests/", "lpfix_base 1.1.0"),
        ("warning", "hygiene", "old.pyc", None),
        ("warning", "hygiene", "tiny.pyc", None),
    ]
    messages = {f[2]: f[4] for f in found if f[1] != "wheel-tag"}
    assert messages["legacy/_be.so"].startswith("ELF for ppc64 (64-bit, big-endian); target is x86_64")
    assert messages["legacy/_old.so"].startswith("ELF for i386 (32-bit, little-endian)")
    assert messages["lpfix_speedup/_speedup.cpython-311-aarch64-linux-gnu.so"].startswith("ELF for aarch64")
    assert messages["native/helper.so"] == "macOS Mach-O binary; Lambda runs Linux x86_64"
    assert messages["win/_ext.pyd"] == "Windows PE binary; Lambda runs Linux x86_64"
    assert (
        messages["lpfix_glibc/_glibc.abi3.so"]
        == "needs GLIBC_2.28; python3.11 (Amazon Linux 2) has glibc 2.26"
    )
    assert (
        "CPython 3.12 on x86_64-linux-gnu; target is cpython-311-x86_64-linux-gnu"
        in messages["ext/_mod.cpython-312-x86_64-linux-gnu.so"]
    )
    assert messages["lpfix_needslib/_needslib.abi3.so"].startswith(
        "needs liblpfixmissing.so.1, which is neither"
    )
    assert messages["app.py"] == "likely secret: an AWS access key id"
    assert messages["config/"].startswith("1 file(s) not world-readable")
    assert messages["lpfix_base/tests/"] == "lpfix_base 1.1.0 ships 1 test directory (2 files, 72 bytes)"
    assert messages["__pycache__/"].startswith("1 .pyc file(s) compiled for another Python than python3.11")
    # the human report goes to stderr with --json: a head line, then one line per finding
    lines = result.stderr.splitlines()
    assert lines[0] == f"{zip_path} (python3.11 x86_64, handler app.handler): 10 errors, 6 warnings"
    assert "  error [glibc] lpfix_glibc/_glibc.abi3.so [lpfix_glibc 1.0.0]: needs GLIBC_2.28" in result.stderr

    # the same zip for arm64: the aarch64 extension is fine there, the x86_64 ones are not
    arm = lambdapack.check_zip(zip_path, runtime="python3.12", architecture="arm64", handler="app.handler")
    wrong = {f.path for f in arm.errors if f.check == "architecture"}
    assert "lpfix_speedup/_speedup.cpython-311-aarch64-linux-gnu.so" not in wrong
    assert {"lpfix_glibc/_glibc.abi3.so", "lpfix_needslib/_needslib.abi3.so"} <= wrong


def test_glibc_ceiling_depends_on_the_runtime(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "fn.zip", {"app.py": HANDLER}, wheels=("lpfix_glibc-*",))
    old = lambdapack.check_zip(zip_path, runtime="python3.11", architecture="x86_64", handler="app.handler")
    assert [(f.check, f.path) for f in old.errors] == [
        ("glibc", "lpfix_glibc/_glibc.abi3.so"),
        ("wheel-tag", "lpfix_glibc-1.0.0.dist-info/WHEEL"),
    ]
    new = lambdapack.check_zip(zip_path, runtime="python3.12", architecture="x86_64", handler="app.handler")
    assert new.ok and new.findings == ()
    assert new.to_json()["ok"] is True and new.to_json()["errors"] == 0


def test_a_macos_wheel_is_caught(tmp_path: Path) -> None:
    zip_path = make_zip(
        tmp_path / "fn.zip",
        {"app.py": HANDLER},
        wheels=(
            "lpfix_speedup-1.0.0-cp311-cp311-macosx_11_0_arm64.whl",
            "lpfix_pure-*",
            "lpfix_base-1.0.0-*",
        ),
    )
    report = lambdapack.check_zip(zip_path, runtime="python3.11", architecture="arm64", handler="app.handler")
    assert [(f.check, f.path, f.distribution, f.message) for f in report.errors] == [
        (
            "architecture",
            "lpfix_speedup/_speedup.cpython-311-darwin.so",
            "lpfix_speedup 1.0.0",
            "macOS Mach-O binary; Lambda runs Linux arm64",
        ),
        (
            "wheel-tag",
            "lpfix_speedup-1.0.0.dist-info/WHEEL",
            "lpfix_speedup 1.0.0",
            "installed from a wheel tagged cp311-cp311-macosx_11_0_arm64, none of which loads on "
            "python3.11 arm64",
        ),
    ]
    assert [f.path for f in report.warnings] == ["lpfix_base/tests/"]


@pytest.mark.parametrize("cut", [16, 64, 200], ids=["ident-only", "header-only", "sections-cut"])
def test_a_truncated_elf_is_a_finding_not_a_crash(tmp_path: Path, cut: int) -> None:
    """A real extension module cut short: within the ELF identification, right after
    the header, and in the middle (the section table is gone)."""
    so = "lpfix_speedup/_speedup.cpython-311-x86_64-linux-gnu.so"
    data = wheel_members("lpfix_speedup-1.0.0-cp311-cp311-manylinux_2_17_x86_64*")[so]
    zip_path = make_zip(tmp_path / "fn.zip", {"app.py": HANDLER, so: data[:cut]})
    result = cli("check", str(zip_path), *TARGET, cwd=tmp_path)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == 3, result.stderr
    assert any(line.lstrip().startswith("error [") and so in line for line in result.stdout.splitlines())
    # the whole file passes
    whole = make_zip(tmp_path / "whole.zip", {"app.py": HANDLER, so: data})
    assert cli("check", str(whole), *TARGET, cwd=tmp_path).returncode == 0


def test_a_corrupt_member_is_reported_not_a_crash(tmp_path: Path) -> None:
    zip_path = tmp_path / "fn.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", HANDLER)
    data = zip_path.read_bytes()
    zip_path.write_bytes(data.replace(b"return 1", b"return 2", 1))  # the CRC no longer matches
    result = cli("check", "fn.zip", *TARGET, cwd=tmp_path)
    assert "internal error" not in result.stderr, result.stderr
    assert result.returncode in (2, 3) and "app.py" in result.stdout + result.stderr


def test_check_and_inspect_a_built_zip(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "arm64"\n'
            '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nexclude = ["requirements*"]\n'
            '[functions.later]\nsource = "fn"\nhandler = "app.handler"\nexclude = ["requirements*"]\n',
            "fn/app.py": "import lpfix_speedup\n\n\ndef handler(event, context):\n"
            "    return lpfix_speedup.add(1, 2)\n",
            "fn/requirements.txt": offline_requirements("lpfix-speedup"),
        },
    )
    assert cli("build", "fn", cwd=root).returncode == 0
    not_built = cli("check", cwd=root)
    assert not_built.returncode == 2 and "later: " in not_built.stderr and "is not built" in not_built.stderr

    project = cli("check", "fn", cwd=root)
    assert project.returncode == 0, project.stdout + project.stderr
    assert (
        project.stdout.splitlines()[0]
        == "dist/fn.zip (python3.12 arm64, handler app.handler): 0 errors, 1 warning"
    )
    by_zip = cli("check", "dist/fn.zip", "--json", cwd=root)  # target and handler from the manifest
    document = json.loads(by_zip.stdout)
    assert by_zip.returncode == 0 and document["ok"] is True and document["version"] == 1
    assert (document["packages"][0]["runtime"], document["packages"][0]["handler"]) == (
        "python3.12",
        "app.handler",
    )
    assert [f[:3] for f in findings(by_zip.stdout)] == [("warning", "hygiene", "lpfix_base/tests/")]

    wrong = cli("check", "dist/fn.zip", "--architecture", "x86_64", "-v", cwd=root)
    assert wrong.returncode == 3
    assert (
        "error [architecture] lpfix_speedup/_speedup.cpython-312-aarch64-linux-gnu.so [lpfix_speedup 1.0.0]: "
        "ELF for aarch64 (64-bit, little-endian); target is x86_64" in wrong.stdout
    )
    assert "      lpfix_base/tests/" in wrong.stdout  # -v: the details of each finding

    text = cli("inspect", "dist/fn.zip", "--top", "2", cwd=root)
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    with zipfile.ZipFile(root / "dist" / "fn.zip") as zf:
        count = len(zf.infolist())
        sizes = {i.filename: i.file_size for i in zf.infolist()}
    assert lines[0].startswith("dist/fn.zip: ") and lines[0].endswith(f" unzipped, {count} files")
    rows = [line.split()[0] for line in lines[2:4]]
    assert rows == ["distribution", "lpfix_speedup"]  # the largest first (its .so)
    more = [line.split(",")[0] for line in lines if line.startswith("…")]
    assert more == ["… 2 more", "… 5 more"]  # of 4 distributions (with the function's code), of 7 entries
    document = json.loads(cli("inspect", "dist/fn.zip", "--json", cwd=root).stdout)
    assert document["entries"] == count and document["size"] == sum(sizes.values())
    assert document["zipped_size"] == (root / "dist" / "fn.zip").stat().st_size
    distributions = {d["name"]: d for d in document["distributions"]}
    assert set(distributions) == {
        "lpfix_speedup 1.0.0",
        "lpfix_pure 1.0.0",
        "lpfix_base 1.1.0",
        "(function code)",
    }
    assert distributions["(function code)"]["files"] == 1
    assert distributions["(function code)"]["size"] == sizes["app.py"]
    assert sum(d["files"] for d in document["distributions"]) == count


def test_check_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "not-a.zip").write_text("hello")
    make_zip(tmp_path / "fn.zip", {"app.py": HANDLER})
    for args, message in [
        (("nope.zip", *TARGET), "nope.zip: no such file"),
        (("fn.zip",), "fn.zip: give --runtime"),
        (
            ("fn.zip", "--runtime", "python3.9", "--architecture", "arm64"),
            "'python3.9' is not a supported runtime",
        ),
        (("fn.zip", "--runtime", "python3.12", "--architecture", "aarch64"), "'aarch64' is not supported"),
    ]:
        result = cli("check", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    unreadable = cli("check", "not-a.zip", *TARGET, cwd=tmp_path)  # a finding, as a truncated zip is
    assert unreadable.returncode == 3, unreadable.stderr
    assert (
        "error [archive]" in unreadable.stdout and "not-a.zip: not a readable zip file" in unreadable.stdout
    )
    no_handler = cli("check", "fn.zip", "--runtime", "python3.12", "--architecture", "arm64", cwd=tmp_path)
    assert no_handler.returncode == 0 and no_handler.stdout.endswith("handler not checked): ok\n")


def test_build_checks_own_files_too(tmp_path: Path) -> None:
    """The function's own binaries and secrets are checked like dependencies' files."""
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "x86_64"\n'
            '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n',
            "fn/app.py": 'TOKEN = "AKIAIOSFODNN7EXAMPLE"\n\n' + HANDLER,
            "fn/deploy/key.pem": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"
            "-----END OPENSSH PRIVATE KEY-----\n",
            "fn/lib/_native.so": elf_image(machine=EM_AARCH64),
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 3
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error:")]
    assert error.startswith(
        "lambdapack: error: fn: error [architecture] lib/_native.so: ELF for aarch64 (64-bit, little-endian)"
    )
    (root / "fn" / "lib" / "_native.so").write_bytes(elf_image())
    fixed = cli("build", cwd=root)
    assert fixed.returncode == 0, fixed.stderr
    warnings = [line.strip().split(":")[0] for line in fixed.stderr.splitlines() if "warning [" in line]
    assert warnings == ["warning [hygiene] app.py", "warning [hygiene] deploy/key.pem"]
    assert "likely secret: a private key" in fixed.stderr
