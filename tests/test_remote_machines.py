"""The remote cache end to end, with real packages: one project with three
functions (numpy + pandas on x86_64, pydantic on arm64, a Node.js function
installed from its package-lock.json) built by three simulated CI machines
that share an S3 bucket (moto's server on loopback), PyPI and the npm registry.

- Machine A, empty cache: resolves with uv, installs with uv and npm, uploads
  the locks and dependency sets, signed.
- Machine B, empty cache, same bucket and key: starts no uv or npm process at
  all, misses nothing, and writes A's zips byte for byte.
- Machine C, no remote, empty cache: a cache-less build writes A's zips too.

The Python functions commit no lock, so the resolution is part of what is
shared; uv's own download cache is shared by the three machines (it is not
lambdapack's cache, and B still runs no uv). B's handlers then run from its
zips: numpy + pandas with a CPython 3.12 (when one is installed), the Node.js
function on arm64 under qemu (tests/noderun.py). pydantic's arm64 handler is
not run: tests/pyrun.py has an arm64 CPython 3.11 only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

import noderun
import pyrun
from machines import Machine, package_managers, remote_warnings
from s3_server import (  # noqa: F401  # (fixtures)
    S3Bucket,
    s3_bucket_fixture,
    s3_env_fixture,
    s3_server_fixture,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
WEBHOOK = REPO / "examples" / "events" / "functions" / "webhook"
SIGNING_KEY = "lambdapack-machines-signing-key-5c1d0e7a"
FUNCTIONS = ("frames", "models", "webhook")
CONFIG = """\
output = "dist"
exclude = ["requirements*"]

[functions.frames]
source = "functions/frames"
handler = "app.handler"
runtime = "python3.12"
architecture = "x86_64"

[functions.models]
source = "functions/models"
handler = "app.handler"
runtime = "python3.12"
architecture = "arm64"

[functions.webhook]
source = "functions/webhook"
handler = "index.handler"
runtime = "nodejs20.x"
architecture = "arm64"
"""
FRAMES = """\
import numpy as np
import pandas as pd


def handler(event, context):
    frame = pd.DataFrame({"x": np.arange(event.get("n", 4))})
    return {"numpy": np.__version__, "pandas": pd.__version__, "total": int(frame["x"].sum())}
"""
MODELS = """\
import pydantic
import pydantic_core


class Order(pydantic.BaseModel):
    id: int
    items: list[str]


def handler(event, context):
    order = Order.model_validate(event)
    return {"pydantic": pydantic.VERSION, "core": pydantic_core.__version__, "order": order.model_dump()}
"""
#: No lock files: each machine would resolve these for its target.
FILES = {
    "lambdapack.toml": CONFIG,
    "functions/frames/app.py": FRAMES,
    "functions/frames/requirements.txt": "numpy==2.2.6\npandas==2.2.3\n",
    "functions/models/app.py": MODELS,
    "functions/models/requirements.txt": "pydantic==2.11.7\n",
}
#: The run's figures, as ``build -v`` prints them.
FIGURES = re.compile(
    r"remote cache (?P<url>\S+) \((?P<mode>[a-z-]+)\): (?P<hits>\d+) hit\(s\), (?P<misses>\d+) miss\(es\)"
    r".*?(?P<uploads>\d+) upload\(s\)"
)


def _project(base: Path) -> Path:
    """The project as committed: the two Python functions' sources and
    requirements, and a copy of the events example's webhook function."""
    root = base / "template"
    shutil.copytree(WEBHOOK, root / "functions" / "webhook", ignore=shutil.ignore_patterns("node_modules"))
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def _figures(stderr: str) -> dict[str, str]:
    found = FIGURES.search(stderr)
    assert found is not None, f"no remote cache figures in:\n{stderr}"
    return found.groupdict()


def _python312() -> Path | None:
    """The directory of a CPython 3.12 that runs (pyenv's shim may name one that is not selected)."""
    candidates = [shutil.which("python3.12")]
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob("3.12*/bin/python3.12"))]
    for candidate in candidates:
        if candidate is None:
            continue
        done = subprocess.run([candidate, "-c", "print(1)"], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return Path(candidate).parent
    return None


def _entries(data: bytes) -> list[str]:
    """The zip entry names of a ``deps/`` object (the format of docs/remote-cache.md:
    ``LPRC\\x01``, a u32 header length, the JSON header, the members' bytes in order)."""
    assert data[:5] == b"LPRC\x01"
    length = int.from_bytes(data[5:9], "little")
    header = json.loads(data[9 : 9 + length])
    offset = 9 + length
    for name, codec, stored, size in header["members"]:
        member = data[offset : offset + stored]
        offset += stored
        if name == "entries.json":
            raw = zlib.decompress(member) if codec == "zlib" else member
            assert len(raw) == size
            return [entry[0] for entry in json.loads(raw)["entries"]]
    raise AssertionError(f"no entries.json in {header['members']}")


def _ran(commands: list[str], tool: str) -> bool:
    """Whether one of ``commands`` ran ``tool`` ("uv", or "npm": its npm-cli.js under node)."""
    names = {"uv": ("uv",), "npm": ("npm", "npm-cli.js")}[tool]
    return any(Path(word).name in names for c in commands for word in c.split()[:2])


def test_three_machines_share_one_bucket(
    tmp_path: Path,
    s3_env: dict[str, str],
    s3_bucket: S3Bucket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("LAMBDAPACK_REMOTE_CACHE", "LAMBDAPACK_REMOTE_CACHE_MODE", "LAMBDAPACK_CACHE_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)  # the machines inherit the rest of this environment
    project = _project(tmp_path)
    shared = {"UV_CACHE_DIR": str(tmp_path / "uv-cache")}  # uv's downloads, not lambdapack's cache
    remote = {
        **s3_env,
        **shared,
        "LAMBDAPACK_REMOTE_CACHE": s3_bucket.url("fleet"),
        "LAMBDAPACK_CACHE_SIGNING_KEY": SIGNING_KEY,
    }

    # -- A: an empty cache, an empty bucket: resolves, installs, uploads --------------------------
    a = Machine(tmp_path, "a", remote, project=project)
    done, commands = a.traced("-v")
    assert done.returncode == 0, done.stderr
    assert not remote_warnings(done.stderr), done.stderr
    assert _ran(commands, "uv") and _ran(commands, "npm"), commands
    figures = _figures(done.stderr)
    # two locks (the Python functions' resolutions) and three dependency sets
    assert (figures["hits"], figures["misses"], figures["uploads"]) == ("0", "5", "5"), done.stderr
    keys = s3_bucket.keys()
    kinds: dict[str, list[str]] = {}
    for key in keys:
        prefix, version, kind, _name = key.split("/")
        assert (prefix, version) == ("fleet", "lambdapack-v2"), key
        kinds.setdefault(kind, []).append(key)
    assert sorted(kinds) == ["deps", "locks"] and len(kinds["locks"]) == 2, keys
    contents = [_entries(s3_bucket.get(key)) for key in kinds["deps"]]
    found = {
        function
        for function, marks in {
            "frames": ("numpy/__init__.py", "pandas/__init__.py"),
            "models": ("pydantic/__init__.py", "pydantic_core/__init__.py"),
            "webhook": ("node_modules/uuid/package.json",),
        }.items()
        for names in contents
        if all(mark in names for mark in marks)
    }
    assert len(contents) == 3 and found == set(FUNCTIONS), (keys, found)
    before = s3_bucket.snapshot()

    # -- B: another directory, an empty cache, the same bucket and key: no uv, no npm -------------
    b = Machine(tmp_path, "b", remote, project=project)
    done, commands = b.traced("-v")
    assert done.returncode == 0, done.stderr
    assert not remote_warnings(done.stderr), done.stderr
    assert package_managers(commands) == [], commands
    figures = _figures(done.stderr)
    assert (figures["hits"], figures["misses"], figures["uploads"]) == ("5", "0", "0"), done.stderr
    assert "0 miss(es)" in done.stderr
    for function in FUNCTIONS:
        assert b.zip(function) == a.zip(function), function
    assert s3_bucket.snapshot() == before  # nothing uploaded again
    (info,) = b.figures().values()
    assert info["hits"] == 5 and info["misses"] == 0, info
    assert info["bytes_down"] == sum(size for _etag, size in before.values()), info  # (one > 8 MiB: in parts)
    assert info["uploads"] == 0 and info["ignored"] == 0 and info["errors"] == 0, info

    # -- C: no remote at all, an empty cache: a cache-less build, the same zips -------------------
    c = Machine(tmp_path, "c", shared, project=project)
    done, commands = c.traced()
    assert done.returncode == 0, done.stderr
    assert "remote cache" not in done.stderr
    assert _ran(commands, "uv") and _ran(commands, "npm"), commands
    for function in FUNCTIONS:
        assert c.zip(function) == a.zip(function), function

    # -- B's handlers run on their targets --------------------------------------------------------
    python312 = _python312()
    assert python312 is not None, "no CPython 3.12 runs here (pyenv installs 3.10-3.13 on these machines)"
    monkeypatch.setenv("PATH", f"{python312}{os.pathsep}{os.environ['PATH']}")
    frames = pyrun.run_handler(
        b.root / "dist" / "frames.zip",
        "app.handler",
        {"n": 5},
        architecture="x86_64",
        version="3.12",
        work=tmp_path / "run-frames",
    )
    assert frames == {"numpy": "2.2.6", "pandas": "2.2.3", "total": 10}
    webhook = noderun.run_handler(
        b.root / "dist" / "webhook.zip",
        "index.handler",
        {"body": json.dumps({"type": "push"})},
        architecture="arm64",
        work=tmp_path / "run-webhook",
    )
    assert isinstance(webhook, dict) and webhook["statusCode"] == 202, webhook
    assert json.loads(webhook["body"])["valid"] is True
