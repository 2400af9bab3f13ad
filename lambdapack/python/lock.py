"""Turn a function's requirements into a hash-pinned lock for its target.

A requirements file whose every requirement is pinned (``==``) with ``--hash``
lines (pip-compile / ``uv pip compile --generate-hashes`` output) is used as it
is. Anything else is resolved with uv for the target: environment markers are
evaluated for Linux, the target Python and machine, never for the host.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack.errors import ResolveError, redact, tool_details
from lambdapack.python.inputs import Selection, local_packages, logical_lines, materialize, poetry_hashes
from lambdapack.runtimes import Target

if TYPE_CHECKING:
    from lambdapack.python.engine import Engine, ToolResult


@dataclass(frozen=True, kw_only=True, slots=True)
class Lock:
    """Requirements ready to install hash-checked."""

    #: What to give ``uv pip install -r``: the user's hashed file, or the
    #: user's index options plus ``-r`` the resolved lock.
    path: Path
    #: The user's requirements input (named in messages).
    source: Path
    #: The pinned, hashed requirements alone (what the installed set is a function of).
    resolved: Path
    #: True when the lock is the user's own hashed file (uv may still have to
    #: check its transitive closure), False when lambdapack resolved it.
    user_pinned: bool
    empty: bool


def prepare(
    requirements: Path,
    target: Target,
    workdir: Path,
    engine: Engine,
    *,
    cwd: Path,
    selection: Selection | None = None,
    index_args: Sequence[str] = (),
    reuse: Path | None = None,
    keep: Callable[[Path], Path] | None = None,
) -> Lock:
    """A lock for the requirements input ``requirements`` (any supported
    format) on ``target``; resolves when it is not fully pinned with hashes.

    ``reuse`` is an earlier resolution of the same input for the same target
    (a lock file or the cache); ``keep`` stores a fresh one and returns where it
    went."""
    materialized = materialize(requirements, selection or Selection(), workdir, engine)
    if materialized.path.name == "pyproject.toml":
        lines: list[str] = ["<pyproject>"]
    else:
        try:
            text = materialized.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ResolveError(f"cannot read requirements file {requirements}: {exc}") from None
        lines, found = local_packages(list(logical_lines(text)), materialized.path.parent)
        if found:  # local packages go into the zip as sources (inputs.local_dirs); the rest is installed
            stripped = workdir / f"without-local-{materialized.path.name}"
            # The file moves: its relative paths (-r, -c, --find-links) must not.
            base = materialized.path.parent
            lines = [_absolute_option(line, base) if line.startswith("-") else line for line in lines]
            stripped.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
            materialized = replace(materialized, path=stripped)
    empty = not any(not line.startswith("-") or _is_include(line) for line in lines)
    if empty or all(_is_hashed_pin(line) for line in lines):  # nothing to resolve
        return Lock(
            path=materialized.path,
            source=requirements,
            resolved=materialized.path,
            user_pinned=True,
            empty=empty,
        )
    resolved = reuse
    if resolved is None:
        output = workdir / "requirements.lock.txt"
        extra = [*materialized.compile_args, *index_args]
        result = engine.compile(materialized.path, target, output, cwd=cwd, extra=extra)
        if result.returncode != 0:
            raise resolve_error(result, target, requirements)
        poetry_hashes(output, workdir)
        resolved = keep(output) if keep else output
    pins = logical_lines(resolved.read_text("utf-8"))
    install_input = workdir / "install-requirements.txt"
    base = materialized.path.parent
    options = [_absolute_option(line, base) for line in lines if _is_index_option(line)]
    install_input.write_text("".join(f"{line}\n" for line in [*options, f"-r {resolved}"]), encoding="utf-8")
    return Lock(
        path=install_input,
        source=requirements,
        resolved=resolved,
        user_pinned=False,
        empty=all(line.startswith("-") for line in pins),
    )


_INDEX_OPTIONS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--no-index",
    "--trusted-host",
)


def _is_index_option(line: str) -> bool:
    return line.split("=", 1)[0].split()[0] in _INDEX_OPTIONS


def _absolute_option(line: str, base: Path) -> str:
    """Make a relative ``--find-links``, ``-r`` or ``-c`` path absolute (the line
    moves to another file)."""
    name, _, value = line.replace("=", " ", 1).partition(" ")
    value = value.strip()
    relative = ("-f", "--find-links", "-r", "--requirement", "-c", "--constraint")
    if name in relative and value and "://" not in value and not Path(value).is_absolute():
        return f"{name} {(base / value).resolve()}"
    return line


def resolve_error(result: ToolResult, target: Target, requirements: Path) -> ResolveError:
    """A one-line error naming the culprit from uv's explanation."""
    text = redact(result.stderr)
    details = tool_details(result.command, text)
    missing = re.search(r"Because (\S+) was not found in the package registry", text)
    if missing:
        return ResolveError(
            f"package {missing.group(1)!r} (from {requirements.name}) was not found in the package index",
            details=details,
        )
    no_wheel = _no_wheel_package(text)
    if no_wheel:
        return ResolveError(no_wheel_message(no_wheel, target, resolving=True), details=details)
    return ResolveError(
        f"cannot resolve {requirements.name} for {target.describe()}: {_summary(text)}", details=details
    )


def no_wheel_message(package: str, target: Target, *, resolving: bool = False) -> str:
    """Why no wheel of ``package`` was found, naming what was really searched:
    a resolution searches uv's platform level (manylinux_2_17 for the Amazon
    Linux 2 runtimes, as uv has no triple between 2.17 and 2.28)."""
    from lambdapack.python.target import abi_tag, uv_glibc

    runtime = target.runtime
    machine = target.architecture.machine
    ceiling = f"{runtime.glibc[0]}.{runtime.glibc[1]}"
    if resolving and uv_glibc(target) < runtime.glibc:
        level = uv_glibc(target)
        searched = (
            f"searched {abi_tag(target)} or abi3 wheels tagged manylinux_{level[0]}_{level[1]} or older for "
            f"{machine}; {runtime.os}'s glibc {ceiling} would also load manylinux_2_18 … "
            f"2_{runtime.glibc[1]} wheels, which the resolver cannot select yet"
        )
    else:
        searched = f"needs {abi_tag(target)} or abi3, manylinux glibc <= {ceiling}, {machine}"
    return (
        f"no wheel of {package} loads on {target.describe()} ({searched}); pin a version that ships such "
        "a wheel, or build it in a container (not supported yet)"
    )


def _no_wheel_package(text: str) -> str | None:
    pinned = re.search(r"Because (\S+==\S+) has no (?:usable wheels|wheels with a matching)", text)
    if pinned:
        return pinned.group(1)
    hint = re.search(r"Wheels are required for `([^`]+)`", text)
    if hint:
        return hint.group(1)
    return None


def _summary(stderr: str) -> str:
    """uv's whole explanation on one line: every ``cause:`` line with its
    indented continuation lines (the conflicting requirements are named there),
    else its ``error:`` lines."""
    found: dict[str, list[str]] = {"cause": [], "error": []}
    current: list[str] | None = None
    for line in stderr.splitlines():
        stripped = line.strip()
        kind, _, rest = stripped.partition(":")
        if kind.lower() in ("cause", "caused by", "error") and rest.strip():
            found["error" if kind == "error" else "cause"].append(rest.strip())
            current = found["error" if kind == "error" else "cause"]
        elif current is not None and stripped and line[:1].isspace():
            current[-1] += " " + stripped  # a continuation of the explanation
        else:
            current = None
    return " ".join(found["cause"] or found["error"]) or " ".join(stderr.split())


def _is_include(line: str) -> bool:
    return line.startswith(("-r", "-c", "--requirement", "--constraint", "-e", "--editable"))


def _is_hashed_pin(line: str) -> bool:
    if line.startswith("-"):
        # Index options are fine in a pinned file; includes need resolving.
        return not _is_include(line)
    return "--hash=" in line and is_exact_pin(line.split(" --hash", 1)[0])


def is_exact_pin(text: str) -> bool:
    """Whether a requirement pins exactly one version (``foo==1.2``, not
    ``foo==1.*``, ``foo>=1`` or ``foo==1,!=2``)."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return False
    specifiers = list(requirement.specifier)
    return (
        requirement.url is None
        and len(specifiers) == 1
        and specifiers[0].operator in ("==", "===")
        and not specifiers[0].version.endswith("*")
    )


# -- lock files -------------------------------------------------------------

LOCK_SUFFIX = ".lock.txt"
_LOCK_MARK = "# lambdapack-lock:"


def lock_file_path(requirements: Path, target: Target) -> Path:
    """Where ``lambdapack lock`` keeps the resolution of ``requirements`` for
    ``target``: beside it, ``<stem>.<runtime>-<architecture>.lock.txt``."""
    stem = requirements.name.split(".")[0] or "requirements"
    return requirements.parent / f"{stem}.{target.runtime.name}-{target.architecture.name}{LOCK_SUFFIX}"


def render_lock(body: str, *, input_digest: str, target: Target, source: str) -> str:
    """A pip-tools-format lock (``name==version --hash=…``) with a header that
    lets ``lock --check`` tell whether it is still the resolution of its input."""
    from lambdapack.python.target import python_version, uv_platform

    body = "".join(line + "\n" for line in logical_lines(body) if not line.startswith("-"))
    body_digest = hashlib.sha256(body.encode()).hexdigest()
    header = (
        f"# Resolved by `lambdapack lock` from {source} for {target.describe()} "
        f"({uv_platform(target)}, Python {python_version(target)}). Do not edit: run `lambdapack lock`.\n"
        f"{_LOCK_MARK} target={target.runtime.name}-{target.architecture.name} "
        f"input={input_digest} body={body_digest}\n"
    )
    return header + body


def lock_status(path: Path, *, input_digest: str, target: Target) -> str | None:
    """None when ``path`` is the current lock of its input for ``target``, else why not."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return "missing"
    except (OSError, UnicodeDecodeError) as exc:
        return f"unreadable: {exc}"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith(_LOCK_MARK):
            fields = dict(item.split("=", 1) for item in line[len(_LOCK_MARK) :].split() if "=" in item)
    if not fields:
        return "stale: not written by lambdapack lock"
    if fields.get("target") != f"{target.runtime.name}-{target.architecture.name}":
        return f"stale: made for {fields.get('target', 'another target')}, not {target.describe()}"
    if fields.get("input") != input_digest:
        return "stale: its requirements input changed since it was made"
    body = "".join(
        line + "\n" for line in text.splitlines(keepends=False) if line and not line.startswith("#")
    )
    if hashlib.sha256(body.encode()).hexdigest() != fields.get("body"):
        return "stale: edited by hand"
    return None
