"""The remote cache against a real S3 API on loopback (moto's server, through
boto3), without the network: the committed wheelhouse stands in for PyPI.

Each "machine" is a copy of the project in a directory of its own with a
local cache of its own; the bucket is what they share. Machine B's builds
run under an audit hook that records every process started, to prove that
it resolved and installed nothing. The offline tier (`make test-offline`)
runs the core (B, a poisoned object, read mode, HTTP 500s); the tests marked
slow (signatures, secrets, the other faults, switches, sdists) run in
`make test`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

from conftest import WHEELHOUSE, Tripwire, offline_environment, offline_requirements, run_cli
from machines import Machine, package_managers, remote_warnings
from s3_server import (  # noqa: F401  # (fixtures)
    ACCESS_KEY,
    SECRET_KEY,
    UNSET_AWS_VARIABLES,
    FaultProxy,
    S3Bucket,
    S3Server,
    aws_environment,
    closed_endpoint,
    fault_proxy_fixture,
    s3_bucket_fixture,
    s3_client,
    s3_env_fixture,
    s3_server_fixture,
)

SIGNING_KEY = "lambdapack-signing-key-never-print-9f8e7d"
APP = "import lpfix_speedup\n\n\ndef handler(event, context):\n    return lpfix_speedup.add(1, 2)\n"
CONFIG = (
    'exclude = ["requirements*"]\n'
    '[functions.api]\nsource = "fn"\nhandler = "app.handler"\nruntime = "python3.12"\n'
    'architecture = "arm64"\nrequirements = "requirements.txt"\n'
)
SDIST_APP = "import lpfix_sdist\n\n\ndef handler(event, context):\n    return lpfix_sdist.triple()\n"
FILES = {"requirements.txt": offline_requirements("lpfix-speedup"), "fn/app.py": APP}


def _machine(base: Path, name: str, env: Mapping[str, str], config: str = CONFIG) -> Machine:
    return Machine(base, name, env, files={**FILES, "lambdapack.toml": config})


def _remote_env(s3_env: Mapping[str, str], bucket: S3Bucket, **extra: str) -> dict[str, str]:
    return {**s3_env, "LAMBDAPACK_REMOTE_CACHE": bucket.url("team"), **extra}


@pytest.fixture(scope="module")
def _seeded(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, tripwire: Tripwire, _uv_cache: Path
) -> tuple[Machine, dict[str, bytes]]:
    """Machine A built the project once for the module, with the signing key,
    into a bucket of its own: its lock and dependency set, by object name.
    (Module-scoped fixtures run before the per-test offline guard: they get its
    environment explicitly.)"""
    base = tmp_path_factory.mktemp("remote-a")
    bucket = S3Bucket(
        name=f"lp-seed-{uuid.uuid4().hex[:8]}",
        endpoint=s3_server.endpoint,
        client=s3_client(s3_server.endpoint),
    )
    bucket.client.create_bucket(Bucket=bucket.name)
    env = {
        **offline_environment(tripwire, _uv_cache),
        **aws_environment(s3_server.endpoint, base),
        "LAMBDAPACK_REMOTE_CACHE": bucket.url("team"),
        "LAMBDAPACK_CACHE_SIGNING_KEY": SIGNING_KEY,
    }
    a = _machine(base, "a", env)
    done, commands = a.traced("-v")
    assert done.returncode == 0, done.stderr
    assert package_managers(commands), "machine A resolves and installs with uv"
    assert not remote_warnings(done.stderr), done.stderr
    assert "0 hit(s), 2 miss(es)" in done.stderr and "2 upload(s)" in done.stderr
    objects = {key: bucket.get(key) for key in bucket.keys("")}
    bucket.remove()
    assert sorted(k.split("/")[2] for k in objects) == ["deps", "locks"]
    return a, objects


@pytest.fixture
def warm(
    _seeded: tuple[Machine, dict[str, bytes]], s3_env: dict[str, str], s3_bucket: S3Bucket
) -> tuple[Machine, dict[str, str]]:
    """The test's bucket holds what machine A stored; the environment of a machine that uses it."""
    a, objects = _seeded
    for key, data in objects.items():
        s3_bucket.put(key, data)
    return a, _remote_env(s3_env, s3_bucket, LAMBDAPACK_CACHE_SIGNING_KEY=SIGNING_KEY)


def test_machine_b_resolves_and_installs_nothing_and_writes_the_same_zip(
    tmp_path: Path, warm: tuple[Machine, dict[str, str]], s3_bucket: S3Bucket
) -> None:
    a, env = warm
    before = s3_bucket.snapshot()
    b = _machine(tmp_path, "b", env)
    done, commands = b.traced("-v")
    assert done.returncode == 0, done.stderr
    assert not package_managers(commands), commands
    assert "2 hit(s), 0 miss(es)" in done.stderr and "0 upload(s)" in done.stderr
    assert b.zip("api") == a.zip("api")
    cacheless = _machine(tmp_path, "c", {})  # no remote at all, an empty cache
    assert cacheless.build().returncode == 0
    assert cacheless.zip("api") == a.zip("api")
    assert s3_bucket.snapshot() == before  # nothing uploaded again
    (figures,) = b.figures().values()
    assert figures["hits"] == 2 and figures["misses"] == 0
    assert figures["bytes_down"] == sum(size for _etag, size in before.values())
    again = b.build("-v")  # a no-op: nothing asked of the remote
    assert "remote cache" not in again.stderr


def test_a_changed_object_is_ignored_rebuilt_and_replaced(
    tmp_path: Path, warm: tuple[Machine, dict[str, str]], s3_bucket: S3Bucket
) -> None:
    a, env = warm
    (deps,) = [k for k in s3_bucket.keys("") if "/deps/" in k]
    data = bytearray(s3_bucket.get(deps))
    data[-100] ^= 0xFF  # a byte of the compressed payload
    s3_bucket.put(deps, bytes(data))
    b = _machine(tmp_path, "b", env)
    done, commands = b.traced()
    assert done.returncode == 0, done.stderr
    (warning,) = remote_warnings(done.stderr)
    assert "ignored deps/" in warning and "its content does not match its SHA-256" in warning
    assert package_managers(commands)  # installed locally
    assert b.zip("api") == a.zip("api")
    assert s3_bucket.get(deps) != bytes(data)  # replaced by B's good object
    c = _machine(tmp_path, "c", env)
    again = c.build()
    assert not remote_warnings(again.stderr) and c.zip("api") == a.zip("api")


@pytest.mark.slow
def test_a_changed_signature_and_an_unsigned_object_are_ignored_with_a_key(
    tmp_path: Path, warm: tuple[Machine, dict[str, str]], s3_bucket: S3Bucket, s3_env: dict[str, str]
) -> None:
    a, env = warm
    (deps,) = [k for k in s3_bucket.keys("") if "/deps/" in k]
    data = s3_bucket.get(deps)
    signature = json.loads(data[9 : 9 + int.from_bytes(data[5:9], "little")])["signature"]
    forged = signature[:-4] + ("0000" if not signature.endswith("0000") else "1111")
    s3_bucket.put(deps, data.replace(signature.encode(), forged.encode()))
    b = _machine(tmp_path, "b", env)
    done = b.build()
    assert done.returncode == 0, done.stderr
    (warning,) = remote_warnings(done.stderr)
    assert "its signature does not match the signing key" in warning, warning
    assert b.zip("api") == a.zip("api")

    # A machine without the key writes unsigned objects: a reader with the key uses none of them.
    unsigned_env = _remote_env(s3_env, s3_bucket, LAMBDAPACK_REMOTE_CACHE=s3_bucket.url("keyless"))
    writer = _machine(tmp_path, "writer", unsigned_env)
    assert writer.build().returncode == 0
    reader = _machine(tmp_path, "reader", {**unsigned_env, "LAMBDAPACK_CACHE_SIGNING_KEY": SIGNING_KEY})
    done, commands = reader.traced()
    assert done.returncode == 0, done.stderr
    warnings = remote_warnings(done.stderr)
    assert len(warnings) == 2 and all("it is not signed" in w for w in warnings), warnings
    assert package_managers(commands)
    assert reader.zip("api") == a.zip("api")
    keyless_reader = _machine(tmp_path, "keyless-reader", unsigned_env)  # no key: the SHA-256 suffices
    done, commands = keyless_reader.traced()
    assert not remote_warnings(done.stderr) and not package_managers(commands)


def test_read_mode_writes_nothing(tmp_path: Path, s3_env: dict[str, str], s3_bucket: S3Bucket) -> None:
    env = _remote_env(s3_env, s3_bucket, LAMBDAPACK_REMOTE_CACHE_MODE="read")
    reader = _machine(tmp_path, "pr", env)
    done = reader.build("-v")
    assert done.returncode == 0, done.stderr
    assert "(read): 0 hit(s), 2 miss(es)" in done.stderr and "0 upload(s)" in done.stderr
    assert s3_bucket.keys("") == []
    writer = _machine(tmp_path, "main", _remote_env(s3_env, s3_bucket))
    assert writer.build().returncode == 0
    before = s3_bucket.snapshot()
    config = CONFIG.replace('architecture = "arm64"', 'architecture = "x86_64"')  # a set the bucket lacks
    other = _machine(tmp_path, "pr2", env, config)
    assert other.build().returncode == 0
    assert s3_bucket.snapshot() == before


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("down", marks=pytest.mark.slow),
        "error500",
        pytest.param("hang", marks=pytest.mark.slow),
        pytest.param("truncate", marks=pytest.mark.slow),
        pytest.param("closed", marks=pytest.mark.slow),
    ],
)
def test_a_failing_remote_never_fails_a_build(
    tmp_path: Path,
    warm: tuple[Machine, dict[str, str]],
    fault_proxy: FaultProxy,
    fault: str,
) -> None:
    a, env = warm
    endpoint = closed_endpoint() if fault == "closed" else fault_proxy.endpoint
    if fault != "closed":
        fault_proxy.mode = fault  # type: ignore[assignment]
    b = _machine(tmp_path, "b", {**env, "AWS_ENDPOINT_URL": endpoint})
    (b.root / "lambdapack.toml").write_text(CONFIG + "[cache]\ntimeout = 1\n", encoding="utf-8")
    started = time.monotonic()
    done = b.build("-v")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    warnings = remote_warnings(done.stderr)
    assert len(warnings) == 1, done.stderr
    assert "building locally" in warnings[0] or "building it locally" in warnings[0]
    assert b.zip("api") == a.zip("api")
    assert elapsed < 30, elapsed
    for secret in (SECRET_KEY, ACCESS_KEY, SIGNING_KEY):
        assert secret not in done.stderr + done.stdout


@pytest.mark.slow
def test_faults_cost_a_bounded_time(
    tmp_path: Path, warm: tuple[Machine, dict[str, str]], fault_proxy: FaultProxy
) -> None:
    """A store that hangs costs at most its timeout per request, for the two
    requests before the breaker opens: compared with no remote at all."""
    _a, env = warm
    fault_proxy.mode = "hang"
    hanging = _machine(tmp_path, "hang", {**env, "AWS_ENDPOINT_URL": fault_proxy.endpoint})
    (hanging.root / "lambdapack.toml").write_text(CONFIG + "[cache]\ntimeout = 1\n", encoding="utf-8")
    local = _machine(tmp_path, "local", {})
    started = time.monotonic()
    assert local.build().returncode == 0
    baseline = time.monotonic() - started
    started = time.monotonic()
    done = hanging.build()
    extra = time.monotonic() - started - baseline
    assert done.returncode == 0
    # 2 requests x 2 attempts x 1 s, botocore's back-off between attempts (< 1 s each), slack
    assert extra < 8, (extra, baseline)
    # two failed requests (two attempts each) open the breaker; one more may be under way meanwhile
    assert fault_proxy.requests <= 6


@pytest.mark.slow
def test_secrets_appear_nowhere(
    tmp_path: Path, warm: tuple[Machine, dict[str, str]], s3_bucket: S3Bucket
) -> None:
    a, env = warm
    b = _machine(tmp_path, "b", env)
    outputs = [b.build("-v", "--explain"), b.build("-v", "--refresh")]
    outputs.append(run_cli("cache", "info", cwd=b.root, env=b.env))
    secrets = (SECRET_KEY, ACCESS_KEY, SIGNING_KEY)
    for done in outputs:
        for secret in secrets:
            assert secret not in done.stdout + done.stderr
    for machine in (a, b):
        for path in [*machine.cache.rglob("*"), *(machine.root / "dist").rglob("*")]:
            if path.is_file():
                data = path.read_bytes()
                assert not any(s.encode() in data for s in secrets), path
    for key in s3_bucket.keys(""):
        assert not any(s.encode() in s3_bucket.get(key) for s in secrets), key


@pytest.mark.slow
def test_command_line_switches(
    tmp_path: Path, warm: tuple[Machine, dict[str, str]], fault_proxy: FaultProxy
) -> None:
    _a, env = warm
    b = _machine(tmp_path, "b", {**env, "AWS_ENDPOINT_URL": fault_proxy.endpoint})
    done = b.build("-v", "--no-remote-cache")
    assert done.returncode == 0 and "remote cache" not in done.stderr
    assert fault_proxy.requests == 0
    shutil.rmtree(b.cache)
    shutil.rmtree(b.root / "dist")
    done = b.build("-v", "--remote-cache", env={"LAMBDAPACK_REMOTE_CACHE_MODE": "off"})
    assert done.returncode == 0 and "2 hit(s)" in done.stderr
    assert fault_proxy.requests > 0


@pytest.mark.slow
def test_without_boto3_a_warning_and_a_local_build(
    tmp_path: Path, s3_env: dict[str, str], s3_bucket: S3Bucket
) -> None:
    import os

    machine = _machine(tmp_path, "bare", _remote_env(s3_env, s3_bucket))
    probe = (
        "import sys; sys.modules['boto3'] = None\n"
        "from lambdapack.__main__ import main\nsys.argv = ['lambdapack', 'build']\nmain()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=machine.root,
        env={**os.environ, **machine.env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (warning,) = remote_warnings(done.stderr)
    assert "boto3 is not installed; pip install 'lambdapack[s3]'" in warning
    assert s3_bucket.keys("") == []


@pytest.mark.slow
def test_entries_made_before_the_remote_was_set_up_are_shared_once(
    tmp_path: Path, s3_env: dict[str, str], s3_bucket: S3Bucket, fault_proxy: FaultProxy
) -> None:
    """A laptop that built without a remote shares its cached entries at its
    next build with one (once: a marker remembers what the bucket holds)."""
    laptop = _machine(tmp_path, "laptop", {})
    assert laptop.build().returncode == 0
    laptop.env = {**laptop.env, **_remote_env(s3_env, s3_bucket), "AWS_ENDPOINT_URL": fault_proxy.endpoint}
    (laptop.root / "fn" / "app.py").write_text(APP + "# edited\n", encoding="utf-8")
    done = laptop.build("-v")
    assert done.returncode == 0 and "0 hit(s), 0 miss(es)" in done.stderr and "2 upload(s)" in done.stderr
    assert sorted(k.split("/")[2] for k in s3_bucket.keys("")) == ["deps", "locks"]
    fault_proxy.clear()
    (laptop.root / "fn" / "app.py").write_text(APP + "# edited again\n", encoding="utf-8")
    assert laptop.build().returncode == 0
    assert fault_proxy.requests == 0  # known to be there: not even asked
    ci = _machine(tmp_path, "ci", _remote_env(s3_env, s3_bucket))
    done, commands = ci.traced("-v")
    assert "2 hit(s)" in done.stderr and not package_managers(commands)
    assert ci.zip("api") != laptop.zip("api")  # (the laptop's own code was edited)


@pytest.mark.slow
def test_a_wheel_built_from_an_sdist_is_shared(
    tmp_path: Path, s3_env: dict[str, str], s3_bucket: S3Bucket
) -> None:
    """lpfix-sdist has only an sdist (pure Python): machine A builds its wheel
    once; B, whose dependency set is not in the bucket, installs the shared
    wheel instead of building it (no `uv build`)."""
    index = (WHEELHOUSE / "simple").as_uri()
    config = (
        f'index_url = "{index}"\nexclude = ["requirements*"]\n[functions.fn]\nsource = "fn"\n'
        'handler = "app.handler"\nruntime = "python3.11"\narchitecture = "x86_64"\n'
        'requirements = "requirements.txt"\n'
    )
    files = {
        "lambdapack.toml": config,
        "requirements.txt": "lpfix-sdist\n",
        "fn/app.py": SDIST_APP,
    }
    env = _remote_env(s3_env, s3_bucket, LAMBDAPACK_CACHE_SIGNING_KEY=SIGNING_KEY)
    a = Machine(tmp_path, "a", env, files=files)
    done, commands = a.traced()
    assert done.returncode == 0, done.stderr
    assert any(" build " in c for c in package_managers(commands)), commands
    kinds = sorted(k.split("/")[2] for k in s3_bucket.keys(""))
    assert kinds == ["built", "deps", "locks"]
    (deps,) = [k for k in s3_bucket.keys("") if "/deps/" in k]
    s3_bucket.delete(deps)
    b = Machine(tmp_path, "b", env, files=files)
    done, commands = b.traced("-v")
    assert done.returncode == 0, done.stderr
    assert "(pure Python), from the cache" in done.stderr
    assert not any(" build " in c for c in package_managers(commands)), commands
    assert "2 hit(s), 1 miss(es)" in done.stderr
    assert b.zip("fn") == a.zip("fn")
