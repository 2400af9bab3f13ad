"""A real S3 server on the loopback interface for the remote cache tests: moto's
standalone server (:class:`MotoServer`, a subprocess on ``127.0.0.1:<free port>``)
and a fault-injecting HTTP proxy (:class:`FaultProxy`) to put in front of it,
so that boto3, unmodified, talks to a server that answers 500, hangs, cuts a
body short or drops the connection.

Fixtures (a test module imports these functions to use them):

- ``s3_server`` (session): the moto server; with ``LAMBDAPACK_TEST_S3_ENDPOINT``
  set, that endpoint instead (a MinIO, say, that accepts :data:`ACCESS_KEY` and
  :data:`SECRET_KEY`), never stopped by the tests;
- ``s3_bucket``: a fresh, uniquely named, empty bucket (:class:`S3Bucket`),
  emptied and deleted afterwards;
- ``s3_env``: the variables that send a lambdapack process (boto3) to the server
  with the test credentials and nothing of the machine's AWS configuration
  (also remove :data:`UNSET_AWS_VARIABLES`: ``run_cli(..., unset=UNSET_AWS_VARIABLES)``);
- ``fault_proxy``: a :class:`FaultProxy` in front of the session server.

Everything listens on 127.0.0.1 only: these tests belong to the offline tier.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import pytest

#: The test access key id: distinctive, so that a test can assert it is never printed.
ACCESS_KEY = "AKIALAMBDAPACKTEST01"
#: The test secret access key (likewise).
SECRET_KEY = "lambdapack-secret-do-not-print-0123456789"
REGION = "us-east-1"
#: Set to an S3 endpoint URL to run the tests against it instead of a moto server.
ENDPOINT_VARIABLE = "LAMBDAPACK_TEST_S3_ENDPOINT"
#: AWS variables a process under test must not inherit: they would pick another
#: profile, endpoint, credentials, retry policy or CA bundle than :func:`aws_environment`'s.
UNSET_AWS_VARIABLES = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_S3", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE", "AWS_CA_BUNDLE", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT", "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
)  # fmt: skip

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
#: Headers that describe one connection, not the message: never forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (racy by nature:
    :class:`MotoServer` retries when another process takes it first)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_RESERVED: list[socket.socket] = []


def closed_endpoint() -> str:
    """``http://127.0.0.1:PORT`` where nothing listens, and nothing will: the port
    stays bound (never listening) by this process, so connections are refused."""
    reserved = socket.socket()
    reserved.bind(("127.0.0.1", 0))
    _RESERVED.append(reserved)
    return f"http://127.0.0.1:{reserved.getsockname()[1]}"


def aws_environment(endpoint: str, home: Path) -> dict[str, str]:
    """Variables that send boto3 to ``endpoint`` with the test credentials; the
    config and credentials files are missing files below ``home``, so nothing of
    the machine's AWS setup applies (remove :data:`UNSET_AWS_VARIABLES` too)."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(home / "no-such-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-such-aws-credentials"),
    }


@functools.cache
def _session() -> Any:
    """One boto3 session for the process: a client from a warm session takes
    10 ms, from a new one 100 ms (the service model is loaded once)."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )


def s3_client(endpoint: str, config: Any = None) -> Any:
    """A boto3 S3 client for ``endpoint`` with the test credentials, path-style
    addressing and ``config`` (a ``botocore.config.Config``) merged in. Call it
    from the test's thread (boto3 sessions are not thread-safe); the client
    itself may be shared by threads."""
    from botocore.config import Config

    merged = Config(s3={"addressing_style": "path"})
    if config is not None:
        merged = merged.merge(config)
    return _session().client("s3", endpoint_url=endpoint, config=merged)


def _request(endpoint: str, method: str, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """One plain HTTP request (http.client: no proxy from the environment applies)."""
    parts = urllib.parse.urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# -- the moto server -----------------------------------------------------------------------------


class S3Server(Protocol):
    """What the tests need of a server: where it is, and how to let it go."""

    @property
    def endpoint(self) -> str: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ExternalServer:
    """A server the tests did not start (``LAMBDAPACK_TEST_S3_ENDPOINT``): never stopped."""

    endpoint: str

    def stop(self) -> None:
        pass


class MotoServer:
    """``python -m moto.server`` on ``127.0.0.1:<free port>``, logging to
    ``server.log`` in ``workdir`` (a temporary directory, removed on :meth:`stop`,
    unless given); started by the constructor, ready when it returns."""

    def __init__(self, workdir: Path | None = None, *, startup_timeout: float = 20.0) -> None:
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="lambdapack-moto-")) if workdir is None else workdir
        self.log_path = self.workdir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0
        for _attempt in range(3):  # another process may take the free port before moto binds it
            self.port = free_port()
            if self._start(startup_timeout):
                return
        message = f"moto server did not start (3 attempts); {self.log_path}:\n{self.log_tail()}"
        self.stop()
        raise RuntimeError(message)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        """The test session's environment without any AWS or proxy setting, with
        dummy credentials: the server has no way to reach real AWS."""
        drop = {name.upper() for name in _PROXY_VARIABLES}
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.upper().startswith(("AWS_", "MOTO_")) and name.upper() not in drop
        }
        aws = {name: value for name, value in aws_environment("", self.workdir).items() if value}
        return env | aws | {"NO_PROXY": "*"}

    def _start(self, timeout: float) -> bool:
        """Start the process; True once it answers, False if it exited first. Its
        log must say it runs on the port: another test worker's moto server that
        took the port first answers too."""
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            if f"Running on {self.endpoint}" in self.log_tail():
                with contextlib.suppress(OSError):
                    if _request(self.endpoint, "GET", "/moto-api/", timeout=1)[0] == 200:
                        return self._process.poll() is None
            time.sleep(0.05)
        message = f"moto server on {self.endpoint} did not answer within {timeout:g} s; "
        message += f"{self.log_path}:\n{self.log_tail()}"
        self.stop()
        raise RuntimeError(message)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def reset(self) -> None:
        """Forget every bucket and object (moto's ``/moto-api/reset``)."""
        status, body = _request(self.endpoint, "POST", "/moto-api/reset")
        if status != 200:
            raise RuntimeError(f"moto reset answered {status}: {body[:200]!r}")

    def stop(self) -> None:
        """Terminate the server (killed if it lingers); idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_dir:
            for leftover in self.workdir.glob("*"):
                leftover.unlink()
            self.workdir.rmdir()
            self._own_dir = False

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the fault proxy -----------------------------------------------------------------------------

#: What :class:`FaultProxy` does with each request:
#: ``pass`` forwards it; ``error500`` answers 500 with S3's ``InternalError``
#: body; ``hang`` reads it and never answers (until the proxy stops);
#: ``truncate`` forwards it but sends only the first half of a body over 1024
#: bytes (with the full Content-Length) and closes; ``down`` closes the
#: connection unanswered.
Mode = Literal["pass", "error500", "hang", "truncate", "down"]
MODES: tuple[str, ...] = get_args(Mode)
ERROR_BODY = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
#: Bodies longer than this are cut in half in ``truncate`` mode.
TRUNCATE_ABOVE = 1024


class FaultProxy(http.server.ThreadingHTTPServer):
    """An HTTP/1.1 reverse proxy on ``127.0.0.1:<free port>`` in front of
    ``upstream`` (a server's endpoint URL) that misbehaves as :attr:`mode` says
    (settable at any time; it applies to requests that arrive afterwards).
    Counts the requests it sees (:attr:`requests`) and logs them
    (:attr:`log`: ``(method, path with query)``), whatever the mode."""

    daemon_threads = True

    def __init__(self, upstream: str, *, upstream_timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"FaultProxy forwards to an http:// endpoint, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.upstream_timeout = upstream_timeout
        self._mode: Mode = "pass"
        self._lock = threading.Lock()
        self._requests = 0
        self._log: list[tuple[str, str]] = []
        self._connections: set[socket.socket] = set()
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, value: Mode) -> None:
        if value not in MODES:
            raise ValueError(f"unknown FaultProxy mode {value!r}; modes: {', '.join(MODES)}")
        self._mode = value

    @property
    def requests(self) -> int:
        """How many requests arrived (in every mode)."""
        with self._lock:
            return self._requests

    @property
    def log(self) -> list[tuple[str, str]]:
        """A copy of ``(method, path with query)`` of every request so far."""
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self._requests = 0
            self._log.clear()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self._requests += 1
            self._log.append((method, path))

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def stop(self) -> None:
        """Stop serving, wake hanging requests and drop every client connection; idempotent."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the other side
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()
        self._thread.join(timeout=5)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that went away (timed out, or cut off by this proxy): expected here
        super().handle_error(request, client_address)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def handle_expect_100(self) -> bool:
        if self.server.mode == "down":
            return True  # no "100 Continue": the request is dropped unanswered
        return super().handle_expect_100()

    def _proxy(self) -> None:
        mode = self.server.mode
        self.server.record(self.command, self.path)
        if mode == "down":
            self.close_connection = True
            return
        body = self._read_body()
        if mode == "hang":
            self.server.stopping.wait()
            self.close_connection = True
        elif mode == "error500":
            headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(ERROR_BODY)))]
            self._respond(500, "Internal Server Error", headers, ERROR_BODY)
        else:
            status, reason, headers, payload = self._forward(body)
            if mode == "truncate" and len(payload) > TRUNCATE_ABOVE:
                self._respond(status, reason, headers, payload[: len(payload) // 2])
                self.close_connection = True
            else:
                self._respond(status, reason, headers, payload)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _proxy

    def _read_body(self) -> bytes:
        """The request body: Content-Length bytes, or a chunked body de-chunked (trailers dropped)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)  # the CRLF after the chunk
        length = int(self.headers.get("Content-Length", "0") or "0")
        return self.rfile.read(length) if length else b""

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        """Send the request upstream (same method, target and headers, the body
        with a Content-Length); its status, headers and whole body."""
        host, port = self.server.upstream
        connection = http.client.HTTPConnection(host, port, timeout=self.server.upstream_timeout)
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP | {"content-length", "expect"}:
                    connection.putheader(name, value)
            if body or "Content-Length" in self.headers or "Transfer-Encoding" in self.headers:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            payload = response.read()  # nothing for HEAD, 204 and 304: http.client knows
            headers = [(n, v) for n, v in response.getheaders() if n.lower() not in _HOP_BY_HOP]
            has_length = any(n.lower() == "content-length" for n, _ in headers)
            if not has_length and self.command != "HEAD" and response.status not in (204, 304):
                headers.append(("Content-Length", str(len(payload))))  # it came chunked or close-delimited
            return response.status, response.reason, headers, payload
        except OSError as error:
            message = f"<Error><Code>BadGateway</Code><Message>{error}</Message></Error>".encode()
            return 502, "Bad Gateway", [("Content-Length", str(len(message)))], message
        finally:
            connection.close()

    def _respond(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        """The status line and ``headers`` as given (no Server or Date added), then ``body`` unless HEAD."""
        self.send_response_only(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        pass


# -- buckets -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class S3Bucket:
    """A bucket on the test server and a boto3 ``client`` talking straight to it."""

    name: str
    endpoint: str
    client: Any

    def url(self, prefix: str = "") -> str:
        """``s3://name[/prefix]``: what lambdapack's ``cache.remote`` takes."""
        return f"s3://{self.name}/{prefix}" if prefix else f"s3://{self.name}"

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key (below ``prefix``), sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)

    def snapshot(self) -> dict[str, tuple[str, int]]:
        """key → (ETag, size) of every object: equal snapshots mean an unchanged bucket."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        items = (item for page in pages for item in page.get("Contents", ()))
        return {item["Key"]: (item["ETag"], item["Size"]) for item in items}

    def remove(self) -> None:
        """Delete every object, abort every multipart upload, then the bucket."""
        for upload in self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", ()):
            key, upload_id = upload["Key"], upload["UploadId"]
            self.client.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)
        keys = self.keys()
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.name, Delete={"Objects": batch, "Quiet": True})
        self.client.delete_bucket(Bucket=self.name)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session", name="s3_server")
def s3_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """``s3_server``: moto on the loopback interface for the test session (one per
    xdist worker), or the server ``LAMBDAPACK_TEST_S3_ENDPOINT`` names."""
    external = os.environ.get(ENDPOINT_VARIABLE)
    server: S3Server = (
        ExternalServer(endpoint=external.rstrip("/"))
        if external
        else MotoServer(tmp_path_factory.mktemp("moto"))
    )
    yield server
    server.stop()


@pytest.fixture(name="s3_bucket")
def s3_bucket_fixture(s3_server: S3Server) -> Iterator[S3Bucket]:
    """``s3_bucket``: a new empty bucket ``lp-test-<8 hex>`` on ``s3_server``, removed afterwards."""
    endpoint = s3_server.endpoint
    bucket = S3Bucket(name=f"lp-test-{uuid.uuid4().hex[:8]}", endpoint=endpoint, client=s3_client(endpoint))
    bucket.client.create_bucket(Bucket=bucket.name)
    yield bucket
    bucket.remove()


@pytest.fixture(name="s3_env")
def s3_env_fixture(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``s3_env``: :func:`aws_environment` for ``s3_server``."""
    return aws_environment(s3_server.endpoint, tmp_path_factory.mktemp("aws-home"))


@pytest.fixture(name="fault_proxy")
def fault_proxy_fixture(s3_server: S3Server) -> Iterator[FaultProxy]:
    """``fault_proxy``: a :class:`FaultProxy` (mode ``pass``) in front of ``s3_server``."""
    with FaultProxy(s3_server.endpoint) as proxy:
        yield proxy
