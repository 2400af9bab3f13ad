"""Wheels built from the sdists a lock pins (``sdists = "pure" | "container"``).

For each pinned sdist: the built wheel from the cache, else

1. the sdist's location from the index (a ``uv pip compile --no-deps`` of the
   one pin), the file fetched and checked against the lock's hash;
2. unpacked (safely) and classified: a tree with C, C++, Cython, Rust or
   Fortran sources, or a ``setup.py`` declaring extension modules, is native;
3. its build requirements (``[build-system] requires``, else setuptools and
   wheel) resolved for the target with hashes, their wheels fetched and checked;
4. built: a pure sdist on this machine with ``uv build`` (build isolation,
   ``--build-constraints`` with ``--require-hashes``; accepted only when the
   wheel is pure), a native one in a container of the build image with
   ``pip wheel --no-index`` over the fetched inputs (never on the host);
5. kept in the cache by (sdist hash, how it was built: "pure" or the image's
   id, the target), so a later build of the same sdist starts no container.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from lambdapack.atomic import exclusive_lock
from lambdapack.errors import ContainerError, InstallError, redact, tool_details
from lambdapack.python import pins
from lambdapack.python.engine import Engine
from lambdapack.python.index import credentials, ssl_context
from lambdapack.python.target import python_version
from lambdapack.runtimes import Target

if TYPE_CHECKING:
    from lambdapack.remote.store import Remote

#: Bumped when the way a wheel is built changes (part of every cache key).
RECIPE = "1"
#: Files whose presence makes an sdist native (it needs a compiler for the target).
NATIVE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".c++", ".pyx", ".pxd", ".rs", ".f", ".f90", ".cu", ".m")
_NATIVE_FILES = ("Cargo.toml", "CMakeLists.txt", "meson.build")
_EXTENSION_RE = re.compile(r"\b(ext_modules|Extension\s*\(|cythonize\s*\(|build_ext)")
_DEFAULT_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")
_MAX_SDIST = 512 * 1024 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class Built:
    """A wheel built from a pinned sdist."""

    pin: pins.Pin
    wheel: Path
    #: "pure" (on this machine) or "container".
    how: str
    #: The image and its id, for a container build.
    image: str = ""
    image_id: str = ""
    cached: bool = False

    def note(self) -> str:
        where = (
            "on this machine (pure Python)"
            if self.how == "pure"
            else f"in {self.image} ({self.image_id[:19]})"
        )
        reuse = ", from the cache" if self.cached else ""
        return f"built from its sdist {self.pin.filename} {where}{reuse}"


class SdistBuilder:
    """Builds the pinned sdists of one function's install."""

    def __init__(
        self,
        *,
        engine: Engine,
        target: Target,
        policy: str,
        image: str,
        cache_root: Path,
        environ: Mapping[str, str],
        index_args: Sequence[str] = (),
        network: bool = False,
    ) -> None:
        self._engine = engine
        self._target = target
        self.policy = policy
        self._image = image
        self.cache_root = cache_root
        self._image_answer: str | ContainerError | None = None
        self._cache = cache_root / "built"
        self._environ = environ
        self._index_args = list(index_args)
        self._network = network

    def build(self, pin: pins.Pin, work: Path, *, cwd: Path) -> Built:
        """The wheel of ``pin`` (an sdist pin) for the target."""
        if self.policy == "never":
            raise InstallError(
                f'{pin.label} is pinned as its sdist {pin.filename}, and sdists = "never"; allow source '
                'builds (sdists = "pure" or "container") or pin a version with a wheel for '
                f"{self._target.describe()}"
            )
        found = self._cached(pin, "pure", "")  # a pure wheel built earlier serves either policy
        if found is None and self.policy == "container":  # before any download: the engine is asked only
            image_id = self._image_id(pin, quiet=True)  # for the image's id
            found = self._cached(pin, "container", image_id) if image_id else None
        if found is not None:
            return found
        work.mkdir(parents=True, exist_ok=True)
        sdist = self._fetch_sdist(pin, work, cwd=cwd)
        tree = _unpack(sdist, work / "src")
        native = _native_evidence(tree)
        if native is None:
            return self._build_pure(pin, sdist, tree, work, cwd=cwd)
        if self.policy != "container":
            raise InstallError(
                f"{pin.label} has no wheel for {self._target.describe()} and its sdist holds native code "
                f"({native}); it must be compiled for the target in its build image: set "
                'sdists = "container" (docs/containers.md)'
            )
        return self._build_in_container(pin, tree, work, cwd=cwd)

    # -- the cache ------------------------------------------------------------

    def _key(self, pin: pins.Pin, how: str, image_id: str) -> str:
        from lambdapack.cache import key

        machine = self._target.architecture.machine if how == "container" else "any"
        return key("sdist-build", RECIPE, pin.sha256, how, image_id, python_version(self._target), machine)

    def _cached(self, pin: pins.Pin, how: str, image_id: str) -> Built | None:
        entry = self._cache / self._key(pin, how, image_id)
        record = _read_record(entry)
        if record is None and self._fetch(entry):
            record = _read_record(entry)
        if record is None:
            return None
        wheel = entry / str(record["wheel"])
        if hashlib.sha256(wheel.read_bytes()).hexdigest() != record.get("sha256"):
            shutil.rmtree(entry, ignore_errors=True)  # corrupt: build it again
            return None
        return Built(
            pin=pin, wheel=wheel, how=how, image=str(record.get("image", "")), image_id=image_id, cached=True
        )

    def _store(self, pin: pins.Pin, how: str, wheel: Path, image: str, image_id: str) -> Built:
        entry = self._cache / self._key(pin, how, image_id)
        self._cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self._cache))
        shutil.copyfile(wheel, staging / wheel.name)
        record = {
            "wheel": wheel.name,
            "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "sdist": pin.filename,
            "sdist_sha256": pin.sha256,
            "image": image,
            "image_id": image_id,
        }
        (staging / "record.json").write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
        try:
            staging.replace(entry)
        except OSError:  # another build stored it first: use theirs
            shutil.rmtree(staging, ignore_errors=True)
        shared = attached(self.cache_root)
        if shared is not None:  # other machines need not build it again (docs/remote-cache.md)
            shared.share(
                "built", entry.name, {"record.json": entry / "record.json", wheel.name: entry / wheel.name}
            )
        return Built(pin=pin, wheel=entry / wheel.name, how=how, image=image, image_id=image_id)

    def _fetch(self, entry: Path) -> bool:
        """Whether the remote cache had the built wheel ``entry`` (now in place;
        _cached checks the wheel against its record as for a local entry)."""
        shared = attached(self.cache_root)
        if shared is None:
            return False
        self._cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self._cache))
        try:
            if shared.fetch("built", entry.name, staging) is None:
                return False
            staging.replace(entry)
        except OSError:
            return False
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True

    # -- inputs ------------------------------------------------------------------

    def _fetch_sdist(self, pin: pins.Pin, work: Path, *, cwd: Path) -> Path:
        requirement = work / "sdist.in"
        requirement.write_text(f"{pin.name}=={pin.version}\n", encoding="utf-8")
        output = work / "sdist" / "pylock.toml"
        output.parent.mkdir(parents=True, exist_ok=True)
        result = self._engine.compile(
            requirement,
            self._target,
            output,
            cwd=cwd,
            extra=[*self._index_args, "--no-deps", "--no-binary", pin.name],
        )
        if result.returncode != 0:
            raise InstallError(
                f"cannot find the sdist of {pin.label} ({pin.filename}) in the package index",
                details=tool_details(result.command, result.stderr),
            )
        release = next(iter(pins.read_pylock(output)), None)
        if release is None or release.sdist is None:
            raise InstallError(f"the package index has no sdist of {pin.label} ({pin.filename})")
        return fetch(
            release.sdist.url,
            pin.sha256,
            work / "sdist" / release.sdist.filename,
            what=pin.label,
            environ=self._environ,
            cwd=cwd,
            index=self._credential_sources(),
        )

    def _build_requirements(self, tree: Path, work: Path, *, cwd: Path) -> tuple[Path, list[pins.Pin]]:
        """The build requirements of ``tree``, resolved and hash-pinned for the target."""
        requires = _build_requires(tree)
        source = work / "build-requirements.in"
        source.write_text("".join(f"{r}\n" for r in requires), encoding="utf-8")
        output = work / "build-requirements" / "pylock.toml"
        output.parent.mkdir(parents=True, exist_ok=True)
        result = self._engine.compile(source, self._target, output, cwd=cwd, extra=self._index_args)
        if result.returncode != 0:
            raise InstallError(
                f"cannot resolve the build requirements ({', '.join(requires)}) "
                f"for {self._target.describe()}",
                details=tool_details(result.command, result.stderr),
            )
        releases = pins.read_pylock(output)
        choice = pins.choose(releases, self._target, sources=frozenset())
        if choice.unloadable:
            names = ", ".join(f"{r.name}=={r.version}" for r in choice.unloadable)
            raise InstallError(
                f"no wheel of the build requirement(s) {names} loads on {self._target.describe()}"
            )
        constraints = work / "build-constraints.txt"
        constraints.write_text(pins.render(choice.pins), encoding="utf-8")
        return constraints, list(choice.pins)

    def _credential_sources(self) -> list[str]:
        """Index URLs that may carry credentials: the options, then uv's and pip's variables."""
        names = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_EXTRA_INDEX_URL", "PIP_INDEX_URL")
        found = [*self._index_args, *(self._environ.get(name, "") for name in names)]
        found += self._environ.get("PIP_EXTRA_INDEX_URL", "").split()
        return [value for value in found if value]

    # -- builds ------------------------------------------------------------------

    def _build_pure(self, pin: pins.Pin, sdist: Path, tree: Path, work: Path, *, cwd: Path) -> Built:
        constraints, _ = self._build_requirements(tree, work, cwd=cwd)
        out = work / "wheel"
        result = self._engine.build_wheel(
            sdist, out, constraints=constraints, cwd=cwd, extra=self._index_args
        )
        if result.returncode != 0:
            raise InstallError(
                f"building the pure-Python sdist {pin.filename} failed: {_last_line(result.stderr)}",
                details=tool_details(result.command, result.stderr),
            )
        wheel = _one_wheel(out, pin)
        if not _is_pure(wheel):
            raise InstallError(
                f"{pin.label}: the wheel built from {pin.filename} is not pure Python ({wheel.name}); "
                'build it for the target in its build image: sdists = "container" (docs/containers.md)'
            )
        return self._store(pin, "pure", wheel, "", "")

    def _build_in_container(self, pin: pins.Pin, tree: Path, work: Path, *, cwd: Path) -> Built:
        from lambdapack import container

        engine = container.Engine(self._environ)
        image_id = self._image_id(pin, quiet=False)
        _constraints, requirements = self._build_requirements(tree, work, cwd=cwd)
        deps = work / "build-wheels"
        deps.mkdir()
        for requirement in requirements:
            self._fetch_wheel(requirement, deps, cwd=cwd)
        out = work / "wheel"
        out.mkdir()
        build = work / "build"
        build.mkdir()
        shutil.move(str(tree), build / "src")
        python = f"python{python_version(self._target)}"
        command = [
            python, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--disable-pip-version-check",
            "--find-links", "/in/wheels", *([] if self._network else ["--no-index"]),
            "--wheel-dir", "/out", "/build/src",
        ]  # fmt: skip
        finished = engine.run(
            container.Run(
                image=self._image,
                command=command,
                target=self._target,
                mounts={
                    "/in/wheels": container.Mount(source=deps),
                    "/build": container.Mount(source=build, read_only=False),
                    "/out": container.Mount(source=out, read_only=False),
                },
                environment={
                    "HOME": "/tmp",
                    "SOURCE_DATE_EPOCH": "315532800",
                    "PYTHONHASHSEED": "0",
                    "PIP_NO_INPUT": "1",
                },
                workdir="/build",
                network=self._network,
                what=pin.label,
            )
        )
        if finished.exit_code != 0:
            raise ContainerError(
                f"compiling {pin.label} from {pin.filename} failed in {self._image} "
                f"(exit {finished.exit_code}): {_last_line(finished.log)}",
                details=redact(f"$ docker run {self._image} {' '.join(command)}\n{finished.log.rstrip()}"),
            )
        wheel = _one_wheel(out, pin)
        return self._store(pin, "container", wheel, self._image, image_id)

    def _image_id(self, pin: pins.Pin, *, quiet: bool) -> str:
        """The build image's id (asked once per builder); ``quiet``: "" when there
        is no engine or image, instead of the error (raised when a build needs it)."""
        from lambdapack import container

        if self._image_answer is None:
            try:
                engine = container.Engine(self._environ)
                self._image_answer = engine.image_id(self._image, self._target, what=pin.label)
            except ContainerError as exc:
                self._image_answer = exc
        if isinstance(self._image_answer, ContainerError):
            if quiet:
                return ""
            raise self._image_answer
        return self._image_answer

    def _fetch_wheel(self, pin: pins.Pin, into: Path, *, cwd: Path) -> Path:
        requirement = into.parent / f"{pin.name}.in"
        requirement.write_text(f"{pin.name}=={pin.version}\n", encoding="utf-8")
        output = into.parent / f"{pin.name}-lock" / "pylock.toml"
        output.parent.mkdir(parents=True, exist_ok=True)
        result = self._engine.compile(
            requirement, self._target, output, cwd=cwd, extra=[*self._index_args, "--no-deps"]
        )
        if result.returncode != 0:
            raise InstallError(
                f"cannot find the build requirement {pin.label} in the package index",
                details=tool_details(result.command, result.stderr),
            )
        for release in pins.read_pylock(output):
            for wheel in release.wheels:
                if wheel.sha256 == pin.sha256:
                    return fetch(
                        wheel.url,
                        pin.sha256,
                        into / wheel.filename,
                        what=pin.label,
                        environ=self._environ,
                        cwd=cwd,
                        index=self._credential_sources(),
                    )
        raise InstallError(f"the package index no longer offers {pin.filename} ({pin.label})")


# -- helpers -----------------------------------------------------------------------


def fetch(
    url: str,
    sha256: str,
    dest: Path,
    *,
    what: str,
    environ: Mapping[str, str],
    cwd: Path,
    index: Sequence[str] = (),
) -> Path:
    """``url`` (https, http, file or a path) into ``dest``, checked against
    ``sha256``. Credentials of an index URL in ``index`` (index options) on the
    same host are sent along, as uv would."""
    parts = urlsplit(url)
    digest = hashlib.sha256()
    tmp = dest.with_name(dest.name + ".part")
    try:
        if parts.scheme in ("http", "https"):
            context = ssl_context(environ)
            headers = {"User-Agent": "lambdapack", **credentials(parts.hostname, index)}
            request = urllib.request.Request(url, headers=headers)
            with (
                urllib.request.urlopen(request, timeout=120, context=context) as response,
                tmp.open("wb") as out,
            ):
                size = 0
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    if size > _MAX_SDIST:
                        raise InstallError(f"{dest.name} ({what}) is larger than {_MAX_SDIST >> 20} MiB")
                    digest.update(chunk)
                    out.write(chunk)
        else:
            source = Path(unquote(parts.path)) if parts.scheme == "file" else Path(url)
            source = source if source.is_absolute() else cwd / source
            with source.open("rb") as inp, tmp.open("wb") as out:
                while chunk := inp.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InstallError(f"cannot download {dest.name} ({what}) from {redact(url)}: {exc}") from None
    if digest.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise InstallError(
            f"hash mismatch for {dest.name} ({what}): the lock says sha256:{sha256}, "
            f"the index served sha256:{digest.hexdigest()}"
        )
    tmp.replace(dest)
    return dest


def _unpack(sdist: Path, into: Path) -> Path:
    """The sdist's project directory, unpacked with no path escaping ``into``."""
    into.mkdir(parents=True)
    try:
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as archive:
                for member in archive.namelist():
                    if _unsafe(member):
                        raise InstallError(f"{sdist.name}: unsafe path {member!r} in the sdist")
                archive.extractall(into)
        else:
            with tarfile.open(sdist) as archive:
                if sys.version_info >= (3, 12) or hasattr(tarfile, "data_filter"):
                    archive.extractall(into, filter="data")
                else:  # pragma: no cover - Python 3.10 without the security backport
                    for info in archive.getmembers():
                        if _unsafe(info.name) or info.issym() or info.islnk():
                            raise InstallError(f"{sdist.name}: unsafe member {info.name!r} in the sdist")
                    archive.extractall(into)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise InstallError(f"cannot unpack the sdist {sdist.name}: {exc}") from None
    entries = list(into.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return into


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name)
    return path.is_absolute() or ".." in path.parts


def _native_evidence(tree: Path) -> str | None:
    """Why ``tree`` needs a compiler (a file that proves it), or None."""
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(
            d for d in dirnames if d not in ("tests", "test", "docs", "examples", "benchmarks")
        )
        for filename in sorted(filenames):
            if filename.endswith(NATIVE_SUFFIXES) or filename in _NATIVE_FILES:
                return (Path(dirpath) / filename).relative_to(tree).as_posix()
    setup = tree / "setup.py"
    if setup.is_file() and _EXTENSION_RE.search(setup.read_text("utf-8", errors="replace")):
        return "setup.py declares extension modules"
    return None


def _build_requires(tree: Path) -> list[str]:
    pyproject = tree / "pyproject.toml"
    if pyproject.is_file():
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
        try:
            system = tomllib.loads(pyproject.read_text("utf-8")).get("build-system", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InstallError(f"{pyproject.parent.name}/pyproject.toml in the sdist: {exc}") from None
        requires = system.get("requires") if isinstance(system, dict) else None
        if isinstance(requires, list) and all(isinstance(r, str) for r in requires):
            names = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requires}
            # setuptools asks for wheel while building (older releases); hand it in too
            return [*requires, *(["wheel"] if "setuptools" in names and "wheel" not in names else [])]
    return list(_DEFAULT_BUILD_REQUIRES)


def _one_wheel(out: Path, pin: pins.Pin) -> Path:
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise InstallError(f"building {pin.filename} gave {len(wheels)} wheels, not one")
    return wheels[0]


def _is_pure(wheel: Path) -> bool:
    from packaging.utils import parse_wheel_filename

    tags = parse_wheel_filename(wheel.name)[3]
    if not all(tag.abi == "none" and tag.platform == "any" for tag in tags):
        return False
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    return not any(name.endswith((".so", ".pyd", ".dylib")) for name in names)


def _read_record(entry: Path) -> dict[str, object] | None:
    try:
        data = json.loads((entry / "record.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("wheel"), str) else None


def _last_line(text: str) -> str:
    """The line of a build log that says what went wrong: the first compiler
    error (``file.c:2:1: error: …``), else the last line mentioning an error."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    compiler = [line for line in lines if re.search(r":\d+(:\d+)?: (fatal )?error:", line)]
    errors = [line for line in lines if re.search(r"\berror\b", line, re.I)]
    picked = compiler[0] if compiler else (errors or lines or ["no output"])[-1]
    return picked if len(picked) <= 240 else picked[:237] + "…"


def unpack_wheel(wheel: Path, dest: Path) -> None:
    """Install ``wheel`` into the ``--target`` directory ``dest``: its files
    and ``.data/purelib`` / ``platlib`` at the top, other ``.data`` categories
    (scripts, headers, data) left out as they are for every installed wheel."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir():
                continue
            if _unsafe(name):
                raise InstallError(f"{wheel.name}: unsafe path {name!r} in the wheel")
            parts = PurePosixPath(name).parts
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue
                parts = parts[2:]
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out)
            mode = (info.external_attr >> 16) & 0o777
            target.chmod(0o755 if mode & 0o111 else 0o644)


def attached(cache_root: Path) -> Remote | None:
    """The run's remote cache (lambdapack.remote.store.attached), if the run has one."""
    from lambdapack.remote.store import attached as remote_of

    return remote_of(cache_root)


def locked(cache_root: Path, pin: pins.Pin) -> AbstractContextManager[object]:
    """A lock held while ``pin``'s sdist builds: concurrent builds wait for one."""
    (cache_root / "built").mkdir(parents=True, exist_ok=True)
    return exclusive_lock(cache_root / "built" / f".build-{pin.sha256}.lock")
