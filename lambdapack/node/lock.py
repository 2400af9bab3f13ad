"""A Node.js function's package.json and lock file: which lock applies (its
own, or its workspace root's), whether it is current, and the local
(``file:``/workspace) packages it points at.

npm's lock (``package-lock.json`` / ``npm-shrinkwrap.json``, lockfileVersion
2 or 3) records every platform's optional packages, so one lock serves every
target: unlike Python's, a Node.js lock is not per target. ``pnpm-lock.yaml``
and ``yarn.lock`` are honoured as they are (lambdapack.node.managers).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lambdapack.errors import ConfigError

NPM_LOCKS = ("npm-shrinkwrap.json", "package-lock.json")
OTHER_LOCKS = {"pnpm-lock.yaml": "pnpm", "yarn.lock": "yarn"}
#: Fields of package.json a lock is a resolution of (npm ci compares them with the lock).
_DEPENDENCY_FIELDS = ("dependencies", "optionalDependencies", "devDependencies", "peerDependencies")
#: Fields that change what is installed besides the dependencies themselves.
_INSTALL_FIELDS = (
    *_DEPENDENCY_FIELDS,
    "overrides",
    "bundleDependencies",
    "bundledDependencies",
    "workspaces",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Layout:
    """Where a function's dependencies are declared and locked."""

    package_json: Path  # the function's own
    root: Path  # the directory npm runs in: the function's, or its workspace root
    lock: Path  # the lock file (may not exist yet: then npm's lock is written there)
    manager: str  # "npm", "pnpm" or "yarn"
    member: str | None  # the function's workspace path relative to root ("packages/api"), or None

    @property
    def lock_exists(self) -> bool:
        return self.lock.is_file()


def read_json(path: Path) -> dict[str, object]:
    """A JSON object from a file, or a ConfigError naming the file (relative
    to the current directory when it lies below it)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError([f"{_shown(path)}: cannot read: {exc.strerror}"]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{_shown(path)}: not valid JSON: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{_shown(path)}: must hold a JSON object"])
    return data


def read_manifest(path: Path) -> dict[str, object] | None:
    """An installed package's ``package.json`` (None: unreadable or not an object)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _shown(path: Path) -> str:
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


def layout(package_json: Path, *, project_root: Path) -> Layout:
    """The function's lock: beside its package.json, else at the workspace
    root (inside the project) that lists it as a member, else npm's lock
    beside package.json (to be written)."""
    directory = package_json.parent
    own = _lock_in(directory)
    if own is not None:
        return Layout(package_json=package_json, root=directory, lock=own[0], manager=own[1], member=None)
    for parent in directory.parents:
        if not parent.is_relative_to(project_root) and parent != project_root:
            break
        manifest = parent / "package.json"
        if manifest.is_file() and _is_member(read_json(manifest), parent, directory):
            found = _lock_in(parent)
            lock, manager = found if found else (parent / "package-lock.json", "npm")
            member = directory.relative_to(parent).as_posix()
            return Layout(package_json=package_json, root=parent, lock=lock, manager=manager, member=member)
        if parent == project_root:
            break
    return Layout(
        package_json=package_json,
        root=directory,
        lock=directory / "package-lock.json",
        manager="npm",
        member=None,
    )


def _lock_in(directory: Path) -> tuple[Path, str] | None:
    for name in NPM_LOCKS:
        if (directory / name).is_file():
            return directory / name, "npm"
    for name, manager in OTHER_LOCKS.items():
        if (directory / name).is_file():
            return directory / name, manager
    return None


def _is_member(root_manifest: dict[str, object], root: Path, directory: Path) -> bool:
    patterns = workspace_patterns(root_manifest)
    rel = directory.relative_to(root).as_posix()
    return any(fnmatch.fnmatchcase(rel, p.rstrip("/").removeprefix("./")) for p in patterns)


def workspace_members(root: Path) -> list[str]:
    """The workspace members of the project at ``root`` (directories, relative,
    that match its ``workspaces`` patterns and hold a package.json)."""
    found: set[str] = set()
    for pattern in workspace_patterns(read_json(root / "package.json")):
        for match in root.glob(pattern.rstrip("/").removeprefix("./")):
            if (match / "package.json").is_file() and "node_modules" not in match.relative_to(root).parts:
                found.add(match.relative_to(root).as_posix())
    return sorted(found)


def workspace_patterns(manifest: dict[str, object]) -> list[str]:
    spaces = manifest.get("workspaces")
    if isinstance(spaces, dict):  # yarn's {"packages": [...]}
        spaces = spaces.get("packages")
    if isinstance(spaces, list):
        return [p for p in spaces if isinstance(p, str)]
    return []


def install_fields(manifest: dict[str, object]) -> dict[str, object]:
    return {name: manifest[name] for name in _INSTALL_FIELDS if name in manifest}


def input_digest(layout_: Layout) -> str:
    """The hash of what a lock of this function is a resolution of: the
    install fields of its package.json (and of the workspace root's)."""
    parts = [install_fields(read_json(layout_.package_json))]
    if layout_.member is not None:
        parts.append(install_fields(read_json(layout_.root / "package.json")))
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def has_dependencies(package_json: Path) -> bool:
    manifest = read_json(package_json)
    return any(isinstance(manifest.get(f), dict) and manifest.get(f) for f in _DEPENDENCY_FIELDS[:2])


def lock_status(layout_: Layout) -> str | None:
    """None when the lock is a resolution of the current package.json(s), else why not."""
    if not layout_.lock_exists:
        return "missing"
    if layout_.manager != "npm":
        return None  # pnpm and yarn check their own lock (--frozen-lockfile) when installing
    lock = read_json(layout_.lock)
    if lock.get("lockfileVersion") not in (2, 3):
        return f"lockfileVersion {lock.get('lockfileVersion')!r} (npm 7+ writes 2 or 3)"
    packages = lock.get("packages")
    if not isinstance(packages, dict):
        return "not an npm lock (no 'packages')"
    linked = _linked_without_dependencies(packages, layout_)
    if linked:
        return (
            f"out of date: it links the file: package(s) {', '.join(linked)} without their dependencies "
            "(npm's default); lambdapack installs them as copies with their dependencies (--install-links)"
        )
    keys = [("", layout_.root / "package.json")]
    if layout_.member is not None:  # npm ci checks every member of the workspace against the lock
        locked = {k for k in packages if k and "node_modules/" not in k}
        for member in workspace_members(layout_.root):
            if member not in locked:
                return f"out of date: it has no entry for {member}"
        keys += [(k, layout_.root / k / "package.json") for k in sorted(locked)]
    for key, manifest_path in keys:
        entry = packages.get(key)
        if not isinstance(entry, dict):
            return f"out of date: it has no entry for {key or 'the root package'}"
        if not manifest_path.is_file():
            return f"out of date: it lists {key}, which has no package.json"
        manifest = read_json(manifest_path)
        for name in _DEPENDENCY_FIELDS:
            want = manifest.get(name) or {}
            have = entry.get(name) or {}
            if want != have:
                where = os.path.relpath(manifest_path, layout_.root)
                return f"out of date: {where} {name} differ from the lock's"
    return None


def _linked_without_dependencies(packages: dict[str, object], layout_: Layout) -> list[str]:
    """file: packages the lock links (not workspace members) that have
    dependencies of their own: npm installs none of those for a link."""
    members = set(workspace_members(layout_.root)) if layout_.member is not None else set()
    found = []
    for key, entry in packages.items():
        if not isinstance(entry, dict) or not entry.get("link"):
            continue
        target = packages.get(str(entry.get("resolved")))
        if entry.get("resolved") not in members and isinstance(target, dict) and target.get("dependencies"):
            found.append(key.rsplit("node_modules/", 1)[-1])
    return sorted(found)


def local_packages(layout_: Layout, *, reachable: bool = False) -> list[Path]:
    """Directories of ``file:``/workspace packages the lock installs (absolute),
    the function's own directory excepted; with ``reachable``, only those the
    function depends on (directly or through other packages)."""
    if layout_.manager != "npm" or not layout_.lock_exists:
        return _local_specs(layout_)
    packages = read_json(layout_.lock).get("packages")
    if not isinstance(packages, dict):
        return []
    local = {k for k in packages if k and not k.startswith("node_modules/") and "/node_modules/" not in k}
    # installed as copies (--install-links): a node_modules entry resolved from a file: path
    copies = {
        key: entry["resolved"].removeprefix("file:")
        for key, entry in packages.items()
        if isinstance(entry, dict) and str(entry.get("resolved", "")).startswith("file:")
    }
    if reachable:
        reached = _reached(packages, layout_.member or "")
        local &= reached
        copies = {k: v for k, v in copies.items() if k in reached}
    found = {(layout_.root / key).resolve() for key in local}
    found |= {(layout_.root / path).resolve() for path in copies.values()}
    found.discard(layout_.package_json.parent.resolve())
    return sorted(found)


def _reached(packages: dict[str, object], start: str) -> set[str]:
    """The lock keys reached from ``start`` through dependencies, resolved as
    npm lays them out (``node_modules/NAME`` up from each package's key);
    links are followed to the package they point at."""
    seen: set[str] = set()
    queue = [start]
    while queue:
        key = queue.pop()
        entry = packages.get(key)
        if key in seen or not isinstance(entry, dict):
            continue
        seen.add(key)
        if entry.get("link") and isinstance(entry.get("resolved"), str):
            queue.append(entry["resolved"])
            continue
        for field in ("dependencies", "optionalDependencies", "peerDependencies"):
            deps = entry.get(field)
            for name in deps if isinstance(deps, dict) else ():
                base = key
                while True:
                    candidate = f"{base}/node_modules/{name}" if base else f"node_modules/{name}"
                    if candidate in packages:
                        queue.append(candidate)
                        break
                    if not base:
                        break
                    base = base.rsplit("/node_modules/", 1)[0] if "/node_modules/" in base else ""
    return seen


def _local_specs(layout_: Layout) -> list[Path]:
    """Local packages from package.json (no lock yet): ``file:``/``link:``
    dependencies, and for a workspace member every member of the workspace
    (npm resolves the workspace as a whole)."""
    manifest = read_json(layout_.package_json)
    found = set()
    if layout_.member is not None:
        found |= {(layout_.root / m).resolve() for m in workspace_members(layout_.root)}
        found.discard(layout_.package_json.parent.resolve())
    for name in _DEPENDENCY_FIELDS[:2]:
        deps = manifest.get(name)
        if isinstance(deps, dict):
            for spec in deps.values():
                if isinstance(spec, str) and spec.startswith(("file:", "link:")):
                    found.add((layout_.package_json.parent / spec.split(":", 1)[1]).resolve())
    return sorted(p for p in found if p.is_dir())
