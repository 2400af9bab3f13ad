"""esbuild, pinned: the host's binary from the npm registry, kept in
lambdapack's cache (never the user's ``node_modules`` or PATH).

esbuild ships one native executable per platform as an npm package
(``@esbuild/linux-x64``, ``@esbuild/darwin-arm64`` …). lambdapack downloads
the tarball of the pinned version for the machine it runs on, checks it
against the integrity pinned below, and unpacks the executable into
``<cache>/node-tools/esbuild-<version>-<platform>/``: one download per machine
and version, shared by every project. The registry is npm's
(``npm_config_registry`` or ``registry=`` in the user's ``.npmrc``, with its
``_authToken``), so a private mirror works; the pinned integrity makes any
registry give the same bytes. ``LAMBDAPACK_ESBUILD`` names an executable to
use instead (it must be the pinned version): for machines with no registry.
"""

from __future__ import annotations

import base64
import hashlib
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from lambdapack.errors import ToolError

VERSION = "0.28.2"
#: ``dist.integrity`` of each platform package's tarball at VERSION (from the npm registry).
INTEGRITY = {
    "linux-x64": (
        "sha512-4xTZr1FUmSoQW4XIWmit3tzQrUTZM+N3P0XV8xROKYF50XfI7xeO90+1bZvNwxIufQ9hDQVRJH5YhgPVF8A/HQ=="
    ),
    "linux-arm64": (
        "sha512-pW4AC0P3it8c7do9MVM4p51FzHzdM/TZrerurgRcHJ2WTa1VQ1CIq18xncfpBJw4ojkiZZrKW2yIBWBP92j6Ug=="
    ),
    "darwin-x64": (
        "sha512-uq6suIWYP37qzGddBKPw5QEQPi6HiLGsO7UmkpfyaYNQ3D+rN6w6WfwH+nuqcGXWvawGwxOEroO4YGnFh95azw=="
    ),
    "darwin-arm64": (
        "sha512-n4KqkOQrraxHJcgjM1RvwbigfQKIKJVpM7xp+KsxiyUSrRdIXnt73VhrPAx0fV44hgfmIVKjxMN9J1t5jySVkw=="
    ),
}
DEFAULT_REGISTRY = "https://registry.npmjs.org/"
#: Seconds a download may take before it is given up.
TIMEOUT = 120
_MACHINES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def host_platform() -> str | None:
    """esbuild's name for this machine's platform (``linux-x64`` …), or None when not pinned."""
    system = platform.system().lower()
    cpu = _MACHINES.get(platform.machine().lower())
    name = f"{system}-{cpu}"
    return name if name in INTEGRITY else None


def executable(cache_root: Path, environ: Mapping[str, str]) -> Path:
    """The pinned esbuild for this machine, downloaded into the cache first if needed."""
    given = environ.get("LAMBDAPACK_ESBUILD")
    if given:
        return _given(Path(given), environ)
    name = host_platform()
    if name is None:
        raise ToolError(
            f"no pinned esbuild for {platform.system()} {platform.machine()} (lambdapack pins "
            f"{', '.join(INTEGRITY)}); set LAMBDAPACK_ESBUILD to an esbuild {VERSION} executable"
        )
    home = cache_root / "node-tools" / f"esbuild-{VERSION}-{name}"
    binary = home / "esbuild"
    if binary.is_file():
        return binary
    data = download(name, environ)
    home.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{home.name}.", dir=home.parent))
    try:
        (temporary / "esbuild").write_bytes(_unpack(data, name))
        (temporary / "esbuild").chmod(0o755)
        try:
            temporary.rename(home)
        except OSError:
            if not binary.is_file():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return binary


def _given(path: Path, environ: Mapping[str, str]) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolError(f"LAMBDAPACK_ESBUILD={path}: not an executable file")
    from lambdapack.processes import run

    result = run([str(path), "--version"], cwd=path.parent, env=environ)
    version = result.stdout.strip()
    if result.returncode != 0 or version != VERSION:
        raise ToolError(
            f"LAMBDAPACK_ESBUILD={path} is esbuild {version or '(unknown)'}, not {VERSION}: a bundle is "
            f"the same everywhere only when esbuild is; use esbuild {VERSION} (npm install esbuild@{VERSION})"
        )
    return path


def tarball_url(name: str, environ: Mapping[str, str]) -> str:
    registry = _registry(environ)
    return f"{registry.rstrip('/')}/@esbuild/{name}/-/{name}-{VERSION}.tgz"


def download(name: str, environ: Mapping[str, str]) -> bytes:
    """The pinned tarball of the platform package ``name``, checked against its integrity."""
    import urllib.error
    import urllib.request  # (here: a build that finds esbuild in the cache never loads them)

    url = tarball_url(name, environ)
    request = urllib.request.Request(url, headers={"User-Agent": "lambdapack"})
    token = _auth_token(url, environ)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    shown = _without_credentials(url)
    hint = f"check npm's registry settings, or set LAMBDAPACK_ESBUILD to an esbuild {VERSION} executable"
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            data: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise ToolError(f"cannot download esbuild {VERSION} from {shown}: HTTP {exc.code}; {hint}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ToolError(f"cannot download esbuild {VERSION} from {shown}: {reason}; {hint}") from None
    algorithm, _, expected = INTEGRITY[name].partition("-")
    got = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if got != expected:
        raise ToolError(
            f"esbuild {VERSION} from {shown} has integrity {algorithm}-{got}, not the pinned "
            f"{INTEGRITY[name]}; check the registry configured for npm"
        )
    return data


def _unpack(data: bytes, name: str) -> bytes:
    import io
    import tarfile

    member = "package/esbuild.exe" if name.startswith("win32") else "package/bin/esbuild"
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            found = archive.extractfile(member)
            if found is None:
                raise KeyError(member)
            return found.read()
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise ToolError(f"the esbuild {VERSION} tarball for {name} has no {member}: {exc}") from None


# -- npm's registry settings -----------------------------------------------------------------------


def _npmrc(environ: Mapping[str, str]) -> dict[str, str]:
    """The user's ``.npmrc`` (``npm_config_userconfig`` or ``~/.npmrc``), ``${VAR}`` expanded."""
    path = environ.get("npm_config_userconfig") or environ.get("NPM_CONFIG_USERCONFIG")
    if not path:
        home = environ.get("HOME") or str(Path.home())
        path = str(Path(home) / ".npmrc")
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = re.sub(r"\$\{([^}]+)\}", lambda m: environ.get(m.group(1), ""), value.strip().strip("\"'"))
        found[key.strip()] = value
    return found


def _registry(environ: Mapping[str, str]) -> str:
    for name in ("npm_config_@esbuild:registry", "npm_config_registry", "NPM_CONFIG_REGISTRY"):
        if environ.get(name):
            return environ[name]
    rc = _npmrc(environ)
    return rc.get("@esbuild:registry") or rc.get("registry") or DEFAULT_REGISTRY


def _auth_token(url: str, environ: Mapping[str, str]) -> str | None:
    """The ``//host/path/:_authToken`` of the longest registry prefix of ``url``."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    target = f"//{parts.netloc}{parts.path}"
    best: tuple[int, str] | None = None
    for key, value in _npmrc(environ).items():
        if key.startswith("//") and key.endswith(":_authToken"):
            prefix = key[: -len(":_authToken")]
            if target.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), value)
    return best[1] if best else None


def _without_credentials(url: str) -> str:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
