"""The loopback S3 test infrastructure (tests/s3_server.py) against a real boto3:
the moto server takes buckets, multipart uploads and ranged downloads; the
fault proxy relays them unchanged in ``pass`` mode and fails each of its other
modes the way botocore reports real outages. Loopback only: offline tier."""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from s3_server import (  # noqa: F401 - the fixtures
    ACCESS_KEY,
    SECRET_KEY,
    UNSET_AWS_VARIABLES,
    FaultProxy,
    MotoServer,
    S3Bucket,
    S3Server,
    closed_endpoint,
    fault_proxy_fixture,
    s3_bucket_fixture,
    s3_client,
    s3_env_fixture,
    s3_server_fixture,
)

MIB = 1024 * 1024
#: Multipart above 8 MiB, 8 MiB parts, 4 at a time: what the remote cache uses.
TRANSFER = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)


#: The harness's own checks: `make test` runs them; the offline tier runs the remote cache tests that use it.
pytestmark = pytest.mark.slow


def fast_failing() -> Config:
    """One attempt, one second to connect and to read (a fresh dict each time:
    botocore rewrites the ``retries`` dict it is given)."""
    return Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 1})


def payload(size: int, seed: int = 16) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bucket_create_list_and_helpers(s3_bucket: S3Bucket) -> None:
    assert s3_bucket.name in [b["Name"] for b in s3_bucket.client.list_buckets()["Buckets"]]
    assert s3_bucket.keys() == []
    for key in ("p/b", "p/a", "q"):
        s3_bucket.put(key, key.encode() * 1000)
    assert s3_bucket.keys() == ["p/a", "p/b", "q"]
    assert s3_bucket.keys("p/") == ["p/a", "p/b"]
    assert s3_bucket.get("p/a") == b"p/a" * 1000
    before = s3_bucket.snapshot()
    assert before["q"] == (f'"{hashlib.md5(b"q" * 1000).hexdigest()}"', 1000)
    assert s3_bucket.snapshot() == before
    s3_bucket.put("q", b"changed")
    assert s3_bucket.snapshot() != before
    assert s3_bucket.url("lambdapack") == f"s3://{s3_bucket.name}/lambdapack"


def test_multipart_upload_and_ranged_download(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(payload(12 * MIB))
    s3_bucket.client.upload_file(str(source), s3_bucket.name, "big.bin", Config=TRANSFER)
    assert s3_bucket.snapshot()["big.bin"][0].endswith('-2"')  # two parts: a multipart ETag
    back = tmp_path / "back.bin"
    s3_bucket.client.download_file(s3_bucket.name, "big.bin", str(back), Config=TRANSFER)
    assert sha256_file(back) == sha256_file(source)


def test_proxy_relays_multipart_uploads_and_ranged_gets(
    s3_bucket: S3Bucket, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    client = s3_client(fault_proxy.endpoint)
    source = tmp_path / "big.bin"
    source.write_bytes(payload(12 * MIB, seed=17))
    client.upload_file(str(source), s3_bucket.name, "via/proxy.bin", Config=TRANSFER)
    path = f"/{s3_bucket.name}/via/proxy.bin"
    log = fault_proxy.log
    assert [method for method, _ in log] == ["POST", "PUT", "PUT", "POST"], log
    assert all(target.startswith(f"{path}?") for _, target in log)
    assert log[0][1].endswith("?uploads") and all("partNumber=" in target for _, target in log[1:3])

    fault_proxy.clear()
    back = tmp_path / "back.bin"
    client.download_file(s3_bucket.name, "via/proxy.bin", str(back), Config=TRANSFER)
    assert sha256_file(back) == sha256_file(source)
    assert [m for m, _ in fault_proxy.log] == ["HEAD", "GET", "GET"]  # two ranged GETs of 8 MiB
    head = client.head_object(Bucket=s3_bucket.name, Key="via/proxy.bin")
    direct = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="via/proxy.bin")
    assert head["ContentLength"] == 12 * MIB
    assert (head["ContentLength"], head["ETag"]) == (direct["ContentLength"], direct["ETag"])
    ranged = client.get_object(Bucket=s3_bucket.name, Key="via/proxy.bin", Range="bytes=5-9")
    assert ranged["Body"].read() == source.read_bytes()[5:10]


def test_proxy_dechunks_chunked_request_bodies(s3_bucket: S3Bucket, fault_proxy: FaultProxy) -> None:
    """boto3 sends Content-Length bodies over http:// (chunked aws-chunked
    uploads with trailing checksums only over https://); other clients may not."""
    data = payload(100_000)
    port = int(fault_proxy.endpoint.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    pieces = (data[i : i + 30_000] for i in range(0, len(data), 30_000))
    connection.request("PUT", f"/{s3_bucket.name}/chunked", body=pieces, encode_chunked=True)
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"")
    connection.close()
    assert s3_bucket.get("chunked") == data


def test_error500(s3_bucket: S3Bucket, fault_proxy: FaultProxy) -> None:
    s3_bucket.put("k", b"x")
    fault_proxy.mode = "error500"
    client = s3_client(fault_proxy.endpoint, fast_failing())
    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=s3_bucket.name, Key="k")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert caught.value.response["Error"]["Code"] == "InternalError"
    with pytest.raises(ClientError) as caught:
        client.head_object(Bucket=s3_bucket.name, Key="k")  # HEAD: the status, no body
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert fault_proxy.requests == 2


def test_retries_max_attempts_1_means_one_retry(s3_bucket: S3Bucket, fault_proxy: FaultProxy) -> None:
    """botocore's ``retries={"max_attempts": 1}`` counts retries, not attempts:
    every call reaches the server twice (``total_max_attempts`` counts both)."""
    fault_proxy.mode = "error500"
    retries = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1})
    with pytest.raises(ClientError):
        s3_client(fault_proxy.endpoint, retries).head_object(Bucket=s3_bucket.name, Key="k")
    assert fault_proxy.requests == 2


def test_hang_times_out_and_stop_returns(s3_bucket: S3Bucket, s3_server: S3Server) -> None:
    proxy = FaultProxy(s3_server.endpoint)
    proxy.mode = "hang"
    client = s3_client(proxy.endpoint, fast_failing())
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client.head_object(Bucket=s3_bucket.name, Key="k")
    assert time.monotonic() - started < 3
    patient = s3_client(proxy.endpoint, Config(read_timeout=60, retries={"total_max_attempts": 1}))
    failures: list[Exception] = []

    def wait_for_an_answer() -> None:
        try:
            patient.list_buckets()
        except ConnectionClosedError as error:
            failures.append(error)

    hanging = threading.Thread(target=wait_for_an_answer, daemon=True)
    hanging.start()
    while proxy.requests < 2:
        time.sleep(0.01)
    started = time.monotonic()
    proxy.stop()  # wakes the hanging request and drops its connection
    hanging.join(timeout=5)
    assert time.monotonic() - started < 2
    assert len(failures) == 1


def test_truncate_cuts_bodies_over_1_kib(s3_bucket: S3Bucket, fault_proxy: FaultProxy) -> None:
    data = payload(4096)
    s3_bucket.put("big", data)
    s3_bucket.put("small", data[:1000])
    fault_proxy.mode = "truncate"
    client = s3_client(fault_proxy.endpoint, fast_failing())
    assert client.get_object(Bucket=s3_bucket.name, Key="small")["Body"].read() == data[:1000]
    response = client.get_object(Bucket=s3_bucket.name, Key="big")  # the headers arrive whole
    assert response["ContentLength"] == 4096
    with pytest.raises(ResponseStreamingError, match=r"IncompleteRead\(2048 bytes read, 2048 more"):
        response["Body"].read()
    assert client.head_object(Bucket=s3_bucket.name, Key="big")["ContentLength"] == 4096


def test_down_and_closed_endpoint_fail_fast(s3_bucket: S3Bucket, fault_proxy: FaultProxy) -> None:
    client = s3_client(fault_proxy.endpoint, fast_failing())
    client.head_bucket(Bucket=s3_bucket.name)  # a pooled keep-alive connection, then the server goes
    fault_proxy.mode = "down"
    started = time.monotonic()
    with pytest.raises(ConnectionClosedError):
        client.head_bucket(Bucket=s3_bucket.name)
    with pytest.raises(ConnectionClosedError):
        client.get_object(Bucket=s3_bucket.name, Key="k")
    with pytest.raises(ConnectionClosedError):  # Expect: 100-continue, then nothing
        client.put_object(Bucket=s3_bucket.name, Key="k", Body=b"x" * 5000)
    assert fault_proxy.requests == 4
    assert s3_bucket.keys() == []
    with pytest.raises(EndpointConnectionError):
        s3_client(closed_endpoint(), fast_failing()).head_bucket(Bucket=s3_bucket.name)
    assert time.monotonic() - started < 2
    fault_proxy.mode = "pass"
    client.put_object(Bucket=s3_bucket.name, Key="k", Body=b"back")
    assert s3_bucket.get("k") == b"back"


def test_proxy_rejects_unknown_mode(fault_proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown FaultProxy mode 'hung'"):
        fault_proxy.mode = "hung"  # type: ignore[assignment]


def test_s3_env_sends_a_process_to_the_server(s3_bucket: S3Bucket, s3_env: dict[str, str]) -> None:
    env = {k: v for k, v in {**os.environ, **s3_env}.items() if k not in UNSET_AWS_VARIABLES}
    script = "import boto3; print(sorted(b['Name'] for b in boto3.client('s3').list_buckets()['Buckets']))"
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert s3_bucket.name in done.stdout
    assert s3_env["AWS_ACCESS_KEY_ID"] == ACCESS_KEY and s3_env["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY
    assert not Path(s3_env["AWS_CONFIG_FILE"]).exists()


def test_moto_server_reset_and_stop(tmp_path: Path) -> None:
    with MotoServer(tmp_path) as server:
        client = s3_client(server.endpoint, fast_failing())
        client.create_bucket(Bucket="lp-reset-me")
        server.reset()
        assert client.list_buckets()["Buckets"] == []
    assert "moto-api/reset" in (tmp_path / "server.log").read_text()
    with pytest.raises(EndpointConnectionError):
        client.list_buckets()
