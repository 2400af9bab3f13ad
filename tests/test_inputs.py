"""Every common dependency input, lock files, private indexes and local packages."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import re
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from conftest import run_cli, write_tree
from lambdapack.python.engine import UvEngine

APP = "import six\n\ndef handler(event, context):\n    return six.PY3\n"
PINS = ["six==1.17.0", "orjson==3.10.18"]
KEEP_OUT = '["pyproject.toml", "uv.lock", "Pipfile*", "poetry.lock", "requirements*"]'


def _uv(*args: str, cwd: Path) -> str:
    return subprocess.run([UvEngine().uv, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _hashes(tmp: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, sha256 hashes) for PINS, from the index (all wheels and sdists)."""
    (tmp / "pins.in").write_text("\n".join(PINS) + "\n")
    text = _uv(
        "pip", "compile", "pins.in", "--generate-hashes", "--no-header", "--no-annotate", "-q", cwd=tmp
    )
    out = {}
    for block in re.split(r"\n(?=\S)", text.strip()):
        head = block.split()[0]
        name, version = head.split("==")
        out[name] = (version, re.findall(r"--hash=(sha256:[0-9a-f]{64})", block))
    return out


@pytest.mark.network
def test_every_input_format_gives_the_same_zip(tmp_path: Path) -> None:
    pins = _hashes(tmp_path)
    pipfile = {
        "_meta": {"hash": {"sha256": "0"}, "pipfile-spec": 6, "requires": {}, "sources": []},
        "default": {n: {"version": f"=={v}", "hashes": h} for n, (v, h) in pins.items()},
        "develop": {},
    }
    poetry_lock = (
        "".join(
            f'[[package]]\nname = "{n}"\nversion = "{v}"\ndescription = ""\noptional = false\n'
            f'python-versions = "*"\ngroups = ["main"]\nfiles = [\n'
            + "".join(f'    {{file = "x", hash = "{h}"}},\n' for h in hashes)
            + "]\n\n"
            for n, (v, hashes) in pins.items()
        )
        + '[metadata]\nlock-version = "2.1"\npython-versions = ">=3.11"\ncontent-hash = "0"\n'
    )
    pyproject = (
        '[project]\nname = "fn"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        f"dependencies = {json.dumps(PINS)}\n"
    )
    files = {
        "reqs/app.py": APP,
        "reqs/requirements.txt": "\n".join(PINS) + "\n",
        "pyproj/app.py": APP,
        "pyproj/pyproject.toml": pyproject,
        "uvlock/app.py": APP,
        "uvlock/pyproject.toml": pyproject,
        "pipenv/app.py": APP,
        "pipenv/Pipfile.lock": json.dumps(pipfile),
        "poetry/app.py": APP,
        "poetry/pyproject.toml": pyproject,
        "poetry/poetry.lock": poetry_lock,
    }
    config = f'runtime = "python3.12"\narchitecture = "arm64"\nexclude = {KEEP_OUT}\n' + "".join(
        f'[functions.{n}]\nsource = "{n}"\nhandler = "app.handler"\n'
        for n in ("reqs", "pyproj", "uvlock", "pipenv", "poetry")
    )
    root = write_tree(tmp_path / "project", {"lambdapack.toml": config, **files})
    _uv("lock", "-q", cwd=root / "uvlock")
    result = run_cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    zips = {p.stem: p.read_bytes() for p in (root / "dist").glob("*.zip")}
    assert len(zips) == 5 and len(set(zips.values())) == 1, {
        k: hashlib.sha256(v).hexdigest() for k, v in zips.items()
    }
    with zipfile.ZipFile(root / "dist" / "uvlock.zip") as zf:
        assert {"six.py", "app.py"} <= set(zf.namelist())
        assert any(n.startswith("orjson/") for n in zf.namelist())


@pytest.mark.network
def test_lock_check_and_locked_builds(tmp_path: Path) -> None:
    config = (
        '[functions.arm]\nsource = "fn"\nhandler = "app.handler"\nruntime = "python3.12"\n'
        'architecture = "arm64"\n'
        '[functions.x86]\nsource = "fn"\nhandler = "app.handler"\nruntime = "python3.12"\n'
        'architecture = "x86_64"\n'
        '[functions.twin]\nsource = "fn"\nhandler = "app.handler"\nruntime = "python3.12"\n'
        'architecture = "x86_64"\n'
    )
    root = write_tree(tmp_path, {"lambdapack.toml": config, "fn/app.py": APP, "fn/requirements.txt": "six\n"})
    assert run_cli("lock", "--check", cwd=root).returncode == 4  # missing
    locked = run_cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    arm_lock = root / "fn" / "requirements.python3.12-arm64.lock.txt"
    x86_lock = root / "fn" / "requirements.python3.12-x86_64.lock.txt"
    assert "(twin, x86)" in locked.stderr  # one input, one target: one resolution, one lock
    assert re.search(r"^six==[\d.]+ --hash=sha256:", arm_lock.read_text(), re.M)
    assert run_cli("lock", "--check", cwd=root).returncode == 0
    built = run_cli("build", "--locked", cwd=root)
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(root / "dist" / "arm.zip") as zf:
        assert "six.py" in zf.namelist() and not any(n.endswith(".lock.txt") for n in zf.namelist())

    (root / "fn" / "requirements.txt").write_text("six\nidna\n")  # a requirement added
    stale = run_cli("lock", "--check", cwd=root)
    assert stale.returncode == 4 and "its requirements input changed" in stale.stderr
    refused = run_cli("build", "--locked", cwd=root)
    assert (
        refused.returncode == 4 and "--locked" in refused.stderr and "run `lambdapack lock" in refused.stderr
    )
    assert run_cli("lock", cwd=root).returncode == 0

    text = arm_lock.read_text()
    arm_lock.write_text(text.replace("six==", "six>=", 1))  # edited by hand
    edited = run_cli("lock", "--check", "arm", cwd=root)
    assert edited.returncode == 4 and "edited by hand" in edited.stderr
    arm_lock.write_text(x86_lock.read_text())  # made for another target
    other = run_cli("lock", "--check", "arm", cwd=root)
    assert other.returncode == 4 and "made for python3.12-x86_64, not python3.12 arm64" in other.stderr


@pytest.mark.network
def test_glibc_ceiling_picks_the_newest_numpy_with_a_loadable_wheel(tmp_path: Path) -> None:
    config = "".join(
        f'[functions.{n}]\nsource = "{n}"\nhandler = "app.handler"\nruntime = "{r}"\n'
        'architecture = "x86_64"\n'
        for n, r in (("old", "python3.11"), ("new", "python3.12"))
    )
    files = {f"{n}/app.py": APP.replace("six", "numpy") for n in ("old", "new")}
    files |= {f"{n}/requirements.txt": "numpy\n" for n in ("old", "new")}
    root = write_tree(tmp_path, {"lambdapack.toml": config, **files})
    assert run_cli("lock", cwd=root).returncode == 0
    version = {
        n: Version(
            re.search(r"^numpy==(\S+)", next((root / n).glob("*.lock.txt")).read_text(), re.M).group(1)
        )
        for n in ("old", "new")
    }
    assert version["old"] < version["new"], version
    # the python3.11 build installs a wheel within manylinux_2_26 and passes the glibc check
    built = run_cli("build", "old", cwd=root)
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(root / "dist" / "old.zip") as zf:
        wheel = next(n for n in zf.namelist() if n.startswith("numpy-") and n.endswith("/WHEEL"))
        tags = re.findall(r"^Tag: (\S+)$", zf.read(wheel).decode(), re.M)
    assert tags and all(re.search(r"manylinux(2014|_2_1[0-7])_x86_64", t) for t in tags), tags


class _AuthIndex(http.server.SimpleHTTPRequestHandler):
    """A PEP 503 index directory, served only to user:secret (basic auth)."""

    expected = "Basic " + base64.b64encode(b"user:s3cret-pass").decode()

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="index"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def private_index(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback index with six's wheel; yields (url without credentials, the wheel)."""
    root = tmp_path / "index"
    wheels = tmp_path / "wheels"
    subprocess.run(
        ["python3", "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
         "--dest", str(wheels), "six==1.17.0"],
        check=True, capture_output=True,
    )  # fmt: skip
    wheel = next(wheels.glob("six-*.whl"))
    (root / "simple" / "six").mkdir(parents=True)
    shutil.copy(wheel, root / "simple" / "six" / wheel.name)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (root / "simple" / "six" / "index.html").write_text(
        f'<html><body><a href="{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>'
    )
    (root / "simple" / "index.html").write_text('<html><body><a href="six/">six</a></body></html>')
    handler = functools.partial(_AuthIndex, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}/simple", root / "simple" / "six" / wheel.name
    finally:
        server.shutdown()


@pytest.mark.network
def test_private_index_with_credentials_from_config_and_environment(
    tmp_path: Path, private_index: tuple[str, Path]
) -> None:
    address, wheel = private_index
    url = f"http://user:s3cret-pass@{address}"
    isolated = {
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "LAMBDAPACK_CACHE_DIR": str(tmp_path / "lp-cache"),
    }
    for variant, config_line, env, options in (
        ("config", f'index_url = "{url}"\n', {}, ()),
        ("env", "", {"PIP_INDEX_URL": url}, ()),
        ("cli", "", {}, ("--index-url", url)),
    ):
        root = write_tree(
            tmp_path / variant,
            {
                "lambdapack.toml": f'runtime = "python3.12"\narchitecture = "arm64"\n{config_line}'
                '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nexclude = ["requirements*"]\n',
                "fn/app.py": APP,
                "fn/requirements.txt": "six==1.17.0\n",
            },
        )
        for command in ("lock", "build"):
            result = run_cli(command, *options, cwd=root, env={**isolated, **env})
            assert result.returncode == 0, (variant, command, result.stderr)
            assert "s3cret" not in result.stderr + result.stdout
        with zipfile.ZipFile(root / "dist" / "fn.zip") as zf:
            assert "six.py" in zf.namelist()
        written = [p for p in root.rglob("*") if p.is_file() and p.name != "lambdapack.toml"]
        written += [
            p for p in (tmp_path / "lp-cache").rglob("*") if p.is_file() and p.suffix in (".txt", ".json")
        ]
        leaked = [p for p in written if b"s3cret" in p.read_bytes()]
        assert leaked == [], leaked

    # a tampered wheel on the index fails the hash check and leaves the earlier zip in place
    root = tmp_path / "config"
    before = (root / "dist" / "fn.zip").read_bytes()
    (root / "fn" / "app.py").write_text(APP + "# changed\n")
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr("six-1.17.0.dist-info/EXTRA", "tampered")
    fresh = {"UV_CACHE_DIR": str(tmp_path / "fresh-uv"), "LAMBDAPACK_CACHE_DIR": str(tmp_path / "fresh-lp")}
    tampered = run_cli("build", cwd=root, env=fresh)
    assert tampered.returncode == 1
    assert "hash mismatch for six==1.17.0" in tampered.stderr and "s3cret" not in tampered.stderr
    assert re.search(r"expected sha256:[0-9a-f]{64}.*got sha256:[0-9a-f]{64}", tampered.stderr)
    assert (root / "dist" / "fn.zip").read_bytes() == before


@pytest.mark.network
def test_runtime_packages_and_local_packages(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "arm64"\n'
            '[functions.fn]\nsource = "functions/fn"\nhandler = "app.handler"\n'
            "exclude_runtime_packages = true\n"
            'exclude = ["requirements*"]\n',
            "functions/fn/app.py": "import common\n\ndef handler(event, context):\n    return common.VALUE\n",
            "functions/fn/requirements.txt": "six\nidna\n-e ../../libs/common\n",
            "libs/common/pyproject.toml": '[project]\nname = "common"\nversion = "1.0"\n',
            "libs/common/src/common/__init__.py": "VALUE = 1\n",
            "libs/common/tests/test_common.py": "def test(): pass\n",
        },
    )
    first = run_cli("build", cwd=root)
    assert first.returncode == 0, first.stderr
    assert "exclude_runtime_packages" in first.stderr  # the version-skew warning
    with zipfile.ZipFile(root / "dist" / "fn.zip") as zf:
        names = zf.namelist()
    assert "six.py" not in names and not any(n.startswith("six-") for n in names)
    assert any(n.startswith("idna/") for n in names)
    assert "common/__init__.py" in names and not any("test_common" in n for n in names)
    before = (root / "dist" / "fn.zip").read_bytes()
    (root / "libs" / "common" / "src" / "common" / "__init__.py").write_text("VALUE = 2\n")
    assert run_cli("build", cwd=root).returncode == 0
    assert (root / "dist" / "fn.zip").read_bytes() != before  # a change in the local package is seen
