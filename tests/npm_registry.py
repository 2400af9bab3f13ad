"""A loopback npm registry for the offline Node.js tests: a threaded HTTP
server on ``127.0.0.1:<free port>`` serving packuments (``GET /<name>``,
``GET /@scope%2fname``) and deterministic ``.tgz`` tarballs built in memory
from :data:`PACKAGES`, so that the real npm (``npm install
--package-lock-only``, ``npm ci``, ``npm rebuild``) runs against it with no
network. Point npm at it with :meth:`NpmRegistry.environment`.

The fixture packages (every name starts with ``lpfix-`` or ``@lpfix/``, so
none can be mistaken for a real npm package):

- ``lpfix-util`` (pure JavaScript, with a ``bin``), depending on ``@lpfix/scoped``;
- ``lpfix-native``: an addon shipped as optional platform packages, the
  napi-rs way: ``lpfix-native-linux-x64-gnu`` and ``lpfix-native-linux-arm64-gnu``
  (an ELF ``.node`` for their machine, linked against glibc),
  ``lpfix-native-linux-arm64-musl`` (linked against musl) and
  ``lpfix-native-darwin-arm64`` (a Mach-O); its install script would fetch a
  prebuilt addon (``prebuild-install || node-gyp rebuild``);
- ``lpfix-prebuilds``: prebuildify's layout (``prebuilds/<platform>-<arch>/``)
  for linux-x64 (glibc and musl), linux-arm64 and darwin-x64, a ``binding.gyp``
  and the install script ``node-gyp-build``;
- ``lpfix-gyp``: a ``binding.gyp`` and no prebuilt addon: only its install
  script (npm's implicit ``node-gyp rebuild``) would build one;
- ``lpfix-postinstall``: a postinstall script that writes :data:`MARKER`
  into its own directory (the platform and machine it ran for), and a ``bin``;
- ``lpfix-dev``: what the test projects list as a devDependency.

The ``.node`` files are hand-made ELF shared objects (:func:`elf_shared_object`):
a header with the machine, a ``.dynamic`` section with ``DT_NEEDED`` entries and
a ``.gnu.version_r`` section requiring ``GLIBC_2.17``; enough for lambdapack's
checks (machine, libc, glibc version, shared libraries), never loaded.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import json
import re
import struct
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import EM_AARCH64, EM_X86_64, macho_image

#: The real esbuild platform tarballs ``scripts/fetch_esbuild.py`` (``make setup``) downloaded:
#: served at their registry paths (``/@esbuild/linux-x64/-/linux-x64-0.28.2.tgz``).
ESBUILD_TARBALLS = Path(__file__).resolve().parent.parent / ".cache" / "esbuild"
#: What lpfix-postinstall's script writes into its package directory.
MARKER = "postinstall-ran.txt"
#: The libc each machine's musl build links (its dynamic loader's soname).
MUSL = {EM_X86_64: "libc.musl-x86_64.so.1", EM_AARCH64: "libc.musl-aarch64.so.1"}

# -- hand-made ELF shared objects ----------------------------------------------------------------

_SHT_STRTAB, _SHT_DYNAMIC, _SHT_GNU_VERNEED = 3, 6, 0x6FFFFFFE
_DT_NEEDED, _DT_STRTAB, _DT_STRSZ = 1, 5, 10
_PT_LOAD, _PT_DYNAMIC = 1, 2


def elf_shared_object(machine: int, needed: tuple[str, ...], glibc: str | None = "GLIBC_2.17") -> bytes:
    """A 64-bit little-endian ``ET_DYN`` image for ``machine``: one ``PT_LOAD`` of
    the whole file at address 0, a ``PT_DYNAMIC`` whose ``.dynamic`` section needs
    ``needed`` (``readelf -d`` shows them), and a ``.gnu.version_r`` requiring
    ``glibc`` of ``needed[0]`` unless None. No code: it is read, never run."""
    strings = b"\0"
    offsets: dict[str, int] = {}
    for name in (*needed, *([glibc] if glibc else [])):
        offsets[name] = len(strings)
        strings += name.encode() + b"\0"
    phnum = 2
    start = 64 + 56 * phnum  # the ELF header, then the program headers, then the sections' data
    dynstr_at = start
    dynamic = [(_DT_NEEDED, offsets[n]) for n in needed]
    dynamic += [(_DT_STRTAB, dynstr_at), (_DT_STRSZ, len(strings)), (0, 0)]
    blobs = {"dynstr": strings, "dynamic": b"".join(struct.pack("<qQ", *entry) for entry in dynamic)}
    if glibc:
        # Elf64_Verneed (version, count, file, aux, next) + Elf64_Vernaux (hash, flags, other, name, next)
        blobs["verneed"] = struct.pack("<HHIII", 1, 1, offsets[needed[0]], 16, 0) + struct.pack(
            "<IHHII", _elf_hash(glibc.encode()), 0, 2, offsets[glibc], 0
        )
    section_names = b"\0.dynstr\0.dynamic\0.gnu.version_r\0.shstrtab\0"
    blobs["shstrtab"] = section_names
    body = bytearray(start)
    places = {}
    for key, blob in blobs.items():
        body += bytes(-len(body) % 8)
        places[key] = (len(body), len(blob))
        body += blob
    body += bytes(-len(body) % 8)
    shoff = len(body)

    def section(name: str, kind: int, key: str, *, link: int = 0, info: int = 0, entsize: int = 0) -> bytes:
        offset, size = places[key]
        index = section_names.index(name.encode() + b"\0")
        return struct.pack("<IIQQQQIIQQ", index, kind, 2, offset, offset, size, link, info, 8, entsize)

    sections = [bytes(64), section(".dynstr", _SHT_STRTAB, "dynstr")]
    sections.append(section(".dynamic", _SHT_DYNAMIC, "dynamic", link=1, entsize=16))
    if glibc:
        sections.append(section(".gnu.version_r", _SHT_GNU_VERNEED, "verneed", link=1, info=1))
    sections.append(section(".shstrtab", _SHT_STRTAB, "shstrtab"))
    body += b"".join(sections)
    dyn_offset, dyn_size = places["dynamic"]
    # Elf64_Phdr: type, flags, offset, vaddr, paddr, filesz, memsz, align
    load = struct.pack("<IIQQQQQQ", _PT_LOAD, 4, 0, 0, 0, shoff, shoff, 0x1000)
    dyn = struct.pack("<IIQQQQQQ", _PT_DYNAMIC, 6, dyn_offset, dyn_offset, dyn_offset, dyn_size, dyn_size, 8)
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header = struct.pack(
        "<HHIQQQIHHHHHH", 3, machine, 1, 0, 64, shoff, 0, 64, 56, phnum, 64, len(sections), len(sections) - 1
    )
    body[:start] = ident + header + load + dyn
    return bytes(body)


def _elf_hash(name: bytes) -> int:
    h = 0
    for byte in name:
        h = (h << 4) + byte
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g
    return h & 0xFFFFFFFF


def glibc_addon(machine: int) -> bytes:
    return elf_shared_object(machine, ("libc.so.6",))


def musl_addon(machine: int) -> bytes:
    return elf_shared_object(machine, (MUSL[machine],), glibc=None)


def macho_x64_image() -> bytes:
    """A 64-bit x86_64 Mach-O bundle header."""
    return struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 8, 0, 0, 0, 0) + bytes(32)


# -- the packages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """One version of a package: its package.json (``manifest``, name and
    version added) and its other files, as in the tarball below ``package/``."""

    name: str
    version: str
    files: Mapping[str, str | bytes]
    manifest: Mapping[str, object] = field(default_factory=dict)

    @property
    def package_json(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, **self.manifest}

    @property
    def tarball_name(self) -> str:
        return f"{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"

    def packument_version(self) -> dict[str, object]:
        """The version's document as npm publish leaves it: a package with a
        binding.gyp and no install script gets npm's implicit ``node-gyp rebuild``."""
        doc = self.package_json
        given = doc.get("scripts")
        scripts = dict(given) if isinstance(given, dict) else {}
        if "binding.gyp" in self.files and not {"install", "preinstall"} & set(scripts):
            scripts["install"] = "node-gyp rebuild"
            doc |= {"scripts": scripts, "gypfile": True}
        return doc


_ADDON_INDEX = """\
"use strict";
const { platform, arch } = process;
module.exports = require(`lpfix-native-${platform}-${arch}-gnu`);
"""


def _platform_package(os_: str, cpu: str, libc: str | None, addon: bytes) -> Package:
    suffix = f"{os_}-{cpu}" + (f"-{libc.replace('glibc', 'gnu')}" if libc else "")
    node = f"lpfix-native.{suffix}.node"
    manifest: dict[str, object] = {"main": node, "os": [os_], "cpu": [cpu], "license": "MIT"}
    if libc:
        manifest["libc"] = [libc]
    return Package(f"lpfix-native-{suffix}", "1.0.0", {node: addon}, manifest)


def _packages() -> list[Package]:
    x64, arm64 = EM_X86_64, EM_AARCH64
    platform = [
        _platform_package("linux", "x64", "glibc", glibc_addon(x64)),
        _platform_package("linux", "arm64", "glibc", glibc_addon(arm64)),
        _platform_package("linux", "arm64", "musl", musl_addon(arm64)),
        _platform_package("darwin", "arm64", None, macho_image()),
    ]
    gyp = '{"targets": [{"target_name": "x", "sources": ["src/x.c"]}]}\n'
    marker = f"require('fs').writeFileSync({MARKER!r}, `${{process.platform}} ${{process.arch}}\\n`);\n"
    return [
        Package("@lpfix/scoped", "1.0.0", {"index.js": "exports.answer = 42;\n"}, {"main": "index.js"}),
        Package(
            "lpfix-util",
            "1.0.0",
            {
                "index.js": 'exports.double = (x) => 2 * require("@lpfix/scoped").answer * x;\n',
                "cli.js": "#!/usr/bin/env node\nconsole.log(require('.').double(1));\n",
                "README.md": "# lpfix-util\n",
            },
            {
                "main": "index.js",
                "bin": {"lpfix-util": "cli.js"},
                "dependencies": {"@lpfix/scoped": "^1.0.0"},
            },
        ),
        Package(
            "lpfix-native",
            "1.0.0",
            {"index.js": _ADDON_INDEX},
            {
                "main": "index.js",
                "scripts": {"install": "prebuild-install || node-gyp rebuild"},
                "optionalDependencies": {p.name: p.version for p in platform},
            },
        ),
        *platform,
        Package(
            "lpfix-prebuilds",
            "1.0.0",
            {
                "index.js": "module.exports = require('node-gyp-build')(__dirname);\n",
                "binding.gyp": gyp,
                "src/x.c": "int x(void) { return 1; }\n",
                "prebuilds/linux-x64/x.node": glibc_addon(x64),
                "prebuilds/linux-x64/x.musl.node": musl_addon(x64),
                "prebuilds/linux-arm64/x.node": glibc_addon(arm64),
                "prebuilds/darwin-x64/x.node": macho_x64_image(),
            },
            {"main": "index.js", "scripts": {"install": "node-gyp-build"}},
        ),
        Package(
            "lpfix-gyp",
            "1.0.0",
            {
                "index.js": "module.exports = require('./build/Release/x.node');\n",
                "binding.gyp": gyp,
                "src/x.c": "",
            },
            {"main": "index.js"},
        ),
        Package(
            "lpfix-postinstall",
            "1.0.0",
            {"index.js": "module.exports = 1;\n", "marker.js": marker},
            {
                "main": "index.js",
                "bin": {"lpfix-marker": "marker.js"},
                "scripts": {"postinstall": "node marker.js"},
            },
        ),
        Package("lpfix-dev", "1.0.0", {"index.js": "module.exports = 'dev';\n"}, {"main": "index.js"}),
    ]


#: Every package the registry serves.
PACKAGES: tuple[Package, ...] = tuple(_packages())


def tarball(package: Package) -> bytes:
    """The package as npm packs it: ``package/…`` entries in sorted order,
    fixed mtime, owner and modes, gzip without a timestamp."""
    raw = io.BytesIO()
    files = {"package.json": json.dumps(package.package_json, indent=2) + "\n", **package.files}
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            content = files[name]
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(f"package/{name}")
            info.size, info.mtime, info.mode = len(data), 499162500, 0o644
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


# -- the server -----------------------------------------------------------------------------------


class NpmRegistry(http.server.ThreadingHTTPServer):
    """Serves :data:`PACKAGES` on the loopback interface; remembers the paths asked for."""

    daemon_threads = True

    def __init__(self, packages: tuple[Package, ...] = PACKAGES) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self.tarballs: dict[str, bytes] = {}  # URL path → bytes
        self.packuments: dict[str, bytes] = {}  # package name → JSON
        by_name: dict[str, list[Package]] = {}
        for package in packages:
            by_name.setdefault(package.name, []).append(package)
        for name, versions in by_name.items():
            docs = {}
            for package in versions:
                data = tarball(package)
                path = f"/{package.name}/-/{package.tarball_name}"
                self.tarballs[path] = data
                docs[package.version] = package.packument_version() | {
                    "dist": {
                        "tarball": self.url + path.lstrip("/"),
                        "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                        "shasum": hashlib.sha1(data).hexdigest(),  # npm's legacy checksum
                    }
                }
            latest = max(docs, key=lambda v: tuple(int(p) for p in re.findall(r"\d+", v)))
            packument = {"name": name, "dist-tags": {"latest": latest}, "versions": docs}
            self.packuments[name] = json.dumps(packument).encode()
        for fetched in sorted(ESBUILD_TARBALLS.glob("*.tgz")):  # the real esbuild, as `make setup` fetched it
            platform, _, version = fetched.stem.rpartition("-")
            self.tarballs[f"/@esbuild/{platform}/-/{platform}-{version}.tgz"] = fetched.read_bytes()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def environment(self, work: Path) -> dict[str, str]:
        """Variables that send npm here, with a cache under ``work`` and empty
        user and global configs (the machine's ``.npmrc`` cannot interfere)."""
        work.mkdir(parents=True, exist_ok=True)
        user, global_ = work / "user-npmrc", work / "global-npmrc"  # npm refuses one file for both
        user.touch()
        global_.touch()
        return {
            "npm_config_registry": self.url,
            "npm_config_cache": str(work / "npm-cache"),
            "npm_config_userconfig": str(user),
            "npm_config_globalconfig": str(global_),
            "npm_config_fetch_retries": "0",
            "npm_config_update_notifier": "false",
        }


class _Handler(http.server.BaseHTTPRequestHandler):
    server: NpmRegistry
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        self.server.record(path)
        name = urllib.parse.unquote(path.lstrip("/"))
        if path in self.server.tarballs:
            self._send(200, self.server.tarballs[path], "application/octet-stream")
        elif name in self.server.packuments:
            self._send(200, self.server.packuments[name], "application/json")
        else:
            self._send(404, b'{"error":"Not found"}', "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session", name="npm_registry")
def npm_registry_fixture() -> Iterator[NpmRegistry]:
    """``npm_registry``: the loopback npm registry, shared by a test session (a
    test module imports this function to use it)."""
    server = NpmRegistry()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session", name="registry_env")
def registry_env_fixture(
    npm_registry: NpmRegistry, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """``registry_env``: the variables that send npm (and esbuild's download) to the loopback registry."""
    return npm_registry.environment(tmp_path_factory.mktemp("npm"))


@pytest.fixture(autouse=True, name="use_registry")
def use_registry_fixture(registry_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of a module that imports this fixture runs against the loopback registry."""
    for name, value in registry_env.items():
        monkeypatch.setenv(name, value)
