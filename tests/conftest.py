"""Shared helpers: mini projects on disk, running the real CLI, reading and
making binary headers, the committed wheelhouse, and the guard that keeps
tests not marked ``network`` off the network."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import socketserver
import struct
import subprocess
import sys
import textwrap
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pytest

PROJECTS = Path(__file__).parent / "projects"
#: Hand-made wheels (tests/wheelhouse/make_wheels.py): what the offline tests install.
WHEELHOUSE = Path(__file__).parent / "wheelhouse"


def pytest_configure(config: pytest.Config) -> None:
    """In a network namespace of its own (``unshare -n``, "no network at all"), the
    loopback interface starts down; the offline tier's tripwire proxy and loopback
    npm registry need it, and it reaches nothing outside the machine: bring it up."""
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 0))
        probe.listen(1)
        socket.create_connection(probe.getsockname(), timeout=1).close()
    except OSError:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=False, capture_output=True)
    finally:
        probe.close()


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test run gets its own lambdapack cache (shared by its tests)."""
    old = os.environ.get("LAMBDAPACK_CACHE_DIR")
    os.environ["LAMBDAPACK_CACHE_DIR"] = str(tmp_path_factory.mktemp("lambdapack-cache"))
    yield
    if old is None:
        os.environ.pop("LAMBDAPACK_CACHE_DIR", None)
    else:
        os.environ["LAMBDAPACK_CACHE_DIR"] = old


def naive_zip(tree: Path, dest: Path) -> bytes:
    """What most tools do: walk the tree and let zipfile take mtimes and modes
    (the baseline the determinism tests show to differ)."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(tree.rglob("*")):
            zf.write(path, path.relative_to(tree).as_posix())
    return dest.read_bytes()


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Create ``files`` (relative path → content) below ``root``."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    def make(config: str, files: Mapping[str, str | bytes], name: str = "project") -> Path:
        root = tmp_path / name
        write_tree(root, {"lambdapack.toml": config, **files})
        return root

    return make


def copy_project(name: str, dest: Path) -> Path:
    shutil.copytree(PROJECTS / name, dest)
    return dest


def run_cli(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    umask: int | None = None,
    stdin: str | None = None,
    unset: Iterable[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m lambdapack`` as a real process (``unset``: variables to remove)."""
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in set(unset)}
    return subprocess.run(
        [sys.executable, "-m", "lambdapack", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


def cli(
    *args: str, cwd: Path, env: Mapping[str, str | None] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``lambdapack`` command in this process (click's runner): much cheaper
    than :func:`run_cli`; same exit codes, stdout and stderr. ``env`` values of None
    unset the variable for the run."""
    from click.testing import CliRunner

    from lambdapack.cli import main

    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)
    finally:
        os.chdir(old)
    return subprocess.CompletedProcess(["lambdapack", *args], result.exit_code, result.stdout, result.stderr)


def elf_header(data: bytes) -> tuple[int, int, int]:
    """(EI_CLASS, EI_DATA, e_machine) of an ELF image; independent of lambdapack."""
    assert data[:4] == b"\x7fELF", "not an ELF file"
    ei_class, ei_data = data[4], data[5]
    fmt = "<H" if ei_data == 1 else ">H"
    (machine,) = struct.unpack_from(fmt, data, 18)
    return ei_class, ei_data, machine


def shared_objects(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {n: zf.read(n) for n in zf.namelist() if n.endswith(".so") or ".so." in n}


# -- hand-made binaries ---------------------------------------------------------------------------

EM_386, EM_PPC64, EM_X86_64, EM_AARCH64 = 3, 21, 62, 183


def elf_image(*, bits: int = 64, little: bool = True, machine: int = EM_X86_64) -> bytes:
    """A header-only ELF shared object (``ET_DYN``, no sections), of any class, byte order and machine."""
    end = "<" if little else ">"
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 1 if little else 2, 1]) + bytes(9)
    if bits == 64:  # e_type .. e_shstrndx of Elf64_Ehdr
        rest = struct.pack(end + "HHIQQQIHHHHHH", 3, machine, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)
    else:
        rest = struct.pack(end + "HHIIIIIHHHHHH", 3, machine, 1, 0, 0, 0, 0, 52, 32, 0, 40, 0, 0)
    return ident + rest


def macho_image() -> bytes:
    """A 64-bit arm64 Mach-O bundle header (a macOS extension module's start)."""
    return struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 8, 0, 0, 0, 0) + bytes(32)


def pe_image() -> bytes:
    """A DOS stub pointing at a PE header for x86-64 (a Windows ``.pyd``'s start)."""
    dos = b"MZ" + bytes(58) + struct.pack("<I", 64)
    return dos + b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 0, 0x2022)


def offline_requirements(*requirements: str, wheelhouse: Path = WHEELHOUSE) -> str:
    """A requirements file that installs from ``wheelhouse`` and never from an index."""
    return f"--no-index\n--find-links {wheelhouse}\n" + "".join(f"{r}\n" for r in requirements)


def wheel_members(pattern: str) -> dict[str, bytes]:
    """Every file of the one wheel of the wheelhouse matching the glob ``pattern``."""
    (wheel,) = WHEELHOUSE.glob(pattern)
    with zipfile.ZipFile(wheel) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


# -- the offline guard ------------------------------------------------------------------------------


class Tripwire(socketserver.ThreadingTCPServer):
    """An HTTP(S) proxy on the loopback interface that refuses everything and
    remembers what was asked of it: every tool that honours ``HTTPS_PROXY``
    (uv, pip, curl) goes through it instead of the network."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _Refuse)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def take(self) -> list[str]:
        """The requests seen so far, forgotten (for tests that expect some)."""
        seen, self.requests[:] = list(self.requests), []
        return seen


class _Refuse(socketserver.StreamRequestHandler):
    server: Tripwire

    def handle(self) -> None:
        line = self.rfile.readline(4096).decode("latin-1").strip()
        self.server.requests.append(line or "(empty request)")
        self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture(scope="session")
def tripwire() -> Iterator[Tripwire]:
    server = Tripwire()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


#: Index settings of the environment: cleared so that offline tests mean the same everywhere.
_INDEX_VARIABLES = (
    "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS",
    "UV_NO_INDEX", "UV_OFFLINE", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
)  # fmt: skip


def offline_environment(tripwire: Tripwire, uv_cache: Path) -> dict[str, str]:
    """Variables that send every proxy-aware tool to the tripwire, fail fast, and use a fresh uv cache."""
    proxies = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    env = {name: tripwire.url for variable in proxies for name in (variable, variable.lower())}
    env |= {"NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1"}
    return env | {"UV_HTTP_RETRIES": "0", "UV_CACHE_DIR": str(uv_cache)}


def _loopback(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX and friends
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refuse_remote(connect: Callable[..., object], request: pytest.FixtureRequest) -> Callable[..., object]:
    def guarded(sock: socket.socket, address: object) -> object:
        if not _loopback(address):
            raise OSError(f"{request.node.nodeid} is not marked network but connects to {address!r}")
        return connect(sock, address)

    return guarded


@pytest.fixture(scope="session")
def _uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture(autouse=True)
def _offline_guard(
    request: pytest.FixtureRequest, tripwire: Tripwire, _uv_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Tests not marked ``network`` must not reach the network: in this process
    a connection to a non-loopback address raises, and child processes (uv,
    pip) are sent to the tripwire proxy; a test that went there fails."""
    if request.node.get_closest_marker("network"):
        yield
        return
    for name in _INDEX_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in offline_environment(tripwire, _uv_cache).items():
        monkeypatch.setenv(name, value)
    for method in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, method, _refuse_remote(getattr(socket.socket, method), request))
    tripwire.take()
    yield
    attempts = tripwire.take()
    if attempts:
        pytest.fail(f"not marked network, but tried to reach the network: {attempts}", pytrace=False)


ENGINE_UP = Path(__file__).parent / "engine" / "up.sh"


@pytest.fixture(scope="session")
def docker_host() -> str:
    """A Docker Engine with the stand-in build images (tests/engine/up.sh: reused
    when ``DOCKER_HOST`` already answers, else installed and started); sets
    ``DOCKER_HOST`` for the session. Tests that use it are marked ``engine``."""
    done = subprocess.run(["bash", str(ENGINE_UP)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"tests/engine/up.sh failed:\n{done.stderr[-3000:]}"
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("export DOCKER_HOST="), done.stdout
    host = line.split("=", 1)[1].strip().strip("'\"")
    os.environ["DOCKER_HOST"] = host
    return host
