"""The remote cache's objects (lambdapack/remote/pack.py) and where a run's
remote comes from (lambdapack/remote/__init__.py, ``[cache]``): no server."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import pytest

from conftest import cli, write_tree
from lambdapack import remote
from lambdapack.remote import RemoteSettings, location
from lambdapack.remote.pack import MAGIC, Rejected, pack, unpack

NAME = "team/lambdapack-v2/deps/abc"


def _members(tmp_path: Path) -> dict[str, Path]:
    files = write_tree(
        tmp_path / "entry",
        {"entries.json": json.dumps({"rows": list(range(500))}), "payload.bin": os.urandom(3 << 20)},
    )
    return {name: files / name for name in ("entries.json", "payload.bin")}


def _packed(tmp_path: Path, key: str | None = "k1", name: str = NAME) -> bytes:
    out = io.BytesIO()
    pack(_members(tmp_path), out, name=name, kind="deps", key="abc", signing_key=key)
    return out.getvalue()


def _unpack(data: bytes, into: Path, key: str | None = "k1", name: str = NAME) -> dict[str, Path]:
    return unpack(io.BytesIO(data), into, name=name, kind="deps", key="abc", signing_key=key)


def _header(data: bytes) -> tuple[dict[str, object], int]:
    (length,) = struct.unpack_from("<I", data, len(MAGIC))
    start = len(MAGIC) + 4
    return json.loads(data[start : start + length]), start + length


def _with_header(data: bytes, header: dict[str, object]) -> bytes:
    _old, body = _header(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<I", len(raw)) + raw + data[body:]


def test_members_come_back_byte_for_byte_and_text_is_compressed(tmp_path: Path) -> None:
    members = _members(tmp_path)
    data = _packed(tmp_path)
    header, _body = _header(data)
    codecs = {m[0]: m[1] for m in header["members"]}  # type: ignore[attr-defined]
    assert codecs == {"entries.json": "zlib", "payload.bin": "raw"}  # the payload is deflated already
    out = _unpack(data, tmp_path / "out")
    for name, path in members.items():
        assert out[name].read_bytes() == path.read_bytes()
    assert len(data) < sum(p.stat().st_size for p in members.values())  # the JSON shrank


def test_a_signed_object_reads_without_the_key_too(tmp_path: Path) -> None:
    """Readers without a key check the SHA-256 only (docs/remote-cache.md)."""
    out = _unpack(_packed(tmp_path, key="k1"), tmp_path / "out", key=None)
    assert set(out) == {"entries.json", "payload.bin"}


@pytest.mark.parametrize("offset", [-1, -(1 << 20), -(3 << 20) - 10])
def test_a_changed_byte_is_refused(tmp_path: Path, offset: int) -> None:
    data = bytearray(_packed(tmp_path))
    data[offset] ^= 0x01
    with pytest.raises(Rejected) as caught:
        _unpack(bytes(data), tmp_path / "out", key=None)
    assert not caught.value.untrusted


def test_a_body_with_a_matching_new_sha256_fails_the_signature(tmp_path: Path) -> None:
    """An attacker without the key can recompute the SHA-256, not the HMAC."""
    data = bytearray(_packed(tmp_path))
    data[-1] ^= 0x01
    import hashlib

    header, body = _header(bytes(data))
    header["sha256"] = hashlib.sha256(bytes(data[body:])).hexdigest()
    forged = _with_header(bytes(data), header)
    assert set(_unpack(forged, tmp_path / "keyless", key=None)) == {"entries.json", "payload.bin"}
    with pytest.raises(Rejected, match="signature does not match") as caught:
        _unpack(forged, tmp_path / "out", key="k1")
    assert caught.value.untrusted


def test_unsigned_wrong_key_and_copied_objects_are_refused_with_a_key(tmp_path: Path) -> None:
    with pytest.raises(Rejected, match="not signed"):
        _unpack(_packed(tmp_path, key=None), tmp_path / "a", key="k1")
    with pytest.raises(Rejected, match="signature"):
        _unpack(_packed(tmp_path, key="other"), tmp_path / "b", key="k1")
    copied = _packed(tmp_path, key="k1", name="team/lambdapack-v2/deps/abc")
    with pytest.raises(Rejected, match="signature"):  # the same bytes under another object name
        _unpack(copied, tmp_path / "c", key="k1", name="team/lambdapack-v2/deps/xyz")
    with pytest.raises(Rejected, match="another name"):
        unpack(io.BytesIO(copied), tmp_path / "d", name=NAME, kind="deps", key="xyz", signing_key=None)


def test_truncated_damaged_or_foreign_objects_are_refused(tmp_path: Path) -> None:
    data = _packed(tmp_path)
    for bad, why in (
        (data[: len(data) // 2], "truncated"),
        (data + b"x", "after its last member"),
        (b"PK\x03\x04" + data[4:], "not a lambdapack cache object"),
        (data[:9] + b"x" + data[10:], "header is damaged"),
    ):
        with pytest.raises(Rejected, match=why):
            _unpack(bad, tmp_path / "out", key=None)
    header, _ = _header(data)
    header["members"] = [["payload.bin", "raw", 1, 3 << 30]]
    with pytest.raises(Rejected, match="claims more than 2 GiB"):
        _unpack(_with_header(data, header), tmp_path / "out", key=None)
    header["members"] = [["../evil", "raw", 1, 1]]
    with pytest.raises(Rejected, match="damaged"):  # no member escapes the directory it goes to
        _unpack(_with_header(data, header), tmp_path / "out", key=None)


def test_where_the_remote_comes_from() -> None:
    configured = RemoteSettings(url="s3://team-cache/lp/", mode="read-write", timeout=3)
    where = location(configured, {})
    assert where is not None
    assert (where.bucket, where.prefix, where.writable, where.timeout) == ("team-cache", "lp", True, 3)
    assert location(None, {}) is None
    read = location(configured, {remote.MODE_VARIABLE: "read"})
    assert read is not None and not read.writable
    other = location(configured, {remote.URL_VARIABLE: "s3://other-bucket"})
    assert other is not None and (other.bucket, other.prefix) == ("other-bucket", "")
    assert location(configured, {}, enabled=False) is None
    assert location(configured, {remote.URL_VARIABLE: "off"}) is None
    back = location(configured, {remote.URL_VARIABLE: "off"}, enabled=True)  # the command line wins
    assert back is not None and back.bucket == "team-cache"
    off = RemoteSettings(url="s3://team-cache", mode="off")
    assert location(off, {}) is None
    forced = location(off, {}, enabled=True)  # --remote-cache
    assert forced is not None and forced.writable
    with pytest.raises(ValueError, match="LAMBDAPACK_REMOTE_CACHE_MODE: 'write'"):
        location(configured, {remote.MODE_VARIABLE: "write"})
    with pytest.raises(ValueError, match="LAMBDAPACK_REMOTE_CACHE: 'https://x' is not an s3://"):
        location(None, {remote.URL_VARIABLE: "https://x"})
    with pytest.raises(ValueError, match="no remote cache is configured"):
        location(None, {}, enabled=True)


FUNCTION = (
    '[functions.f]\nsource = "fn"\nhandler = "app.handler"\nruntime = "python3.12"\narchitecture = "arm64"\n'
)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('remote = "https://bucket"', "lambdapack.toml: cache.remote: 'https://bucket' is not an s3://"),
        ('remote = "s3://b-1"\nmode = "write"', "lambdapack.toml: cache.mode: 'write' is not one of"),
        ('remote = "s3://b-1"\ntimeout = "5s"', "lambdapack.toml: cache.timeout: must be a number"),
        ('remote = "s3://b-1"\nendpoint = "x"', "lambdapack.toml: cache.endpoint: unknown key"),
    ],
)
def test_a_bad_cache_table_is_one_line_and_exit_2(tmp_path: Path, table: str, message: str) -> None:
    root = write_tree(
        tmp_path,
        {"lambdapack.toml": f"{FUNCTION}\n[cache]\n{table}\n", "fn/app.py": "def handler(e, c): ...\n"},
    )
    result = cli("build", cwd=root)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (root / "dist" / "f.zip").exists()


def test_a_bad_mode_in_the_environment_is_exit_2(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"lambdapack.toml": FUNCTION, "fn/app.py": "def handler(e, c): ...\n"})
    result = cli("build", cwd=root, env={remote.URL_VARIABLE: "s3://b-1", remote.MODE_VARIABLE: "rw"})
    assert result.returncode == 2
    assert "LAMBDAPACK_REMOTE_CACHE_MODE: 'rw' is not one of read-write, read, off" in result.stderr


def test_a_no_op_with_a_remote_configured_imports_no_boto3(tmp_path: Path) -> None:
    """A function without dependencies never asks the remote anything: no
    boto3 import, no connection (the endpoint is a closed port)."""
    import subprocess
    import sys

    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": f'{FUNCTION}\n[cache]\nremote = "s3://b-1/x"\nendpoint_url = "http://127.0.0.1:9"\n',
            "fn/app.py": "def handler(e, c): ...\n",
        },
    )
    probe = (
        "import sys; from lambdapack.cli import main\n"
        "try:\n    main(['build', '-q'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 's3transfer')))\n"
    )
    for _ in range(2):  # the first build and a no-op
        done = subprocess.run(
            [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"
        assert "remote cache" not in done.stderr
