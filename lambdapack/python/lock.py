"""Turn a function's requirements into a hash-pinned lock for its target.

A requirements file whose every requirement is pinned (``==``) with ``--hash``
lines (pip-compile / ``uv pip compile --generate-hashes`` output) is used as it
is. Anything else is resolved with uv for the target: environment markers are
evaluated for Linux, the target Python and machine, never for the host.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
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
    sdists: str = "pure",
    environ: Mapping[str, str] | None = None,
) -> Lock:
    """A lock for the requirements input ``requirements`` (any supported
    format) on ``target``; resolves when it is not fully pinned with hashes.

    ``reuse`` is an earlier resolution of the same input for the same target
    (a lock file or the cache); ``keep`` stores a fresh one and returns where it
    went. ``sdists`` (a :data:`~lambdapack.config.SDIST_POLICIES` value)
    says whether a package without a loading wheel may pin its sdist."""
    environ = os.environ if environ is None else environ
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
        extra = [*materialized.compile_args, *index_args]
        body = _resolve(
            materialized.path, target, workdir, engine, cwd=cwd, extra=extra, sdists=sdists, environ=environ
        )
        output = workdir / "requirements.lock.txt"
        output.write_text(body, encoding="utf-8")
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


#: Resolutions one lock may take: each excludes a release without a loading wheel, or
#: allows one package's sdist.
_MAX_ATTEMPTS = 16


def _unloadable_releases(
    name: str, target: Target, args: Sequence[str], environ: Mapping[str, str]
) -> set[str]:
    """Every release of ``name`` the index lists whose wheels the resolution's
    platform level admits but none of which loads on ``target`` (empty when the
    index cannot tell: then releases are excluded one per resolution)."""
    from dataclasses import replace as changed

    from lambdapack.python import index, pins
    from lambdapack.python.target import supported_tags

    urls = index.index_urls(args, environ)
    files = index.project_files(name, urls, environ) if urls else None
    if not files:
        return set()
    wide = changed(target, runtime=changed(target.runtime, glibc=pins.resolution_glibc(target)))
    return index.releases_without(files, wanted=supported_tags(target), selectable=supported_tags(wide))


def _file_options(requirements: Path) -> list[str]:
    """The index options written in a requirements file (none for pyproject.toml)."""
    if requirements.name == "pyproject.toml":
        return []
    return _option_args(logical_lines(requirements.read_text("utf-8")), requirements.parent)


def _resolve(
    requirements: Path,
    target: Target,
    workdir: Path,
    engine: Engine,
    *,
    cwd: Path,
    extra: Sequence[str],
    sdists: str,
    environ: Mapping[str, str],
) -> str:
    """Resolve with uv at :func:`~lambdapack.python.pins.resolution_platform`
    and choose each pin's file for the target's exact glibc ceiling (the lock
    body, :func:`pins.render`). A pinned release none of whose wheels loads is
    excluded and the resolution runs again (an older release may have one);
    a package with no loading wheel at all pins its sdist when ``sdists``
    allows it."""
    from packaging.utils import canonicalize_name

    from lambdapack.python import pins

    sources: set[str] = set()
    excluded: dict[str, set[str]] = {}
    #: Pinned releases none of whose wheels loads, by name (for the message when nothing else does).
    unloadable: dict[str, str] = {}
    choice = pins.Choice(pins=(), unloadable=())
    constraints = workdir / "ceiling-constraints.txt"
    output = workdir / "pylock.toml"
    for _attempt in range(_MAX_ATTEMPTS):
        args = [*extra, *(a for name in sorted(sources) for a in ("--no-binary", name))]
        if excluded:
            lines = [
                f"{name}!={v}\n" for name, versions in sorted(excluded.items()) for v in sorted(versions)
            ]
            constraints.write_text("".join(lines), encoding="utf-8")
            args += ["--constraint", str(constraints)]
        output.unlink(missing_ok=True)
        result = engine.compile(requirements, target, output, cwd=cwd, extra=args)
        if result.returncode != 0:
            blocked = _no_wheel_package(result.stderr)
            name = canonicalize_name(re.split(r"[=<>!~ ]", blocked)[0]) if blocked else None
            if sdists != "never" and name and name not in sources:
                sources.add(name)  # no wheel loads: its sdist may be built
                excluded.pop(name, None)
                continue
            if excluded and sdists != "never":  # no older release either: the pinned one's sdist, then
                sources.update(excluded)
                excluded.clear()
                continue
            culprit = unloadable.get(name or "") or next(iter(unloadable.values()), None)
            if culprit is not None:
                details = tool_details(result.command, redact(result.stderr))
                raise ResolveError(no_wheel_message(culprit, target, sdists=sdists), details=details)
            raise resolve_error(result, target, requirements, sdists=sdists)
        choice = pins.choose(pins.read_pylock(output), target, sources=frozenset(sources))
        if not choice.unloadable:
            return pins.render(choice.pins)
        for release in choice.unloadable:
            name = canonicalize_name(release.name)
            versions = _unloadable_releases(
                release.name, target, [*extra, *_file_options(requirements)], environ
            )
            excluded.setdefault(name, set()).update({release.version, *versions})
            unloadable.setdefault(name, f"{release.name}=={release.version}")
    labels = ", ".join(f"{r.name}=={r.version}" for r in choice.unloadable)
    raise ResolveError(
        f"cannot resolve {requirements.name} for {target.describe()}: no loading wheel of {labels}"
    )


def choose_files(
    lock: Lock,
    target: Target,
    engine: Engine,
    *,
    cwd: Path,
    sdists: str,
    index_args: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Lock:
    """A user's hashed requirements file whose pins have no wheel within uv's
    platform level (an sdist, or only wheels up to the exact ceiling), with each
    pin's file chosen for the target as :func:`_resolve` does. Every chosen file
    must be one the user's file lists a hash of."""
    from lambdapack.python import pins

    environ = os.environ if environ is None else environ
    workdir = lock.path.parent / "chosen"
    workdir.mkdir(parents=True, exist_ok=True)
    hashed: dict[str, set[str]] = {}
    for line in logical_lines(lock.path.read_text("utf-8")):
        found = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if found:
            key = re.sub(r"[-_.]+", "-", found.group(1)).lower()
            hashed[key] = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    body = _resolve(
        lock.path, target, workdir, engine, cwd=cwd, extra=index_args, sdists=sdists, environ=environ
    )
    for pin in pins.parse(body):
        if pin.sha256 not in hashed.get(pin.name, set()):
            raise ResolveError(
                f"{lock.source.name} has no hash of {pin.filename} ({pin.label}), the file that loads on "
                f"{target.describe()}; regenerate it for this target, or let lambdapack lock it"
            )
    resolved = workdir / "requirements.lock.txt"
    resolved.write_text(body, encoding="utf-8")
    options = [line for line in logical_lines(lock.path.read_text("utf-8")) if _is_index_option(line)]
    install_input = workdir / "install-requirements.txt"
    install_input.write_text("".join(f"{line}\n" for line in [*options, f"-r {resolved}"]), encoding="utf-8")
    return Lock(
        path=install_input, source=lock.source, resolved=resolved, user_pinned=False, empty=lock.empty
    )


def no_wheel_within_uv_level(stderr: str) -> bool:
    """Whether uv's failure means that some pin has no wheel at uv's platform level."""
    return _no_wheel_package(stderr) is not None


_INDEX_OPTIONS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--no-index",
    "--trusted-host",
)


def index_options(lock: Lock) -> list[str]:
    """The index options of a lock's install input (the requirements file's own
    ``--index-url URL`` … lines, paths made absolute) as arguments."""
    return _option_args(logical_lines(lock.path.read_text("utf-8")), lock.path.parent)


def _option_args(lines: Sequence[str], base: Path) -> list[str]:
    """The index option lines among ``lines`` as arguments (relative paths from ``base``)."""
    import shlex

    args: list[str] = []
    for line in lines:
        if _is_index_option(line):
            first, *rest = shlex.split(_absolute_option(line, base))
            args += [*first.split("=", 1), *rest] if first.startswith("--") else [first, *rest]
    return args


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


def resolve_error(
    result: ToolResult, target: Target, requirements: Path, *, sdists: str = "pure"
) -> ResolveError:
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
        return ResolveError(no_wheel_message(no_wheel, target, sdists=sdists), details=details)
    return ResolveError(
        f"cannot resolve {requirements.name} for {target.describe()}: {_summary(text)}", details=details
    )


def no_wheel_message(package: str, target: Target, *, sdists: str = "pure") -> str:
    """Why nothing of ``package`` can be installed on ``target``, and what to do."""
    from lambdapack.python.target import describe_tags

    if sdists == "never":
        advice = ', or allow building its sdist: sdists = "pure" or "container" (docs/containers.md)'
    else:
        advice = " (there is no sdist to build either)"
    return (
        f"no wheel of {package} loads on {target.describe()} (needs {describe_tags(target)}); "
        f"pin a version that ships such a wheel{advice}"
    )


def _no_wheel_package(text: str) -> str | None:
    pinned = re.search(
        r"Because (\S+==\S+) has no (?:usable wheels|wheels with a matching|source distribution)", text
    )
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
    from lambdapack.python import pins
    from lambdapack.python.target import describe_tags

    exact = pins.parse(body)
    if exact and pins.exact(exact):  # one file per pin, named after its hash
        body = pins.render(exact)
    else:
        body = "".join(line + "\n" for line in logical_lines(body) if not line.startswith("-"))
    body_digest = hashlib.sha256(body.encode()).hexdigest()
    header = (
        f"# Resolved by `lambdapack lock` from {source} for {target.describe()} "
        f"({describe_tags(target)}). Do not edit: run `lambdapack lock`.\n"
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
