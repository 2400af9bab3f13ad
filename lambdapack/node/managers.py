"""Installing a Node.js function's production dependencies from a pnpm or
yarn lock file, for a Lambda target (linux, x64 or arm64, glibc).

The package managers are pinned: each is installed once from the npm registry
(its tarball's integrity checked against the pin below) into
``tool_cache/<name>-<version>/`` and run as ``node <its JS entry>``, never
through corepack or a global installation. Every run gets the same
environment: the user's home, XDG directories and ``npm_config_*`` /
``YARN_*`` / ``PNPM_*`` variables are replaced by a private home and caches
inside the tool cache (shared by every build, so downloads happen once); only
the project's own ``.npmrc`` / ``.yarnrc.yml`` / ``pnpm-workspace.yaml`` in
the stage is read.

What every manager must give, checked after it ran (the contract the zip
relies on): ``stage/node_modules`` laid out as npm lays it out (hoisted),
with no devDependencies, no package of another platform (:func:`prune_foreign`
is the safety net behind each manager's own filter), no lifecycle script run,
no ``.bin`` directory, no package-manager state file and no symlink.

How each keeps the lock and the target:

- pnpm: ``install --frozen-lockfile --prod --ignore-scripts --os linux --cpu
  <cpu> --libc glibc`` with ``node-linker=hoisted`` and
  ``package-import-method=copy`` (no hard links into the store).
- Yarn classic (1.x): ``install --frozen-lockfile --production
  --ignore-scripts``; it filters by the *host* platform only, so it runs with
  ``--ignore-platform`` and :func:`prune_foreign` removes what the target
  cannot use (and what only those packages needed).
- Yarn berry (2+): ``workspaces focus --production`` with ``nodeLinker:
  node-modules`` and ``supportedArchitectures`` in a private yarnrc. ``focus``
  ignores ``--immutable``, so the lock is checked first by a resolution-only
  run (``install --mode=update-lockfile``) that must leave yarn.lock
  byte-for-byte unchanged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdapack.errors import InstallError, ToolError, os_error, tool_details
from lambdapack.node.lock import read_manifest
from lambdapack.node.target import selects
from lambdapack.node.tools import NodeTools
from lambdapack.processes import run

#: pnpm 10 is the newest line that runs on Node.js 18.12+ (pnpm 11 needs Node.js 22.13).
PNPM_VERSION = "10.34.9"
YARN_CLASSIC_VERSION = "1.22.22"
YARN_BERRY_VERSION = "4.18.1"

#: Lock file kinds, as :func:`lock_kind` names them.
KINDS = ("pnpm", "yarn-classic", "yarn-berry")

#: The target's libc on Lambda (Amazon Linux 2 and 2023).
_LIBC = "glibc"
_CPUS = ("x64", "arm64")


@dataclass(frozen=True, kw_only=True, slots=True)
class _Manager:
    package: str  # on the npm registry
    version: str
    integrity: str  # the registry tarball's dist.integrity
    entry: str  # JS entry, relative to the package
    directory: str  # tool_cache/<directory>-<version>

    @property
    def home(self) -> str:
        return f"{self.directory}-{self.version}"


_PNPM = _Manager(
    package="pnpm",
    version=PNPM_VERSION,
    integrity="sha512-9JtajqD97bRLs8DB1ldQkqU8KVDZW3rRXfEfF5dId6LeOgHAfpNOmyjOcW5RwJqUlixzBtCb4uHksYqMh2L9Mg==",
    entry="bin/pnpm.cjs",
    directory="pnpm",
)
_YARN_CLASSIC = _Manager(
    package="yarn",
    version=YARN_CLASSIC_VERSION,
    integrity="sha512-prL3kGtyG7o9Z9Sv8IPfBNrWTDmXB4Qbes8A9rEzt6wkJV8mUvoirjU0Mp3GGAU06Y0XQyA3/2/RQFVuK7MTfg==",
    entry="bin/yarn.js",
    directory="yarn",
)
_YARN_BERRY = _Manager(
    package="@yarnpkg/cli-dist",
    version=YARN_BERRY_VERSION,
    integrity="sha512-EH+A4TxAtBWXKE0DGQxW9Bo9crXHLJ73mfxjTQJuv8XonNWWTpei8BQ5JjczHJNU9GROTycwMFn8iOvRIZXUcA==",
    entry="bin/yarn.js",
    directory="yarn",
)

#: Variables of the caller's environment that would change what a manager does.
_FOREIGN_CONFIG = re.compile(r"(?i)^(npm_config_|yarn_|pnpm_|berry_|corepack_)")
#: The yarnrc name berry runs with (YARN_RC_FILENAME): written into the stage, removed after.
_BERRY_RC = ".lambdapack-yarnrc.yml"
#: Top-level keys of the project's .yarnrc.yml that lambdapack decides (or that
#: point at files the stage does not hold: plugins, yarnPath).
_BERRY_OWN_KEYS = frozenset({"supportedArchitectures", "plugins", "yarnPath", "nodeLinker", "enableScripts"})


def version(kind: str) -> str:
    """The pinned version of the manager that installs a lock of ``kind``."""
    return {"pnpm": PNPM_VERSION, "yarn-classic": YARN_CLASSIC_VERSION, "yarn-berry": YARN_BERRY_VERSION}[
        kind
    ]


def lock_kind(directory: Path) -> str | None:
    """``"pnpm"``, ``"yarn-classic"`` or ``"yarn-berry"`` for the lock file in
    ``directory`` (pnpm-lock.yaml first, then yarn.lock), or None."""
    if (directory / "pnpm-lock.yaml").is_file():
        return "pnpm"
    yarn_lock = directory / "yarn.lock"
    if not yarn_lock.is_file():
        return None
    try:
        with yarn_lock.open("r", encoding="utf-8", errors="replace") as stream:
            head = stream.read(1 << 16)
    except OSError as exc:
        raise os_error(exc, "cannot read the lock file") from None
    # Berry locks are YAML with a __metadata block; classic ones never have one.
    return "yarn-berry" if re.search(r"^__metadata:", head, re.MULTILINE) else "yarn-classic"


def install(
    kind: str, stage: Path, *, cpu: str, tools: NodeTools, tool_cache: Path, environ: Mapping[str, str]
) -> None:
    """Install the production dependencies of ``stage/package.json`` exactly as
    its lock file says into ``stage/node_modules``, for linux/``cpu``/glibc."""
    if cpu not in _CPUS:
        raise ValueError(f"cpu must be one of {_CPUS}, not {cpu!r}")
    installers: dict[str, Callable[[Path, str, _Context], None]] = {
        "pnpm": _install_pnpm,
        "yarn-classic": _install_yarn_classic,
        "yarn-berry": _install_yarn_berry,
    }
    installer = installers.get(kind)
    if installer is None:
        raise ValueError(f"unknown lock kind {kind!r}; expected one of {KINDS}")
    try:
        tool_cache.mkdir(parents=True, exist_ok=True)
        context = _Context(tools=tools, tool_cache=tool_cache, env=_environment(tools, tool_cache, environ))
        shutil.rmtree(stage / "node_modules", ignore_errors=True)
        installer(stage, cpu, context)
        node_modules = stage / "node_modules"
        if not node_modules.is_dir():
            node_modules.mkdir()  # no dependencies at all
        remove_state(node_modules)
        materialize_symlinks(node_modules)
        prune_foreign(node_modules, cpu=cpu)
    except OSError as exc:
        raise os_error(exc, "installing Node.js dependencies") from None


# -- the managers ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Context:
    tools: NodeTools
    tool_cache: Path
    env: dict[str, str]


def _install_pnpm(stage: Path, cpu: str, context: _Context) -> None:
    entry = _ensure_manager(_PNPM, context)
    cache = context.tool_cache
    env = dict(context.env)
    # The stage is the workspace root: pnpm must not look for pnpm-workspace.yaml above it.
    env["NPM_CONFIG_WORKSPACE_DIR"] = str(stage)
    command = [
        str(context.tools.node), str(entry), "install",
        "--frozen-lockfile", "--prod", "--ignore-scripts",
        "--os", "linux", "--cpu", cpu, "--libc", _LIBC,
        "--config.node-linker=hoisted",
        "--package-import-method=copy",  # never hard links into the shared store
        "--config.side-effects-cache=false",
        "--config.manage-package-manager-versions=false",  # no switch to "packageManager"'s pnpm
        "--config.package-manager-strict=false",
        "--config.confirm-modules-purge=false",
        "--config.update-notifier=false",
        f"--store-dir={cache / 'pnpm-store'}",
        f"--cache-dir={cache / 'pnpm-cache'}",
        "--reporter=append-only",
    ]  # fmt: skip
    originals = _without_pnpm_architectures(stage)
    try:
        result = run(command, cwd=stage, env=env)
    finally:
        for path, data in originals.items():
            path.write_bytes(data)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        if "ERR_PNPM_OUTDATED_LOCKFILE" in output or "ERR_PNPM_LOCKFILE_CONFIG_MISMATCH" in output:
            raise InstallError(
                "pnpm-lock.yaml does not match package.json; run `pnpm install` and commit pnpm-lock.yaml",
                details=tool_details(command, output),
            )
        raise InstallError(
            f"pnpm install failed: {_last_error(output)}", details=tool_details(command, output)
        )


def _install_yarn_classic(stage: Path, cpu: str, context: _Context) -> None:
    del cpu  # Yarn 1 knows only the host platform: everything is installed, then pruned.
    entry = _ensure_manager(_YARN_CLASSIC, context)
    env = dict(context.env)
    env["SKIP_YARN_COREPACK_CHECK"] = "1"
    command = [
        str(context.tools.node), str(entry), "install",
        "--frozen-lockfile", "--production", "--ignore-scripts",
        "--ignore-platform",  # prune_foreign() then keeps the target's packages only
        "--ignore-engines",  # like npm, which only warns
        "--no-bin-links", "--non-interactive", "--no-progress", "--silent",
        f"--cache-folder={context.tool_cache / 'yarn-classic-cache'}",
    ]  # fmt: skip
    result = run(command, cwd=stage, env=env)
    (stage / "yarn-error.log").unlink(missing_ok=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        if "Your lockfile needs to be updated" in output:
            raise InstallError(
                "yarn.lock does not match package.json; run `yarn install` (Yarn 1) and commit yarn.lock",
                details=tool_details(command, output),
            )
        raise InstallError(
            f"yarn (1.x) install failed: {_last_error(output)}", details=tool_details(command, output)
        )


def _install_yarn_berry(stage: Path, cpu: str, context: _Context) -> None:
    entry = _ensure_manager(_YARN_BERRY, context)
    had_yarn_dir = (stage / ".yarn").exists()
    env = dict(context.env)
    env.update(
        {
            # Our own rc file name: the project's .yarnrc.yml is read through it
            # (see _berry_rc), and no .yarnrc.yml above the stage or in a home is.
            "YARN_RC_FILENAME": _BERRY_RC,
            "YARN_IGNORE_PATH": "1",  # the pinned yarn, not the project's yarnPath
            "YARN_GLOBAL_FOLDER": str(context.tool_cache / "yarn-berry"),
            "YARN_ENABLE_GLOBAL_CACHE": "1",
            "YARN_NODE_LINKER": "node-modules",
            "YARN_NM_MODE": "classic",  # copies, not hard links into the global store
            "YARN_NM_HOISTING_LIMITS": "none",
            "YARN_NM_SELF_REFERENCES": "0",
            "YARN_ENABLE_SCRIPTS": "0",
            "YARN_ENABLE_TELEMETRY": "0",
            "YARN_ENABLE_PROGRESS_BARS": "0",
            "YARN_ENABLE_COLORS": "0",
            "YARN_ENABLE_HYPERLINKS": "0",
            "YARN_ENABLE_MESSAGE_NAMES": "1",
            "YARN_CHECKSUM_BEHAVIOR": "throw",
        }
    )
    rc = stage / _BERRY_RC
    lock = stage / "yarn.lock"
    manifest = stage / "package.json"
    original = lock.read_bytes()
    original_manifest = manifest.read_bytes()  # yarn rewrites it in its own format
    try:
        rc.write_text(_berry_rc(stage, cpu), encoding="utf-8")
        # 1. The lock must already say everything: a resolution-only run may not change it.
        check = [str(context.tools.node), str(entry), "install", "--mode=update-lockfile"]
        result = run(check, cwd=stage, env=env | {"YARN_ENABLE_IMMUTABLE_INSTALLS": "0"})
        changed = lock.read_bytes() != original
        lock.write_bytes(original)
        output = result.stdout + result.stderr
        if result.returncode == 0 and changed:
            raise InstallError(
                "yarn.lock does not match package.json; run `yarn install` and commit yarn.lock",
                details=tool_details(check, output),
            )
        if result.returncode != 0:
            raise InstallError(
                f"yarn (berry) could not read the lock: {_last_error(output)}",
                details=tool_details(check, output),
            )
        # 2. The production dependencies only (what `workspaces focus` is for).
        command = [str(context.tools.node), str(entry), "workspaces", "focus", "--production"]
        result = run(command, cwd=stage, env=env | {"YARN_ENABLE_IMMUTABLE_INSTALLS": "1"})
        lock.write_bytes(original)
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise InstallError(
                f"yarn (berry) install failed: {_last_error(output)}", details=tool_details(command, output)
            )
    finally:
        manifest.write_bytes(original_manifest)
        rc.unlink(missing_ok=True)
        (stage / ".yarn" / "install-state.gz").unlink(missing_ok=True)
        if not had_yarn_dir:
            shutil.rmtree(stage / ".yarn", ignore_errors=True)


def _berry_rc(stage: Path, cpu: str) -> str:
    """The project's .yarnrc.yml without the keys lambdapack decides, plus the target."""
    own = f"supportedArchitectures:\n  os: [linux]\n  cpu: [{cpu}]\n  libc: [{_LIBC}]\n"
    project = stage / ".yarnrc.yml"
    if not project.is_file():
        return own
    kept = _without_top_level_keys(project.read_text("utf-8"), _BERRY_OWN_KEYS)
    return kept.rstrip("\n") + "\n" + own if kept.strip() else own


def _without_top_level_keys(yaml: str, keys: frozenset[str]) -> str:
    """``yaml`` (block style, as these files are written) without the top-level
    entries named ``keys`` and everything indented below them."""
    kept: list[str] = []
    skipping = False
    for line in yaml.splitlines():
        top = re.match(r"""^["']?([A-Za-z0-9_-]+)["']?\s*:""", line)
        if top:
            skipping = top.group(1) in keys
        elif line and not line[0].isspace() and not line.startswith("#"):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept) + ("\n" if kept else "")


def _without_pnpm_architectures(stage: Path) -> dict[Path, bytes]:
    """Take ``supportedArchitectures`` out of the project's pnpm settings
    (package.json's "pnpm" field, pnpm-workspace.yaml): pnpm lets them win
    over --os/--cpu/--libc. Returns the files changed, with their bytes."""
    changed: dict[Path, bytes] = {}
    manifest = stage / "package.json"
    original = manifest.read_bytes()
    try:
        data = json.loads(original)
    except ValueError:
        data = None  # pnpm reports it
    settings = data.get("pnpm") if isinstance(data, dict) else None
    if isinstance(settings, dict) and "supportedArchitectures" in settings:
        del settings["supportedArchitectures"]
        changed[manifest] = original
        manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    workspace = stage / "pnpm-workspace.yaml"
    if workspace.is_file():
        text = workspace.read_text("utf-8")
        kept = _without_top_level_keys(text, frozenset({"supportedArchitectures"}))
        if kept != text and kept.rstrip("\n") != text.rstrip("\n"):
            changed[workspace] = workspace.read_bytes()
            workspace.write_text(kept, encoding="utf-8")
    return changed


# -- the managers themselves ----------------------------------------------------------------------


def _ensure_manager(manager: _Manager, context: _Context) -> Path:
    """The manager's JS entry, installed into the tool cache first if needed
    (into a temporary directory renamed into place, so that two builds doing
    it at once both end with one complete copy)."""
    home = context.tool_cache / manager.home
    entry = home / "node_modules" / manager.package / manager.entry
    if entry.is_file():
        return entry
    temporary = Path(tempfile.mkdtemp(prefix=f".{manager.home}.", dir=context.tool_cache))
    try:
        spec = f"{manager.package}@{manager.version}"
        command = context.tools.npm(
            "install", "--prefix", str(temporary), "--no-save", "--ignore-scripts", spec
        )
        result = run(command, cwd=temporary, env=context.env)
        if result.returncode != 0:
            output = result.stdout + result.stderr
            raise ToolError(
                f"cannot install {spec} from the npm registry: {_last_error(output)}",
                details=tool_details(command, output),
            )
        got = _installed_integrity(temporary, manager.package)
        if got != manager.integrity:
            raise ToolError(
                f"{spec} from the npm registry has integrity {got or '(none)'}, "
                f"not the pinned {manager.integrity}; check the registry configured for npm"
            )
        try:
            temporary.rename(home)
        except OSError:
            if not entry.is_file():  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return entry


def _installed_integrity(prefix: Path, package: str) -> str | None:
    try:
        data = json.loads((prefix / "node_modules" / ".package-lock.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    entry = data.get("packages", {}).get(f"node_modules/{package}", {}) if isinstance(data, dict) else {}
    integrity = entry.get("integrity") if isinstance(entry, dict) else None
    return integrity if isinstance(integrity, str) else None


def _environment(tools: NodeTools, tool_cache: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without its package-manager settings (but
    with its npm registry and user config), with a private home and shared
    caches in the tool cache."""
    home = tool_cache / "home"
    for sub in ("config", "cache", "data", "state"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = tools.env({k: v for k, v in environ.items() if not _FOREIGN_CONFIG.match(k)})
    # The user's registry settings and credentials stay (as for npm): a private registry works.
    user_home = Path(environ.get("HOME") or Path.home())
    userconfig = _lookup(environ, "npm_config_userconfig") or (
        str(user_home / ".npmrc") if (user_home / ".npmrc").is_file() else str(home / ".npmrc")
    )
    registry = _lookup(environ, "npm_config_registry")
    if registry:
        env["npm_config_registry"] = registry
    env.update(
        {
            "HOME": str(home),
            "USERPROFILE": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "state"),
            "npm_config_userconfig": userconfig,
            "npm_config_globalconfig": str(home / "npmrc-global"),
            "npm_config_cache": str(tool_cache / "npm-cache"),
            "COREPACK_ENABLE_STRICT": "0",
            "COREPACK_ENABLE_AUTO_PIN": "0",
        }
    )
    return env


def _lookup(environ: Mapping[str, str], name: str) -> str | None:
    """An npm setting from the environment, in either case (npm reads both)."""
    return environ.get(name) or environ.get(name.upper()) or None


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"(?i)\berr(or)?\b|ERR_|YN\d{4}.*(error|fail)", line):
            return line[:300]
    return lines[-1][:300] if lines else "(no output)"


# -- what every manager leaves ---------------------------------------------------------------------


def remove_state(node_modules: Path) -> None:
    """Remove every dot entry of every node_modules directory (no package name
    starts with a dot: these are .bin, .pnpm, .modules.yaml, .yarn-state.yml,
    .yarn-integrity, .package-lock.json …)."""
    for directory in list(_node_modules_dirs(node_modules)):
        for child in sorted(directory.iterdir()):
            if child.name.startswith("."):
                _remove(child)


def materialize_symlinks(node_modules: Path, within: Path | None = None) -> None:
    """Replace each symlink below node_modules by a copy of what it points at;
    a symlink that leads outside ``within`` (default: node_modules itself; for
    npm, the staging directory that holds the local packages) or nowhere is an error."""
    root = (within or node_modules).resolve()
    links: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(node_modules):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink():
                links.append(path)
    for link in links:
        target = link.resolve()
        if not target.exists() or not target.is_relative_to(root):
            where = link.relative_to(node_modules.parent)
            bound = "node_modules" if within is None else "the project"
            raise InstallError(
                f"{where} is a symlink to {link.readlink()}, outside {bound}; "
                "a Lambda package cannot hold it (a `link:`/`file:` dependency? publish or vendor it)"
            )
    for link in sorted(links, key=lambda p: len(p.parts)):
        if not link.is_symlink():
            continue  # inside a directory copied already
        target = link.resolve()
        link.unlink()
        if target.is_dir():
            shutil.copytree(target, link, symlinks=False)
        else:
            shutil.copy2(target, link)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Installed:
    path: Path  # the package's directory
    name: str
    version: str
    manifest: Mapping[str, object]


def prune_foreign(node_modules: Path, *, cpu: str) -> list[str]:
    """Remove the installed packages whose ``os``/``cpu``/``libc`` fields
    exclude linux/``cpu``/glibc (npm's rules), and the packages only they
    needed; returns ``name@version`` of each removed, sorted."""
    root = node_modules.parent
    before = {p.path: p for p in _installed(node_modules)}
    reachable_before = _reachable(root, before)
    foreign = {path for path, p in before.items() if not selects(p.manifest, cpu)}
    remaining = {path: p for path, p in before.items() if not any(_within(path, f) for f in foreign)}
    # What only foreign packages depended on goes too (e.g. @emnapi/runtime of sharp-wasm32).
    orphans = (reachable_before & remaining.keys()) - _reachable(root, remaining)
    removed: list[str] = []
    for path in sorted(foreign | orphans, key=lambda p: len(p.parts)):
        if path.exists():
            _remove(path)
        removed.append(f"{before[path].name}@{before[path].version}")
    for scope in node_modules.glob("@*"):
        if scope.is_dir() and not any(scope.iterdir()):
            scope.rmdir()
    return sorted(removed)


def _node_modules_dirs(node_modules: Path) -> Iterator[Path]:
    """node_modules and every nested node_modules of an installed package
    (never through a symlink: nothing outside the stage is touched)."""
    if not node_modules.is_dir() or node_modules.is_symlink():
        return
    yield node_modules
    for package in _package_dirs(node_modules):
        if not package.is_symlink():
            yield from _node_modules_dirs(package / "node_modules")


def _package_dirs(node_modules: Path) -> Iterator[Path]:
    for child in sorted(node_modules.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        if child.name.startswith("@"):
            yield from (c for c in sorted(child.iterdir()) if c.is_dir() and not c.name.startswith("."))
        else:
            yield child


def _installed(node_modules: Path) -> Iterator[_Installed]:
    for directory in _node_modules_dirs(node_modules):
        for package in _package_dirs(directory):
            manifest = read_manifest(package / "package.json")
            if manifest is None:
                continue
            name = manifest.get("name")
            version = manifest.get("version")
            yield _Installed(
                path=package,
                name=name if isinstance(name, str) else package.relative_to(directory).as_posix(),
                version=version if isinstance(version, str) else "?",
                manifest=manifest,
            )


def _reachable(root: Path, packages: Mapping[Path, _Installed]) -> set[Path]:
    """The package directories that Node.js's resolution reaches from the
    project's dependencies and optionalDependencies, following each package's
    dependencies, optionalDependencies and peerDependencies."""
    project = read_manifest(root / "package.json") or {}
    seen: set[Path] = set()
    pending: list[tuple[Path, Mapping[str, object]]] = [(root, project)]
    fields: Sequence[str] = ("dependencies", "optionalDependencies")
    while pending:
        where, manifest = pending.pop()
        names: set[str] = set()
        for field in fields if where == root else (*fields, "peerDependencies"):
            value = manifest.get(field)
            if isinstance(value, dict):
                names.update(k for k in value if isinstance(k, str))
        for name in sorted(names):
            found = _resolve(root, where, name, packages)
            if found is not None and found not in seen:
                seen.add(found)
                pending.append((found, packages[found].manifest))
    return seen


def _resolve(root: Path, where: Path, name: str, packages: Mapping[Path, _Installed]) -> Path | None:
    directory = where
    while True:
        if directory.name != "node_modules":
            candidate = directory / "node_modules" / name
            if candidate in packages:
                return candidate
        if directory == root:
            return None
        directory = directory.parent


def _within(path: Path, ancestor: Path) -> bool:
    return path == ancestor or ancestor in path.parents


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
