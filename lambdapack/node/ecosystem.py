"""The Node.js ecosystem: package.json + lock installed for the target by
npm (or pnpm/yarn for their locks) with no lifecycle scripts, files owned by
``node_modules/<name>/``, handlers checked by file resolution, syntax and
exports, addons checked for the target's machine, glibc and libc."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack.config import FunctionSpec
from lambdapack.ecosystem import Bundled, DependencyPlan, Resolved, SourceDir
from lambdapack.node import lock
from lambdapack.node.config import NodeDependencies

if TYPE_CHECKING:  # the checks and npm load when a build needs them: a no-op stays light
    from lambdapack.archive import ArchiveEntry
    from lambdapack.contents import Distribution, Package, PackageFile
    from lambdapack.ecosystem import Ecosystem, Origin
    from lambdapack.node.tools import NodeTools
    from lambdapack.runtimes import Target
    from lambdapack.verify.model import Finding

#: Excluded from a Node.js function's sources unless an ``include`` brings them back:
#: dependencies are installed for the target, never copied from the host's node_modules.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    "node_modules/",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    ".yarn/",
    ".yarnrc.yml",
    ".pnp.*",
    ".npmrc",
    ".env",
    ".env.*",
    "coverage/",
    ".nyc_output/",
    "*.tsbuildinfo",
)

#: Environment variables that change what npm resolves or downloads.
INDEX_VARIABLES = (
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
    "npm_config_userconfig",
    "NPM_CONFIG_USERCONFIG",
)


class NodeEcosystem:
    language = "node"
    default_excludes = DEFAULT_EXCLUDES
    #: A layer's own modules and its installed node_modules, found from /opt/nodejs/node_modules.
    layer_roots = ("nodejs/node_modules/", "nodejs/")

    def __init__(self, *, environ: Mapping[str, str] | None = None, tools: NodeTools | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._tools = tools

    @property
    def tools(self) -> NodeTools:
        if self._tools is None:
            from lambdapack.node.tools import find

            self._tools = find(self._environ)
        return self._tools

    def _layout(self, spec: FunctionSpec, root: Path | None = None) -> lock.Layout:
        deps = _deps(spec)
        assert deps is not None
        return lock.layout(deps.input, project_root=root or _project_root(spec))

    # -- the build plan ------------------------------------------------------

    def plan(self, spec: FunctionSpec, root: Path) -> DependencyPlan | None:
        deps = _deps(spec)
        if deps is None or not lock.has_dependencies(deps.input):
            return None  # nothing to install: neither npm nor a lock is needed
        layout = self._layout(spec, root)
        files = [(deps.input, _digest(deps.input))]
        if layout.member is not None:
            files.append((layout.root / "package.json", _digest(layout.root / "package.json")))
        locals_ = lock.local_packages(layout, reachable=True)
        local_digest = hashlib.sha256()
        for directory in locals_:
            local_digest.update(f"{_rel(directory, root)}\0{_tree_digest(directory)}\n".encode())
        return DependencyPlan(
            files=tuple((_rel(p, root), d) for p, d in files),
            input_digest=lock.input_digest(layout),
            lock_file=_rel(layout.lock, root),
            lock_digest=_digest(layout.lock) if layout.lock_exists else "-",
            options={
                "manager": self._manager(layout),
                "member": layout.member,
                "allow_scripts": list(deps.allow_scripts),
                "local_packages": local_digest.hexdigest() if locals_ else None,
                "sdists": spec.sdists,
                "build_image": spec.build_image,
                "container_network": spec.container_network,
            },
            index={"environment": self._index_environment(layout)},
        )

    def _manager(self, layout: lock.Layout) -> str:
        if layout.manager == "npm":
            return "npm"
        from lambdapack.node import managers

        kind = managers.lock_kind(layout.lock.parent) or layout.manager
        return f"{kind}@{managers.version(kind)}"

    def _index_environment(self, layout: lock.Layout) -> str:
        """A hash of the registry configuration (environment and .npmrc; never shown)."""
        text = "\n".join(f"{name}={self._environ.get(name, '')}" for name in INDEX_VARIABLES)
        npmrc = layout.root / ".npmrc"
        if npmrc.is_file():
            text += "\n" + _digest(npmrc)
        return hashlib.sha256(text.encode()).hexdigest()

    def engine_versions(self) -> Mapping[str, str]:
        return {"npm": self.tools.npm_version}

    def local_sources(self, spec: FunctionSpec) -> Sequence[SourceDir]:
        return ()  # file: and workspace packages are installed into node_modules (as copies)

    # -- locks ---------------------------------------------------------------

    def lock_file(self, spec: FunctionSpec) -> Path | None:
        deps = _deps(spec)
        return self._layout(spec).lock if deps and lock.has_dependencies(deps.input) else None

    def lock_status(self, spec: FunctionSpec, plan: DependencyPlan) -> str | None:
        return lock.lock_status(self._layout(spec))

    def resolve(
        self,
        spec: FunctionSpec,
        work: Path,
        *,
        cwd: Path,
        reuse: Path | None = None,
        keep: Callable[[Path], Path] | None = None,
    ) -> Resolved:
        layout = self._layout(spec)
        if not lock.has_dependencies(layout.package_json):
            return Resolved(pins=b"", empty=True)
        if reuse is not None and reuse.is_file():
            resolved = reuse
        else:
            resolved = self._resolve_fresh(layout, work, _project_root(spec))
            if keep is not None:
                resolved = keep(resolved)
        manifest = lock.install_fields(lock.read_json(layout.package_json))
        pins = b"\0".join(
            [
                resolved.read_bytes(),
                json.dumps(manifest, sort_keys=True).encode(),
                (layout.member or "").encode(),
            ]
        )
        return Resolved(pins=pins, empty=False, handle=resolved)

    def _resolve_fresh(self, layout: lock.Layout, work: Path, project_root: Path) -> Path:
        """npm's lock for the package.json (from the existing lock where there is one)."""
        from lambdapack import processes
        from lambdapack.errors import ResolveError
        from lambdapack.node.install import stage

        directory = stage(layout, layout.lock if layout.lock_exists else None, work / "resolve", project_root)
        env = self.tools.env(self._environ)
        env["npm_config_cache"] = str(_npm_cache(self._environ))
        # --install-links as when installing: a file: package's own dependencies are then in the lock
        args = [
            "install",
            "--package-lock-only",
            "--ignore-scripts",
            "--install-links",
            "--no-audit",
            "--no-fund",
        ]
        result = processes.run(self.tools.npm(*args), cwd=directory, env=env)
        if result.returncode != 0:
            from lambdapack.node.install import npm_error

            raise ResolveError(f"{layout.package_json}: npm could not resolve it: {npm_error(result.stderr)}")
        if layout.manager != "npm":
            raise ResolveError(
                f"{layout.lock}: lambdapack writes npm locks only; update it with {layout.manager}"
            )
        out = work / "package-lock.json"
        shutil.copyfile(directory / "package-lock.json", out)
        return out

    def write_lock(self, spec: FunctionSpec, plan: DependencyPlan, work: Path, root: Path) -> int:
        from lambdapack.atomic import write_bytes

        layout = self._layout(spec, root)
        fresh = self._resolve_fresh(layout, work, root)
        data = fresh.read_bytes()
        write_bytes(layout.lock, data)
        packages = json.loads(data).get("packages", {})
        return sum(1 for k in packages if k)

    # -- install -------------------------------------------------------------

    def install(self, spec: FunctionSpec, resolved: Resolved, dest: Path, root: Path) -> Sequence[Finding]:
        from lambdapack.node.install import install

        deps = _deps(spec)
        assert deps is not None and isinstance(resolved.handle, Path)
        notes = install(
            self._layout(spec, root),
            resolved.handle,
            spec.target,
            dest,
            self.tools,
            allow_scripts=deps.allow_scripts,
            project_root=root,
            npm_cache=_npm_cache(self._environ),
            environ=self._environ,
            sdists=spec.sdists,
            build_image=spec.build_image,
            container_network=spec.container_network,
        )
        from lambdapack.verify.model import Finding

        return [Finding(severity="info", check="source-build", message=note) for note in notes]

    def package_tools(self, spec: FunctionSpec) -> Mapping[str, str]:
        if spec.bundle is None:
            return {}
        from lambdapack.node import esbuild  # (the pinned version: no process, no download)

        return {"esbuild": esbuild.VERSION}

    def bundle(
        self,
        spec: FunctionSpec,
        own: Sequence[ArchiveEntry],
        installed: Sequence[ArchiveEntry],
        site: Path | None,
        work: Path,
        root: Path,
    ) -> Bundled:
        from lambdapack.cache import cache_dir
        from lambdapack.node import bundle, esbuild

        binary = esbuild.executable(cache_dir(self._environ), self._environ)
        return bundle.bundle(spec, own, installed, site, work, root, esbuild=binary)

    def finish_dependencies(self, spec: FunctionSpec, site: Path) -> Sequence[Finding]:
        return ()

    def compile_sources(
        self, spec: FunctionSpec, own: Sequence[ArchiveEntry], cache_root: Path
    ) -> tuple[list[ArchiveEntry], list[Finding]]:
        return [], []

    def dependency_warnings(self, spec: FunctionSpec) -> Iterable[Finding]:
        from lambdapack.verify.model import Finding

        deps = _deps(spec)
        if deps is None:
            return
        layout = self._layout(spec)
        if not layout.lock_exists and lock.has_dependencies(layout.package_json):
            where = os.path.relpath(layout.lock, _project_root(spec))
            yield Finding(
                severity="warning",
                check="lock",
                path=where,
                message=f"no lock file for {os.path.relpath(layout.package_json, _project_root(spec))}: "
                "its dependencies were resolved by lambdapack (once, then cached), so another machine "
                "may get other versions",
                fix=f"run `lambdapack lock {spec.name}` and commit {where} (`build --locked` fails instead)",
            )

    # -- checks --------------------------------------------------------------

    def owners(self, package: Package) -> dict[str, Distribution]:
        from lambdapack.node.ownership import owners

        return owners(package)

    def origins(self, installed: Package, pins: bytes) -> dict[Distribution, Origin]:
        from lambdapack.node.sbom import origins

        return origins(installed, pins.split(b"\0", 1)[0])  # the lock (see resolve)

    def file_findings(
        self, package: Package, target: Target, files: Sequence[PackageFile]
    ) -> Iterable[Finding]:
        from lambdapack.node.checks import findings

        return findings(package, target, files)

    def handler_findings(
        self, package: Package, handler: str, provided: frozenset[str] = frozenset()
    ) -> Iterable[Finding]:
        from lambdapack.errors import ToolError
        from lambdapack.node.handler import findings

        try:
            node = self.tools.node
        except ToolError:
            node = None  # the syntax check needs node; the other checks do not
        return findings(package, handler, node)


def _deps(spec: FunctionSpec) -> NodeDependencies | None:
    deps = spec.dependencies
    if deps is None:
        return None
    if not isinstance(deps, NodeDependencies):
        raise TypeError(f"{spec.name}: not a Node.js function's dependencies: {deps!r}")
    return deps


def _project_root(spec: FunctionSpec) -> Path:
    """The project's root: the highest directory a function's lock may live in."""
    deps = _deps(spec)
    assert deps is not None
    return deps.project_root


def _npm_cache(environ: Mapping[str, str]) -> Path:
    from lambdapack.cache import cache_dir

    return cache_dir(environ) / "npm"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digest(directory: Path) -> str:
    """A hash of a local package's files (names, executable bits, contents), node_modules aside."""
    digest = hashlib.sha256()
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in ("node_modules", ".git"))
        for name in sorted(files):
            path = Path(current) / name
            rel = path.relative_to(directory).as_posix()
            digest.update(f"{rel}\0{int(os.access(path, os.X_OK))}\0{_digest(path)}\n".encode())
    return digest.hexdigest()


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


if TYPE_CHECKING:  # the implementation matches the seam (checked by mypy)
    _ECOSYSTEM: Ecosystem = NodeEcosystem()
