"""Every common way a function declares its dependencies, turned into
pip-format requirements that the lock stage resolves or installs.

Recognised by file name (docs/config.md#requirements-inputs):

* ``requirements*.txt``, ``*.in``: pip / pip-tools requirements (as they are);
* ``pyproject.toml``: ``[project] dependencies`` plus the selected
  ``extras`` and dependency ``groups`` (resolved by uv for the target);
* ``uv.lock``: exported with ``uv export --frozen`` (hashes kept) for the
  selected ``package``, extras and groups of the workspace;
* ``poetry.lock`` (+ its ``pyproject.toml``): the locked versions are used as
  constraints for a resolution for the target, and the lock's own hashes are
  what the install checks;
* ``Pipfile.lock``: its ``default`` section, with markers and hashes.

Local path / editable dependencies (``-e ./libs/common``, a uv workspace
member) are not installed: their source files go into the zip (see
:func:`local_packages`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdapack.errors import ConfigError, ResolveError, tool_details

if TYPE_CHECKING:
    from lambdapack.python.engine import Engine

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_INCLUDE_RE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s+|=)(\S+)")
KINDS = ("requirements", "pyproject", "uv.lock", "poetry.lock", "Pipfile.lock")


@dataclass(frozen=True, kw_only=True, slots=True)
class Selection:
    """What to take from a project-style input."""

    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    package: str | None = None  # uv workspace member


@dataclass(frozen=True, kw_only=True, slots=True)
class Materialized:
    """A requirements input in pip format."""

    path: Path  # a pip requirements file, or pyproject.toml for uv to read
    hashed: bool  # every requirement pinned with hashes (a lock format): install as it is
    compile_args: tuple[str, ...] = ()  # extra arguments for ``uv pip compile``


def kind_of(path: Path) -> str:
    name = path.name
    if name == "pyproject.toml":
        return "pyproject"
    if name in ("uv.lock", "poetry.lock", "Pipfile.lock"):
        return name
    if name.endswith((".txt", ".in")):
        return "requirements"
    raise ConfigError(
        [
            f"{path}: not a supported requirements input; use requirements*.txt, *.in, pyproject.toml, "
            "uv.lock, poetry.lock or Pipfile.lock"
        ]
    )


def related(path: Path) -> list[Path]:
    """Files whose content, besides ``path``, decides what ``path`` means."""
    kind = kind_of(path)
    if kind in ("uv.lock", "poetry.lock"):
        return [path.parent / "pyproject.toml"]
    return []


def materialize(path: Path, selection: Selection, work: Path, engine: Engine) -> Materialized:
    kind = kind_of(path)
    if kind == "requirements":
        return Materialized(path=path, hashed=False)
    if kind == "pyproject":
        args = [arg for extra in selection.extras for arg in ("--extra", extra)]
        args += [arg for group in selection.groups for arg in ("--group", f"{path}:{group}")]
        return Materialized(path=path, hashed=False, compile_args=tuple(args))
    if kind == "Pipfile.lock":
        out = work / "from-Pipfile.lock.txt"
        out.write_text(_pipfile_requirements(path), encoding="utf-8")
        return Materialized(path=out, hashed=True)
    if kind == "uv.lock":
        return _uv_export(path, selection, work, engine)
    return _poetry(path, selection, work)


def local_packages(lines: Sequence[str], base: Path) -> tuple[list[str], list[Path]]:
    """Split requirement lines into the rest and local package directories
    (``-e ./path``, ``./path``, ``file:`` URLs)."""
    rest, local = [], []
    for line in lines:
        target = line[3:].strip() if line.startswith("-e ") else line.strip()
        target = target.split(";", 1)[0].split(" ", 1)[0]
        if target.startswith("file:"):
            target = target.removeprefix("file://").removeprefix("file:")
        if target.startswith((".", "/")) and (base / target).is_dir():
            local.append((base / target).resolve())
        else:
            rest.append(line)
    return rest, local


def _pipfile_requirements(path: Path) -> str:
    try:
        data = json.loads(path.read_text("utf-8"))
        packages = data["default"]
    except (OSError, ValueError, KeyError) as exc:
        raise ResolveError(f"{path}: not a readable Pipfile.lock ({exc})") from None
    lines = []
    for name, info in sorted(packages.items()):
        version = info.get("version")
        hashes = info.get("hashes") or []
        if not version or not hashes:
            raise ResolveError(f"{path}: {name} has no pinned version with hashes; run pipenv lock")
        marker = f" ; {info['markers']}" if info.get("markers") else ""
        lines.append(f"{name}{version}{marker} " + " ".join(f"--hash={h}" for h in hashes))
    return "".join(line + "\n" for line in lines)


def _uv_export(path: Path, selection: Selection, work: Path, engine: Engine) -> Materialized:
    command = ["--no-header", "--no-annotate", "--no-emit-project"]
    if selection.package:
        command += ["--package", selection.package]
    command += [arg for extra in selection.extras for arg in ("--extra", extra)]
    command += [arg for group in selection.groups for arg in ("--group", group)]
    proc = engine.export(path.parent, command)
    if proc.returncode != 0:
        raise ResolveError(
            f"{path}: uv export failed: {' '.join(proc.stderr.split())}",
            details=tool_details(proc.command, proc.stderr),
        )
    lines = logical_lines(proc.stdout)
    rest, _local = local_packages(lines, path.parent)  # shipped as sources: see local_dirs
    out = work / "from-uv.lock.txt"
    out.write_text("".join(line + "\n" for line in rest), encoding="utf-8")
    return Materialized(path=out, hashed=True)


def logical_lines(text: str) -> list[str]:
    """Requirement lines with backslash continuations joined, comments dropped
    and whitespace runs collapsed."""
    joined: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            joined.append(" ".join(buffer.split()))
        buffer = ""
    if buffer.strip():
        joined.append(" ".join(buffer.split()))
    return joined


def _poetry(path: Path, selection: Selection, work: Path) -> Materialized:
    pyproject = path.parent / "pyproject.toml"
    try:
        lock = tomllib.loads(path.read_text("utf-8"))
        project = tomllib.loads(pyproject.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ResolveError(f"{path}: cannot read it with its pyproject.toml ({exc})") from None
    pins: dict[str, tuple[str, list[str]]] = {}
    for package in lock.get("package", []):
        name = _normalize(package["name"])
        hashes = [f["hash"] for f in package.get("files", []) if "hash" in f]
        pins[name] = (package["version"], hashes)
    wanted = poetry_dependencies(project, selection)
    missing = [name for name in wanted if _normalize(_requirement_name(name)) not in pins]
    if missing:
        raise ResolveError(f"{path}: {', '.join(missing)} not in the lock; run poetry lock")
    (work / "poetry.in").write_text("".join(f"{name}\n" for name in wanted), encoding="utf-8")
    constraints = "".join(f"{name}=={version}\n" for name, (version, _hashes) in sorted(pins.items()))
    (work / "poetry-constraints.txt").write_text(constraints, encoding="utf-8")
    (work / "poetry-hashes.json").write_text(
        json.dumps({n: h for n, (_v, h) in pins.items()}), encoding="utf-8"
    )
    return Materialized(
        path=work / "poetry.in",
        hashed=False,
        compile_args=("--constraint", str(work / "poetry-constraints.txt")),
    )


def poetry_hashes(resolved: Path, work: Path) -> None:
    """Check a resolution constrained by a poetry.lock against the lock's own
    hashes: each pin's chosen file must be one the poetry.lock lists."""
    from lambdapack.python import pins

    table = work / "poetry-hashes.json"
    if not table.exists():
        return
    hashes: dict[str, list[str]] = json.loads(table.read_text("utf-8"))
    for pin in pins.parse(resolved.read_text("utf-8")):
        listed = hashes.get(_normalize(pin.name))
        if listed is not None and f"sha256:{pin.sha256}" not in listed:
            raise ResolveError(
                f"poetry.lock lists no hash for {pin.filename or pin.label}, the file that loads on the "
                "target; run `poetry lock` to record the hashes of every file of the release"
            )


def poetry_dependencies(project: dict[str, Any], selection: Selection) -> list[str]:
    """The requirements a poetry project declares for the selected extras and
    groups: Poetry 2's ``[project]`` table (with ``optional-dependencies`` and
    PEP 735 ``[dependency-groups]``) or Poetry 1's ``[tool.poetry]`` tables."""
    poetry = project.get("tool", {}).get("poetry", {})
    poetry = poetry if isinstance(poetry, dict) else {}
    table = project.get("project", {})
    listed = table.get("dependencies") if isinstance(table, dict) else None
    if isinstance(listed, list):
        names = [str(d) for d in listed]
        optional = table.get("optional-dependencies", {})
        for extra in selection.extras:
            if not isinstance(optional, dict) or extra not in optional:
                raise ResolveError(f"pyproject.toml: no optional dependencies named {extra!r} (extras)")
            names += [str(d) for d in optional[extra]]
    else:
        names = _poetry_table(poetry.get("dependencies", {}), _poetry_extras(poetry, selection))
    groups_pep735 = project.get("dependency-groups", {})
    for group in selection.groups:
        if isinstance(groups_pep735, dict) and group in groups_pep735:
            names += [str(d) for d in groups_pep735[group] if isinstance(d, str)]
            continue
        poetry_group = poetry.get("group", {}).get(group) if isinstance(poetry.get("group"), dict) else None
        if not isinstance(poetry_group, dict):
            raise ResolveError(f"pyproject.toml: no dependency group named {group!r} (groups)")
        names += _poetry_table(poetry_group.get("dependencies", {}), _poetry_extras(poetry, selection))
    return names


def _poetry_extras(poetry: dict[str, Any], selection: Selection) -> set[str]:
    """The optional packages the selected extras turn on (``[tool.poetry.extras]``;
    an extra that names a package directly counts too)."""
    table = poetry.get("extras", {})
    wanted = {_normalize(e) for e in selection.extras}
    for extra, packages in table.items() if isinstance(table, dict) else ():
        if _normalize(extra) in wanted and isinstance(packages, list):
            wanted.update(_normalize(str(p)) for p in packages)
    return wanted


def _poetry_table(deps: object, optional: set[str]) -> list[str]:
    """Names (with extras) from a ``[tool.poetry.dependencies]``-style table."""
    names = []
    for name, spec in deps.items() if isinstance(deps, dict) else ():
        if name.lower() == "python":
            continue
        if isinstance(spec, dict) and spec.get("optional") and _normalize(name) not in optional:
            continue
        extras = spec.get("extras") if isinstance(spec, dict) else None
        names.append(f"{name}[{','.join(extras)}]" if extras else name)
    return names


def _requirement_name(requirement: str) -> str:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(requirement).name
    except InvalidRequirement:
        return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]


def _normalize(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


#: Files of a local package's directory that are project metadata, not code.
LOCAL_PACKAGE_EXCLUDES = (
    "/tests/",
    "/test/",
    "/docs/",
    "/setup.py",
    "/*.toml",
    "/*.cfg",
    "/*.md",
    "/*.rst",
    "/*.txt",
    "/*.lock",
    "/LICENSE*",
    "/Makefile",
)


def local_dirs(path: Path) -> list[Path]:
    """Local packages a requirements input depends on, found without running
    anything (so the no-op check can see their files)."""
    kind = kind_of(path)
    if kind == "requirements":
        try:
            lines = logical_lines(path.read_text("utf-8"))
        except OSError:
            return []
        return local_packages(lines, path.parent)[1]
    if kind == "uv.lock":
        try:
            lock = tomllib.loads(path.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return []
        found = []
        for package in lock.get("package", []):
            source = package.get("source", {})
            where = source.get("editable") or source.get("directory") or source.get("path")
            if isinstance(where, str) and where not in (".", "") and (path.parent / where).is_dir():
                found.append((path.parent / where).resolve())
        return sorted(set(found))
    return []


def package_root(directory: Path) -> Path:
    """Where a local package's importable code is: ``src/`` when it has one."""
    return directory / "src" if (directory / "src").is_dir() else directory


def requirements_digest(path: Path) -> str:
    """Hash of a requirements file and, recursively, the files it includes."""
    digest = hashlib.sha256()
    seen: set[Path] = set()

    def add(file: Path) -> None:
        file = file.resolve()
        if file in seen:
            return
        seen.add(file)
        data = file.read_bytes() if file.is_file() else b"<missing>"
        digest.update(str(len(data)).encode() + b"\0" + data)
        for line in data.decode("utf-8", errors="replace").splitlines():
            found = _INCLUDE_RE.match(line)
            if found:
                add(file.parent / found.group(1))

    add(path)
    return digest.hexdigest()
