"""Install a lock into a staging directory with target wheels only, then strip
what the installer adds that would make the zip depend on the host.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from pathspec import GitIgnoreSpec

from lambdapack.errors import InstallError, ResolveError, tool_details
from lambdapack.python import pins
from lambdapack.python.checks import parse_tags, wheel_tags
from lambdapack.python.engine import Engine, ToolResult
from lambdapack.python.lock import (
    Lock,
    choose_files,
    no_wheel_message,
    no_wheel_within_uv_level,
    resolve_error,
)
from lambdapack.python.sdist import Built, SdistBuilder, locked, unpack_wheel
from lambdapack.python.target import tag_loads
from lambdapack.runtimes import Target

#: Files an installer writes into ``*.dist-info`` that record the host.
INSTALLER_METADATA = ("INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json")


@dataclass(frozen=True, kw_only=True, slots=True)
class Distribution:
    name: str
    version: str
    tags: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class InstalledTree:
    root: Path
    distributions: tuple[Distribution, ...]
    #: Wheels built from pinned sdists and installed here.
    built: tuple[Built, ...] = ()


def install(
    lock: Lock,
    target: Target,
    dest: Path,
    engine: Engine,
    *,
    cwd: Path,
    exclude: Sequence[str] = (),
    index_args: Sequence[str] = (),
    runtime_packages: bool = False,
    builder: SdistBuilder | None = None,
) -> InstalledTree:
    """Install ``lock`` into ``dest`` (which must not exist) for ``target``,
    leaving out files matching the gitignore-style ``exclude`` patterns. The
    lock's sdist pins are built by ``builder`` (lambdapack.python.sdist)."""
    dest.mkdir(parents=True)
    if lock.empty:
        return InstalledTree(root=dest, distributions=())
    install_input: Path | None = lock.path
    exact = False
    built: list[Built] = []
    if not lock.user_pinned:
        parsed = pins.parse(lock.resolved.read_text("utf-8"))
        exact = bool(parsed) and pins.exact(parsed)
        sources = [pin for pin in parsed if pin.is_sdist]
        if sources:
            install_input = _without(lock, [pin for pin in parsed if not pin.is_sdist])
            for pin in sources:
                if builder is None:
                    raise InstallError(
                        f"{pin.label} is pinned as its sdist {pin.filename}; nothing builds sdists here"
                    )
                with locked(builder.cache_root, pin):
                    work = lock.path.parent / "sdists" / pin.name
                    built.append(builder.build(pin, work, cwd=cwd))
    if install_input is not None:
        result = engine.install(
            install_input,
            target,
            dest,
            cwd=cwd,
            resolve_deps=lock.user_pinned,
            extra=index_args,
            exact=exact,
        )
        if result.returncode != 0:
            policy = builder.policy if builder else "never"
            chosen = _chosen(lock, target, engine, result, cwd=cwd, sdists=policy, index_args=index_args)
            if chosen is not None:  # the user's hashed file pins an sdist or a wheel above uv's level
                shutil.rmtree(dest)
                return install(
                    chosen,
                    target,
                    dest,
                    engine,
                    cwd=cwd,
                    exclude=exclude,
                    index_args=index_args,
                    runtime_packages=runtime_packages,
                    builder=builder,
                )
            raise _install_error(result, target, lock)
    for made in built:
        unpack_wheel(made.wheel, dest)
    if runtime_packages:
        remove_distributions(dest, RUNTIME_PACKAGES)
    if exclude:
        _remove_matching(dest, GitIgnoreSpec.from_lines(exclude))
    scrub(dest)
    distributions = tuple(_distributions(dest))
    from_source = {canonicalize_name(made.pin.name) for made in built}
    for dist in distributions:
        if canonicalize_name(dist.name) in from_source:  # built for the target; the ELF checks judge it
            continue
        tags = [tag for text in dist.tags for tag in parse_tags(text)]
        if tags and not any(tag_loads(tag, target) for tag in tags):
            raise InstallError(no_wheel_message(f"{dist.name}=={dist.version}", target))
    return InstalledTree(root=dest, distributions=distributions, built=tuple(built))


def _chosen(
    lock: Lock,
    target: Target,
    engine: Engine,
    result: ToolResult,
    *,
    cwd: Path,
    sdists: str,
    index_args: Sequence[str],
) -> Lock | None:
    """For a user's hashed file that uv could not install within its platform
    level (no wheel there, or the listed hash is of a file above it, say
    ``manylinux_2_24``): the file with each pin's file chosen for the target.
    None when that is not the trouble (the original error stands)."""
    if not lock.user_pinned:
        return None
    if no_wheel_within_uv_level(result.stderr):
        return choose_files(lock, target, engine, cwd=cwd, sdists=sdists, index_args=index_args)
    if "Hash mismatch" not in result.stderr:
        return None
    try:  # a true mismatch: the chosen file's hash is not listed either, and uv's error says it best
        return choose_files(lock, target, engine, cwd=cwd, sdists=sdists, index_args=index_args)
    except ResolveError:
        return None


def _without(lock: Lock, wheels: Sequence[pins.Pin]) -> Path | None:
    """An install input of ``lock``'s index options and its wheel pins only (None: no wheel pins)."""
    if not wheels:
        return None
    work = lock.path.parent
    body = work / "wheel-pins.txt"
    body.write_text(pins.render(wheels), encoding="utf-8")
    options = [
        line for line in lock.path.read_text("utf-8").splitlines() if line and not line.startswith("-r ")
    ]
    install_input = work / "install-wheels.txt"
    install_input.write_text("".join(f"{line}\n" for line in [*options, f"-r {body}"]), encoding="utf-8")
    return install_input


def scrub(root: Path) -> None:
    """Remove installer leftovers: lock file, console scripts with host
    shebangs, bytecode, installer metadata, and their RECORD lines."""
    (root / ".lock").unlink(missing_ok=True)
    shutil.rmtree(root / "bin", ignore_errors=True)
    for dirpath, dirnames, _ in os.walk(root):
        if "__pycache__" in dirnames:
            shutil.rmtree(Path(dirpath) / "__pycache__")
            dirnames.remove("__pycache__")
    for info in sorted(root.glob("*.dist-info")):
        for name in INSTALLER_METADATA:
            (info / name).unlink(missing_ok=True)
        _rewrite_record(root, info / "RECORD")


#: Packages the Lambda Python runtimes provide (``exclude_runtime_packages``).
RUNTIME_PACKAGES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)


def remove_distributions(root: Path, names: frozenset[str]) -> list[str]:
    """Delete the installed distributions in ``names`` (files from their RECORD,
    then their dist-info); returns "name version" of each removed."""
    removed = []
    for info in sorted(root.glob("*.dist-info")):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        if canonicalize_name(name) not in names:
            continue
        record = info / "RECORD"
        if record.is_file():
            for line in record.read_text("utf-8").splitlines():
                path = (root / line.split(",", 1)[0]).resolve()
                if path.is_relative_to(root.resolve()) and path.is_file():
                    path.unlink()
        shutil.rmtree(info, ignore_errors=True)
        removed.append(f"{name} {version}")
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    return removed


def _remove_matching(root: Path, spec: GitIgnoreSpec) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            path = Path(dirpath) / filename
            if ".dist-info/" not in path.relative_to(root).as_posix() and spec.match_file(
                path.relative_to(root).as_posix()
            ):
                path.unlink()


def _distributions(root: Path) -> list[Distribution]:
    out = []
    for info in sorted(root.glob("*.dist-info")):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        wheel = info / "WHEEL"
        tags = wheel_tags(wheel.read_text("utf-8", errors="replace")) if wheel.is_file() else []
        out.append(Distribution(name=name, version=version, tags=tuple(tags)))
    return out


def _rewrite_record(root: Path, record: Path) -> None:
    if not record.is_file():
        return
    lines = record.read_text("utf-8").splitlines()
    kept = [line for line in lines if _record_target_exists(root, line)]
    if len(kept) == len(lines):
        return
    # The file may be a hard link into uv's cache: replace it, never edit it.
    record.unlink()
    record.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _record_target_exists(root: Path, line: str) -> bool:
    path = line.split(",", 1)[0].strip('"')
    if not path:
        return False
    candidate = (root / path).resolve()
    return candidate.is_relative_to(root.resolve()) and candidate.is_file()


def _install_error(result: ToolResult, target: Target, lock: Lock) -> InstallError:
    text = result.stderr
    mismatch = re.search(r"Hash mismatch for `([^`]+)`\s*Expected:\s*(.+?)\s*Computed:\s*(\S+)", text, re.S)
    if mismatch:
        expected = " ".join(mismatch.group(2).split())
        return InstallError(
            f"hash mismatch for {mismatch.group(1)} (from {lock.source.name}): "
            f"expected {expected}, got {mismatch.group(3)}",
            details=tool_details(result.command, text),
        )
    missing_hash = re.search(
        r"(?:hash(?:es)? (?:is|are) required|no trusted hash was provided for:?).*?`([^`]+)`",
        text,
        re.I | re.S,
    )
    if missing_hash:
        return InstallError(
            f"{lock.source.name} pins hashes but not {missing_hash.group(1)}, which is needed on "
            f"{target.describe()}; regenerate the lock for this target (or drop the --hash lines)",
            details=tool_details(result.command, text),
        )
    error = resolve_error(result, target, lock.source)
    return InstallError(error.message, details=error.details)
