"""Verification on real wheels and real failure cases, on zips made by
lambdapack and by other tools (Info-ZIP's zip, Python's zipfile)."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from conftest import run_cli, write_tree
from lambdapack.contents import ZipPackage
from lambdapack.python.ecosystem import PythonEcosystem
from lambdapack.python.engine import UvEngine
from lambdapack.runtimes import target
from lambdapack.verify import API_REQUEST_CAP, DIRECT_UPLOAD_LIMIT, UNZIPPED_LIMIT, Report, verify

HANDLER = "def handler(event, context):\n    return {}\n"


def uv_install(dest: Path, platform: str, python: str, *requirements: str) -> Path:
    """Install real wheels for a platform, as any other tool would."""
    uv = UvEngine().uv
    command = [uv, "pip", "install", "--quiet", "--target", str(dest), "--python-platform", platform]
    command += ["--python-version", python, "--only-binary", ":all:", "--no-installer-metadata"]
    subprocess.run([*command, *requirements], check=True, capture_output=True)
    return dest


def zip_tree(tree: Path, dest: Path, extra: Mapping[str, str] | None = None) -> Path:
    """A plain Python zipfile archive of a tree (not lambdapack's writer)."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(tree.rglob("*")):
            if path.is_file() and "/bin/" not in path.as_posix():
                zf.write(path, path.relative_to(tree).as_posix())
        for name, text in (extra or {}).items():
            zf.writestr(name, text)
    return dest


def check(zip_path: Path, runtime: str, architecture: str, handler: str | None = "app.handler") -> Report:
    with ZipPackage(zip_path) as package:
        return verify(package, target(runtime, architecture), handler, PythonEcosystem())


def by_check(report: Report, check: str) -> dict[str, str]:
    return {f.path or "": f.message for f in report.findings if f.check == check}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str, str], Path]:
    """Zips of real wheels installed for a platform, cached per module."""
    root = tmp_path_factory.mktemp("wheels")
    made: dict[tuple[str, str, str], Path] = {}

    def make(platform: str, python: str, requirements: str) -> Path:
        key = (platform, python, requirements)
        if key not in made:
            name = f"{len(made)}"
            site = uv_install(root / name, platform, python, *requirements.split())
            made[key] = zip_tree(site, root / f"{name}.zip", {"app.py": HANDLER})
        return made[key]

    return make


COMPILED = "orjson pydantic-core cryptography"


@pytest.mark.network
@pytest.mark.parametrize(
    ("built_for", "checked_as", "found"),
    [("x86_64-manylinux_2_17", "arm64", "x86_64"), ("aarch64-manylinux_2_17", "x86_64", "aarch64")],
)
def test_wrong_architecture_names_every_shared_object(
    wheels: Callable[[str, str, str], Path], built_for: str, checked_as: str, found: str
) -> None:
    zip_path = wheels(built_for, "3.12", COMPILED)
    report = check(zip_path, "python3.12", checked_as)
    wrong = by_check(report, "architecture")
    assert not report.ok
    for module in ("orjson/orjson.cpython-312", "pydantic_core/_pydantic_core.cpython-312", "_rust.abi3.so"):
        assert any(module in path for path in wrong), (module, wrong)
    assert all(message.startswith(f"ELF for {found}") for message in wrong.values())
    owners = {f.distribution for f in report.findings if f.check == "architecture"}
    assert {o.split()[0] for o in owners if o} >= {"orjson", "pydantic_core", "cryptography"}
    # the same zip passes for the architecture it was built for
    right = "x86_64" if checked_as == "arm64" else "arm64"
    assert check(zip_path, "python3.12", right).ok


@pytest.mark.network
def test_manylinux_2_28_cryptography_fails_glibc_on_python311_passes_on_312(
    wheels: Callable[[str, str, str], Path],
) -> None:
    zip_path = wheels("x86_64-manylinux_2_28", "3.11", "cryptography --no-deps")
    with zipfile.ZipFile(zip_path) as zf:
        wheel = next(n for n in zf.namelist() if n.startswith("cryptography-") and n.endswith("/WHEEL"))
        assert "manylinux_2_28_x86_64" in zf.read(wheel).decode()
    old = check(zip_path, "python3.11", "x86_64")
    glibc = by_check(old, "glibc")
    assert glibc == {
        "cryptography/hazmat/bindings/_rust.abi3.so": (
            "needs GLIBC_2.28; python3.11 (Amazon Linux 2) has glibc 2.26"
        )
    }
    assert next(f for f in old.findings if f.check == "glibc").distribution.startswith("cryptography ")
    assert "wheel-tag" in {f.check for f in old.errors}
    assert check(zip_path, "python3.12", "x86_64").ok


@pytest.mark.network
def test_macos_wheel_is_caught_as_mach_o(wheels: Callable[[str, str, str], Path]) -> None:
    zip_path = wheels("aarch64-apple-darwin", "3.12", "orjson")
    report = check(zip_path, "python3.12", "arm64")
    wrong = by_check(report, "architecture")
    assert any(p.startswith("orjson/orjson.cpython-312-darwin.so") for p in wrong)
    assert all(m.startswith("macOS Mach-O binary") for m in wrong.values())
    assert "wheel-tag" in {f.check for f in report.errors}


@pytest.mark.parametrize(
    ("files", "handler", "expected"),
    [
        ({"app.py": HANDLER}, "app.handler", None),
        ({"other.py": HANDLER}, "app.handler", "module 'app' not found"),
        ({"app.py": "def main(event, context):\n    pass\n"}, "app.handler", "app.py defines no 'handler'"),
        (
            {"app.py": 'if __name__ == "__main__":\n    def handler(event, context):\n        pass\n'},
            "app.handler",
            'defined only under `if __name__ == "__main__":`',
        ),
        (
            {"app.py": "class Api:\n    def handler(self, event, context):\n        pass\n"},
            "app.handler",
            "defined only inside another function or class",
        ),
        ({"pkg/sub/mod.py": HANDLER}, "pkg.sub.mod.handler", None),
        ({"pkg/sub/__init__.py": HANDLER}, "pkg.sub.handler", None),
        ({"pkg/sub/mod.py": HANDLER}, "pkg.sub.other.handler", "module 'pkg.sub.other' not found"),
        ({"app.py": "from mangum import Mangum\nhandler = Mangum(object())\n"}, "app.handler", None),
        ({"app.py": "from lib import handler\n"}, "app.handler", None),
        (
            {"app.py": "try:\n    import x\nexcept ImportError:\n    x = None\n" + HANDLER},
            "app.handler",
            None,
        ),
        ({"app.py": "def handler(event, context:\n"}, "app.handler", "does not parse"),
    ],
)
def test_handler(tmp_path: Path, files: dict[str, str], handler: str, expected: str | None) -> None:
    zip_path = tmp_path / "fn.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    found = [f for f in check(zip_path, "python3.12", "arm64", handler).findings if f.check == "handler"]
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].severity == "error"
        assert expected in found[0].message


def test_async_handler_is_a_warning(tmp_path: Path) -> None:
    zip_path = tmp_path / "fn.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        put(zf, "app.py", "async def handler(event, context):\n    return 1\n")
    report = check(zip_path, "python3.12", "arm64")
    assert report.ok and [f.check for f in report.warnings] == ["handler"]


def put(zf: zipfile.ZipFile, name: str, data: str | bytes, mode: int = 0o644) -> None:
    """writestr with a real mode (zipfile's default for writestr is 0600)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


BIG_RECORD = "big/blob.bin,,\nbigdist-1.0.dist-info/RECORD,,\n"


def _blob_zip(path: Path, *, zipped: int | None = None, unzipped: int | None = None) -> Path:
    """A zip of exactly ``zipped`` bytes (random bytes, stored), or holding
    exactly ``unzipped`` bytes (zeros, deflated): a handler, a distribution's
    RECORD, and ``big/blob.bin``."""

    def write(blob: Callable[[zipfile.ZipFile], None]) -> None:
        with zipfile.ZipFile(path, "w") as zf:
            put(zf, "app.py", HANDLER)
            put(zf, "bigdist-1.0.dist-info/RECORD", BIG_RECORD)
            blob(zf)

    def stored(size: int) -> Callable[[zipfile.ZipFile], None]:
        def add(zf: zipfile.ZipFile) -> None:
            info = zipfile.ZipInfo("big/blob.bin")
            info.create_system, info.external_attr = 3, 0o100644 << 16
            zf.writestr(info, os.urandom(size), compress_type=zipfile.ZIP_STORED)

        return add

    if zipped is not None:
        write(stored(0))
        write(stored(zipped - path.stat().st_size))
        assert path.stat().st_size == zipped
    if unzipped is not None:

        def zeros(zf: zipfile.ZipFile) -> None:
            info = zipfile.ZipInfo("big/blob.bin")
            info.create_system, info.external_attr = 3, 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info._compresslevel = 1  # 3x faster than the default on 250 MB of zeros (no public knob < 3.13)
            remaining = unzipped - len(HANDLER) - len(BIG_RECORD)
            chunk = bytes(1 << 20)
            with zf.open(info, "w") as blob:
                while remaining > 0:
                    blob.write(chunk[: min(remaining, len(chunk))])
                    remaining -= len(chunk)

        write(zeros)
    return path


@pytest.mark.parametrize(
    ("zipped", "severity", "needle"),
    [
        (int(DIRECT_UPLOAD_LIMIT * 0.79), None, None),
        (int(DIRECT_UPLOAD_LIMIT * 0.85), "warning", "85% of the 50 MB direct-upload limit"),
        (DIRECT_UPLOAD_LIMIT, "warning", "100% of the 50 MB direct-upload limit"),
        (DIRECT_UPLOAD_LIMIT + 1, "warning", "is over the 50 MB direct-upload limit"),
        (API_REQUEST_CAP, "warning", "is over the 50 MB direct-upload limit"),
        (API_REQUEST_CAP + 1, "warning", "is over Lambda's API request cap (69,905,067 bytes)"),
    ],
)
def test_zipped_size_limits(tmp_path: Path, zipped: int, severity: str | None, needle: str | None) -> None:
    report = check(_blob_zip(tmp_path / "big.zip", zipped=zipped), "python3.12", "arm64")
    sizes = [f for f in report.findings if f.check == "size"]
    if severity is None:
        assert sizes == []
        return
    assert len(sizes) == 1 and sizes[0].severity == severity and needle in sizes[0].message, sizes
    assert "S3" in sizes[0].fix
    assert any("bigdist 1.0" in line for line in sizes[0].details)
    assert any("big/" in line for line in sizes[0].details)


@pytest.mark.parametrize(
    ("unzipped", "severity"),
    [(UNZIPPED_LIMIT, "warning"), (UNZIPPED_LIMIT + 1, "error"), (int(UNZIPPED_LIMIT * 0.79), None)],
)
def test_unzipped_size_limit(tmp_path: Path, unzipped: int, severity: str | None) -> None:
    report = check(_blob_zip(tmp_path / "big.zip", unzipped=unzipped), "python3.12", "arm64")
    sizes = [f for f in report.findings if f.check == "size"]
    if severity is None:
        assert sizes == []
        return
    assert [f.severity for f in sizes] == [severity]
    assert f"unzipped size {unzipped:,} bytes" in sizes[0].message
    assert sizes[0].details[1].strip().endswith("bigdist 1.0")  # the largest distribution first


def test_hygiene_warnings(tmp_path: Path) -> None:
    zip_path = tmp_path / "fn.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        put(zf, "app.py", HANDLER)
        put(zf, "__pycache__/app.cpython-311.pyc", b"\x00" * 16)
        put(zf, "__pycache__/app.cpython-312.pyc", b"\x00" * 16)  # matches the target: fine
        put(zf, "config/settings.py", "X = 1\n", mode=0o600)
        put(zf, ".env", "SECRET=1\n")
        put(zf, "deploy/key.pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n")
        put(zf, "settings.py", 'KEY = "AKIAIOSFODNN7EXAMPLE"\n')
        put(zf, "lib-1.0.dist-info/RECORD", "lib/__init__.py,,\nlib/tests/test_a.py,,\n")
        put(zf, "lib/__init__.py", "")
        put(zf, "lib/tests/test_a.py", "def test(): pass\n")
    report = check(zip_path, "python3.12", "arm64")
    assert report.ok
    hygiene = {(f.path, f.message.split(";")[0]) for f in report.warnings if f.check == "hygiene"}
    assert hygiene == {
        (
            "__pycache__/",
            "1 .pyc file(s) compiled for another Python than python3.12 (ignored by the "
            "runtime, dead weight)",
        ),
        ("config/", "1 file(s) not world-readable"),
        (".env", "likely secret: an environment file (.env)"),
        ("deploy/key.pem", "likely secret: a private key"),
        ("settings.py", "likely secret: an AWS access key id"),
        ("lib/tests/", "lib 1.0 ships 1 test directory (1 files, 17 bytes)"),
    }
    assert all(f.fix for f in report.warnings)


def test_check_works_on_zips_made_by_info_zip(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"app.py": HANDLER, "lib/util.py": "X = 1\n"})
    (tree / "lib" / "util.py").chmod(0o600)
    zip_path = tmp_path / "plain.zip"
    subprocess.run(["zip", "-qr", str(zip_path), "."], cwd=tree, check=True)
    report = check(zip_path, "python3.12", "x86_64")
    assert report.ok
    assert [(f.check, f.path) for f in report.warnings] == [("hygiene", "lib/")]  # the 0600 file


def test_check_cli_json_and_exit_codes(tmp_path: Path) -> None:
    zip_path = tmp_path / "fn.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        put(zf, "app.py", "def main(event, context):\n    pass\n")
    bad = run_cli(
        "check",
        str(zip_path),
        "--runtime",
        "python3.12",
        "--architecture",
        "arm64",
        "--handler",
        "app.handler",
        "--json",
        cwd=tmp_path,
    )
    assert bad.returncode == 3, bad.stderr
    document = json.loads(bad.stdout)
    assert document["ok"] is False
    (package,) = document["packages"]
    assert package["errors"] == 1 and package["findings"][0]["check"] == "handler"
    assert "error [handler] app.py" in bad.stderr
    good = run_cli(
        "check",
        str(zip_path),
        "--runtime",
        "python3.12",
        "--architecture",
        "arm64",
        "--handler",
        "app.main",
        cwd=tmp_path,
    )
    assert good.returncode == 0 and good.stdout.endswith(": ok\n")
    missing = run_cli("check", str(zip_path), cwd=tmp_path)
    assert missing.returncode == 2 and "give --runtime" in missing.stderr


def test_build_runs_the_checks_and_no_verify_skips_them(make_project: Callable[..., Path]) -> None:
    root = make_project(
        'runtime = "python3.12"\narchitecture = "arm64"\n'
        '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n',
        {"fn/app.py": "def main(event, context):\n    pass\n", "fn/.env": "A=1\n"},
    )
    result = run_cli("build", cwd=root)
    assert result.returncode == 3
    assert "fn: error [handler] app.py: handler 'app.handler': app.py defines no 'handler'" in result.stderr
    assert not (root / "dist" / "fn.zip").exists()
    skipped = run_cli("build", "--no-verify", cwd=root)
    assert skipped.returncode == 0, skipped.stderr
    assert "--no-verify" in skipped.stderr and (root / "dist" / "fn.zip").exists()
    # the checks run on what is built from the project: built zip passes `check` only once fixed
    assert run_cli("check", cwd=root).returncode == 3
    (root / "fn" / "app.py").write_text(HANDLER)
    assert run_cli("build", cwd=root).returncode == 0
    assert run_cli("check", cwd=root).returncode == 0
