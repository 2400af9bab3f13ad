"""Install a Node.js function's production dependencies for its target.

The lock is installed with ``npm ci --omit=dev --os=linux --cpu=… --libc=glibc
--ignore-scripts --install-links`` in a staging copy of the function's
package.json, lock and local packages (never in the user's tree: ``npm ci``
deletes ``node_modules``), so per-platform optional packages are the
target's, ``file:`` packages are real copies, and no lifecycle script builds
or fetches anything for the host. pnpm and yarn locks are installed by
their own (pinned) tools (lambdapack.node.managers). Then the tree is made
machine-independent: npm's state files, ``.bin`` links and other platforms'
prebuilt binaries go, symlinks inside the tree become copies.

A package that needs its install script (a ``binding.gyp`` with no prebuilt
binary for the target, ``prebuild-install`` …) is an error naming it, and so
is a lock that lacks the target's platform packages (written by an npm that
recorded only its own platform's).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from lambdapack import elf, processes
from lambdapack.errors import InstallError
from lambdapack.node.lock import Layout, local_packages, read_json, read_manifest
from lambdapack.node.managers import materialize_symlinks, prune_foreign, remove_state
from lambdapack.node.target import CPU, prebuild_dir_matches
from lambdapack.node.tools import NodeTools
from lambdapack.runtimes import Target

#: Words in an install script that mean it builds or fetches a native addon.
_NATIVE_TOOLS = ("node-gyp", "prebuild-install", "node-pre-gyp", "cmake-js", "napi-build", "node-gyp-build")
_SCRIPTS = ("preinstall", "install", "postinstall")
_COPY_IGNORE = shutil.ignore_patterns("node_modules", ".git")


def install(
    layout: Layout,
    lock: Path,
    target: Target,
    dest: Path,
    tools: NodeTools,
    *,
    allow_scripts: Sequence[str],
    project_root: Path,
    npm_cache: Path,
    environ: Mapping[str, str],
    sdists: str = "pure",
    build_image: str | None = None,
    container_network: bool = False,
) -> list[str]:
    """Install ``lock`` (a lock of ``layout``) for ``target`` into
    ``dest/node_modules``; with ``sdists = "container"``, addons without a
    prebuilt binary are compiled in ``build_image`` (lambdapack.node.addons).
    Returns a note per compiled package."""
    stage_base = dest.parent / (dest.name + ".stage")
    stage_dir = stage(layout, lock, stage_base, project_root)
    env = tools.env(environ)
    env["npm_config_cache"] = str(npm_cache)
    cpu = CPU[target.architecture.name]
    if layout.manager == "npm":
        _npm_ci(layout, stage_dir, tools, cpu, env)
    else:
        from lambdapack.node import managers

        managers.install(
            managers.lock_kind(stage_dir) or layout.manager,
            stage_dir,
            cpu=cpu,
            tools=tools,
            tool_cache=npm_cache.parent / "node-tools",
            environ=env,
        )
    tree = stage_dir / "node_modules"
    tree.mkdir(exist_ok=True)
    if allow_scripts:  # in the whole installed tree, before a workspace member's closure is taken
        _rebuild(allow_scripts, tree, stage_dir, tools, cpu, env)
    notes = []
    unbuilt = _unbuilt(tree, target, allow_scripts)
    if unbuilt and sdists == "container":
        from lambdapack.container import default_image
        from lambdapack.node import addons

        image = build_image or default_image(target)
        names = [name for _label, name in unbuilt]
        image_id = addons.build(
            names, stage_dir, target, image=image, network=container_network, environ=environ
        )
        notes = [f"{label}: native addon compiled in {image} ({image_id[:19]})" for label, _name in unbuilt]
    if layout.member is not None:  # the member's own production closure, out of the whole workspace's
        tree = _closure(stage_dir, layout.member, stage_base / "closure")
    materialize_symlinks(tree, within=stage_base)  # e.g. npm's links to staged file: packages
    _remove_foreign(tree, cpu)
    missing = _missing_platform_packages(tree, layout, stage_dir / layout.lock.name, cpu)
    if missing:
        raise InstallError(missing)
    _check_scripts(tree, target, allow_scripts)
    remove_state(tree)  # .bin links, .package-lock.json, other managers' state, at every level
    dest.mkdir(parents=True)
    tree.rename(dest / "node_modules")
    shutil.rmtree(stage_base, ignore_errors=True)
    return notes


def stage(layout: Layout, lock: Path | None, base: Path, project_root: Path) -> Path:
    """A copy of what a package manager needs to install ``layout``: its
    package.json(s), ``lock`` (when given), registry config and local
    packages, at the same relative places under ``base`` (``file:`` paths
    stay valid); returns the directory to run the package manager in."""
    shutil.rmtree(base, ignore_errors=True)
    anchor = _anchor(layout, project_root)
    directory = base / layout.root.relative_to(anchor)
    directory.mkdir(parents=True)
    shutil.copyfile(layout.root / "package.json", directory / "package.json")
    if lock is not None:
        shutil.copyfile(lock, directory / layout.lock.name)
    for extra in (".npmrc", ".yarnrc.yml", "pnpm-workspace.yaml"):
        if (layout.root / extra).is_file():
            shutil.copyfile(layout.root / extra, directory / extra)
    for local in local_packages(layout):
        if not local.is_relative_to(anchor):
            raise InstallError(f"{layout.package_json}: local package {local} is outside {anchor}")
        shutil.copytree(local, base / local.relative_to(anchor), ignore=_COPY_IGNORE, dirs_exist_ok=True)
    if layout.member is not None:
        (directory / layout.member).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(layout.package_json, directory / layout.member / "package.json")
    return directory


def _anchor(layout: Layout, project_root: Path) -> Path:
    """The directory the staging copy mirrors: the project root, or higher
    when the lock's directory or a local package lies outside it."""
    paths = [layout.root, *local_packages(layout)]
    return Path(os.path.commonpath([project_root, *paths]))


def _npm_ci(layout: Layout, stage: Path, tools: NodeTools, cpu: str, env: dict[str, str]) -> None:
    args = [
        "ci",
        "--omit=dev",
        "--os=linux",
        f"--cpu={cpu}",
        "--libc=glibc",
        "--ignore-scripts",
        "--no-bin-links",
        "--no-audit",
        "--no-fund",
    ]
    # file: packages as copies, as the lock says: a lock written with --install-links (as
    # lambdapack lock does) has them as packages; one written without has links, made copies later
    args.append("--install-links=false" if _has_links(stage / layout.lock.name) else "--install-links")
    if layout.member is not None:
        args += ["--workspace", layout.member, "--include-workspace-root=false"]
    result = processes.run(tools.npm(*args), cwd=stage, env=env)
    if result.returncode != 0:
        raise InstallError(f"{layout.lock}: npm ci failed for linux {cpu}: {npm_error(result.stderr)}")


def _has_links(lock: Path) -> bool:
    packages = read_json(lock).get("packages") if lock.is_file() else None
    return isinstance(packages, dict) and any(
        isinstance(e, dict) and e.get("link") for e in packages.values()
    )


def npm_error(stderr: str) -> str:
    lines = [line.removeprefix("npm error ").strip() for line in stderr.splitlines()]
    useful = [line for line in lines if line and not line.startswith(("A complete log", "npm error"))]
    return "; ".join(useful[:4]) or "(no message)"


def _closure(root: Path, member: str, out: Path) -> Path:
    """Copy the packages ``member`` needs at run time (its dependencies and
    optional dependencies, transitively, found as Node.js finds them: in
    ``node_modules`` directories up from each package's real place) into
    ``out/node_modules``, laid out as seen from the member; returns that tree."""
    start = (root / member).resolve()
    anchors = {start: Path(), root.resolve(): Path()}  # real place → place in the zip
    seen: dict[Path, Path] = {}
    queue = [start]
    while queue:
        package = queue.pop()
        manifest = _manifest(package)
        for field in ("dependencies", "optionalDependencies"):
            deps = manifest.get(field)
            for name in deps if isinstance(deps, dict) else ():
                found = _find(package, name, root)
                if found is None:
                    continue  # an optional dependency for another platform
                real = found.resolve()
                if real in seen:
                    continue
                if not any(
                    real.is_relative_to(a) and "node_modules" in real.relative_to(a).parts for a in anchors
                ):
                    anchors[real] = Path("node_modules", name)  # a linked workspace package
                seen[real] = _place(real, anchors)
                queue.append(real)
    for real, place in sorted(seen.items(), key=lambda item: item[1]):
        shutil.copytree(real, out / place, ignore=_COPY_IGNORE, symlinks=False, dirs_exist_ok=True)
    (out / "node_modules").mkdir(parents=True, exist_ok=True)
    return out / "node_modules"


def _find(package: Path, name: str, root: Path) -> Path | None:
    """Where Node.js finds ``name`` from ``package``: ``node_modules/name`` in
    the package's directory or any parent, up to the workspace root."""
    directory = package
    while True:
        candidate = directory / "node_modules" / name
        if (candidate / "package.json").is_file():
            return candidate
        if directory == root or directory.parent == directory or not directory.is_relative_to(root):
            return None
        directory = directory.parent


def _place(real: Path, anchors: Mapping[Path, Path]) -> Path:
    """A package's place in the zip: its path below the innermost anchor it lies in."""
    best = max((a for a in anchors if real.is_relative_to(a)), key=lambda a: len(a.parts))
    if best == real:
        return anchors[best]
    return anchors[best] / real.relative_to(best)


def packages(tree: Path) -> list[Path]:
    """Every installed package directory under a node_modules tree (nested ones too)."""
    found: list[Path] = []
    if not tree.is_dir():
        return found
    for entry in sorted(tree.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.name.startswith("@") and entry.is_dir():
            candidates = sorted(p for p in entry.iterdir() if p.is_dir())
        else:
            candidates = [entry] if entry.is_dir() else []
        for package in candidates:
            if (package / "package.json").is_file():
                found.append(package)
                found.extend(packages(package / "node_modules"))
    return found


def _manifest(package: Path) -> dict[str, object]:
    return read_manifest(package / "package.json") or {}


def _label(package: Path, manifest: Mapping[str, object]) -> str:
    return f"{manifest.get('name') or package.name}@{manifest.get('version') or '?'}"


def _remove_foreign(tree: Path, cpu: str) -> None:
    """Remove installed packages for another os/cpu/libc (a safety net: the
    package managers already select) and prebuilt binaries of other platforms
    that packages ship side by side (``prebuilds/darwin-x64/…``)."""
    prune_foreign(tree, cpu=cpu)
    for package in packages(tree):
        for prebuilds in package.glob("**/prebuilds"):
            if "node_modules" in prebuilds.relative_to(package).parts or not prebuilds.is_dir():
                continue
            for entry in sorted(prebuilds.iterdir()):
                keep = entry.is_dir() and prebuild_dir_matches(entry.name, cpu)
                if not keep:
                    _remove(entry)
                    continue
                for file in sorted(entry.iterdir()):
                    if "musl" in file.name:
                        _remove(file)


def _missing_platform_packages(tree: Path, layout: Layout, lock: Path, cpu: str) -> str | None:
    """Optional platform packages an installed package declares for this
    target that the lock does not contain (an old npm's lock written on
    another OS), as the error to report."""
    installed = {_manifest(p).get("name") for p in packages(tree)}
    lock_names: set[str] = set()
    if layout.manager == "npm" and lock.is_file():
        lock_packages = read_json(lock).get("packages")
        if isinstance(lock_packages, dict):
            lock_names = {k.rsplit("node_modules/", 1)[-1] for k in lock_packages if "node_modules/" in k}
    missing: list[str] = []
    owners: list[str] = []
    for package in packages(tree):
        manifest = _manifest(package)
        optional = manifest.get("optionalDependencies")
        if not isinstance(optional, dict):
            continue
        wanted = [n for n in optional if n not in installed and _names_target(n, cpu)]
        if layout.manager == "npm":
            wanted = [n for n in wanted if n not in lock_names]
        if wanted:
            missing.extend(wanted)
            owners.append(_label(package, manifest))
    if not missing:
        return None
    return (
        f"{layout.lock}: has no entry for {', '.join(sorted(set(missing)))} (the linux {cpu} binaries of "
        f"{', '.join(owners)}): the lock was written by a package manager that recorded only its own "
        "platform's optional packages (npm before 10 on macOS or Windows does this); write it again with "
        f"npm 10 or later: delete {layout.lock.name} and run `lambdapack lock`"
    )


def _names_target(name: str, cpu: str) -> bool:
    """Whether a platform package's name says it is for linux/cpu/glibc (the
    conventions of sharp, napi-rs and esbuild: ``*-linux-arm64``, ``*-linux-arm64-gnu``)."""
    words = name.replace("/", "-").replace("_", "-").split("-")
    aliases = {"arm64": {"arm64", "aarch64"}, "x64": {"x64", "amd64"}}[cpu]
    return "linux" in words and bool(aliases.intersection(words)) and "musl" not in words


def _check_scripts(tree: Path, target: Target, allow: Sequence[str]) -> None:
    """An error for each package whose native addon only its (unrun)
    lifecycle script would have built or fetched."""
    problems = [label for label, _name in _unbuilt(tree, target, allow)]
    if problems:
        raise InstallError(
            f"{', '.join(problems)}: needs its install script to build or download a native addon "
            f"for linux {target.architecture.name}, and lambdapack runs no dependency install scripts "
            "(they build for the host); use a version that ships prebuilt binaries for the target "
            "(as optional platform packages or prebuilds/), or compile it in the runtime's build "
            'image: sdists = "container" (docs/containers.md)'
        )


def _unbuilt(tree: Path, target: Target, allow: Sequence[str]) -> list[tuple[str, str]]:
    """(label, name) of each package whose native addon for the target only
    its (unrun) lifecycle script would build or fetch."""
    found: list[tuple[str, str]] = []
    for package in packages(tree):
        manifest = _manifest(package)
        scripts = manifest.get("scripts")
        scripts = scripts if isinstance(scripts, dict) else {}
        present = {k: str(v) for k, v in scripts.items() if k in _SCRIPTS}
        gyp = (package / "binding.gyp").is_file()
        if gyp and "install" not in present and "preinstall" not in present:
            present["install"] = "node-gyp rebuild"  # npm's implicit install script
        if not present:
            continue
        name = str(manifest.get("name") or package.name)
        if name in allow:
            continue
        native = gyp or any(tool in text for text in present.values() for tool in _NATIVE_TOOLS)
        if native and not _has_addon(package, tree, manifest, target):
            found.append((_label(package, manifest), name))
    return found


def _has_addon(package: Path, tree: Path, manifest: Mapping[str, object], target: Target) -> bool:
    """Whether the package, or one of its installed optional platform
    packages, ships a ``.node`` addon for the target machine."""
    places = [package]
    optional = manifest.get("optionalDependencies")
    if isinstance(optional, dict):
        places += [tree / name for name in optional if (tree / name).is_dir()]
    for place in places:
        for addon in place.rglob("*.node"):
            with addon.open("rb") as f:
                head = f.read(elf.HEAD_SIZE)
            if elf.machine(head) == target.architecture.elf_machine:
                return True
    return False


def _rebuild(
    names: Sequence[str], tree: Path, stage: Path, tools: NodeTools, cpu: str, env: dict[str, str]
) -> None:
    """Run the allowed packages' lifecycle scripts (``npm rebuild``)."""
    installed = {str(_manifest(p).get("name")) for p in packages(tree)}
    present = [n for n in names if n in installed]
    if not present:
        return
    args = ["rebuild", *present, "--ignore-scripts=false", "--no-bin-links"]
    args += ["--os=linux", f"--cpu={cpu}", "--libc=glibc"]
    result = processes.run(tools.npm(*args), cwd=stage, env=env)
    if result.returncode != 0:
        raise InstallError(
            f"allow_scripts: the install scripts of {', '.join(present)} failed: {npm_error(result.stderr)}"
        )


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
