"""The Python ecosystem: requirements inputs resolved by uv for the target,
target wheels installed hash-checked, files owned by ``RECORD``, handlers
checked by parsing."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack.atomic import write_bytes
from lambdapack.config import FunctionSpec
from lambdapack.ecosystem import DependencyPlan, Resolved, SourceDir

if TYPE_CHECKING:  # the checks and the engine load when a build needs them: a no-op stays light
    from lambdapack.archive import ArchiveEntry
    from lambdapack.contents import Distribution, Package, PackageFile
    from lambdapack.ecosystem import Bundled, Ecosystem, Origin
    from lambdapack.python.bytecode import Interpreter
    from lambdapack.python.engine import Engine
    from lambdapack.runtimes import Target
    from lambdapack.verify.model import Finding
from lambdapack.python import inputs, lock
from lambdapack.python.config import PythonDependencies

#: Excluded from a Python function's sources unless an ``include`` brings them back.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    "__pycache__/",
    "*.py[cod]",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
    "*.egg-info/",
    "*" + lock.LOCK_SUFFIX,
)

#: The version of the file selection of lambdapack.python.pins (recorded in every plan).
SELECTION_SCHEME = "exact-ceiling-1"

#: Environment variables that change what an index resolution returns.
INDEX_VARIABLES = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
)


class PythonEcosystem:
    language = "python"
    default_excludes = DEFAULT_EXCLUDES
    #: A layer's code and dependencies are importable from /opt/python.
    layer_roots = ("python/", "python/")

    def __init__(self, *, environ: Mapping[str, str] | None = None, engine: Engine | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._engine = engine
        self._versions: dict[str, str] | None = None
        self._interpreters: dict[tuple[str, Path | None], Interpreter] = {}
        self._lock = threading.Lock()  # functions build in threads

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from lambdapack.python.engine import UvEngine

            self._engine = UvEngine(environ=self._environ)
        return self._engine

    # -- the build plan ------------------------------------------------------

    def plan(self, spec: FunctionSpec, root: Path) -> DependencyPlan | None:
        deps = _deps(spec)
        if deps is None:
            return None
        files = [(deps.input, inputs.requirements_digest(deps.input))]
        files += [(p, inputs.requirements_digest(p)) for p in inputs.related(deps.input)]
        selection = deps.selection
        parts = [digest for _path, digest in files]
        parts.append(repr((selection.extras, selection.groups, selection.package)))
        input_digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        lock_path = lock.lock_file_path(deps.input, spec.target)
        return DependencyPlan(
            files=tuple((_rel(p, root), digest) for p, digest in files),
            input_digest=input_digest,
            lock_file=_rel(lock_path, root),
            lock_digest=inputs.requirements_digest(lock_path) if lock_path.exists() else "-",
            options={
                "extras": list(selection.extras),
                "groups": list(selection.groups),
                "package": selection.package,
                "exclude_runtime_packages": deps.exclude_runtime_packages,
                "sdists": spec.sdists,
                "build_image": spec.build_image,
                "container_network": spec.container_network,
            },
            index={
                "options": hashlib.sha256("\0".join(deps.index.args()).encode()).hexdigest(),
                "environment": self._index_environment(),
            },
        )

    def _index_environment(self) -> str:
        """A hash of the index configuration in the environment (never the values:
        they may hold credentials)."""
        text = "\n".join(f"{name}={self._environ.get(name, '')}" for name in INDEX_VARIABLES)
        return hashlib.sha256(text.encode()).hexdigest()

    def engine_versions(self) -> Mapping[str, str]:
        if self._versions is None:
            # "selection": how lambdapack picks each pin's file (lambdapack.python.pins);
            # a new scheme changes which files a resolution pins.
            self._versions = {"uv": _uv_version(), "selection": SELECTION_SCHEME}
        return self._versions

    def local_sources(self, spec: FunctionSpec) -> Sequence[SourceDir]:
        deps = _deps(spec)
        if deps is None:
            return ()
        return tuple(
            SourceDir(path=inputs.package_root(directory), exclude=inputs.LOCAL_PACKAGE_EXCLUDES)
            for directory in inputs.local_dirs(deps.input)
        )

    # -- locks ---------------------------------------------------------------

    def lock_file(self, spec: FunctionSpec) -> Path | None:
        deps = _deps(spec)
        return lock.lock_file_path(deps.input, spec.target) if deps else None

    def lock_status(self, spec: FunctionSpec, plan: DependencyPlan) -> str | None:
        path = self.lock_file(spec)
        assert path is not None
        return lock.lock_status(path, input_digest=plan.input_digest, target=spec.target)

    def resolve(
        self,
        spec: FunctionSpec,
        work: Path,
        *,
        cwd: Path,
        reuse: Path | None = None,
        keep: Callable[[Path], Path] | None = None,
    ) -> Resolved:
        deps = _deps(spec)
        assert deps is not None
        locked = lock.prepare(
            deps.input,
            spec.target,
            work,
            self.engine,
            cwd=cwd,
            selection=deps.selection,
            index_args=deps.index.args(),
            reuse=reuse,
            keep=keep,
            sdists=spec.sdists,
            environ=self._environ,
        )
        pins = b"" if locked.empty else locked.resolved.read_bytes()
        return Resolved(pins=pins, empty=locked.empty, handle=locked)

    def write_lock(self, spec: FunctionSpec, plan: DependencyPlan, work: Path, root: Path) -> int:
        deps = _deps(spec)
        path = self.lock_file(spec)
        assert deps is not None and path is not None
        resolved = self.resolve(spec, work, cwd=root)
        body = resolved.pins.decode("utf-8")
        source = os.path.relpath(deps.input, root)
        text = lock.render_lock(body, input_digest=plan.input_digest, target=spec.target, source=source)
        write_bytes(path, text.encode("utf-8"))
        return sum(1 for line in text.splitlines() if line and not line.startswith("#"))

    # -- install -------------------------------------------------------------

    def install(self, spec: FunctionSpec, resolved: Resolved, dest: Path, root: Path) -> Sequence[Finding]:
        from lambdapack.cache import cache_dir
        from lambdapack.container import default_image
        from lambdapack.python.install import install
        from lambdapack.python.sdist import SdistBuilder
        from lambdapack.verify.model import Finding

        deps = _deps(spec)
        assert deps is not None and isinstance(resolved.handle, lock.Lock)
        builder = SdistBuilder(
            engine=self.engine,
            target=spec.target,
            policy=spec.sdists,
            image=spec.build_image or default_image(spec.target),
            cache_root=cache_dir(self._environ),
            environ=self._environ,
            # the configured index options and the requirements file's own
            index_args=[*deps.index.args(), *lock.index_options(resolved.handle)],
            network=spec.container_network,
        )
        tree = install(
            resolved.handle,
            spec.target,
            dest,
            self.engine,
            cwd=root,
            exclude=spec.dependency_exclude,
            index_args=deps.index.args(),
            runtime_packages=deps.exclude_runtime_packages,
            builder=builder,
        )
        return [
            Finding(
                severity="info",
                check="source-build",
                distribution=f"{made.pin.name} {made.pin.version}",
                message=made.note(),
            )
            for made in tree.built
        ]

    # -- target bytecode (docs/bytecode.md) -----------------------------------

    def package_tools(self, spec: FunctionSpec) -> Mapping[str, str]:
        if spec.bytecode == "none":
            return {}
        return {"python": self.interpreter(spec).version}

    def interpreter(self, spec: FunctionSpec) -> Interpreter:
        """The interpreter of exactly the target's Python version: found once
        per run, and remembered in the cache while where it was looked for
        (PATH, pyenv's and uv's interpreter directories) and its file are unchanged."""
        from lambdapack.cache import Cache, cache_dir
        from lambdapack.python.bytecode import Interpreter, find_interpreter

        minor = spec.target.runtime.version_string
        configured = spec.bytecode_interpreter
        key = (minor, configured)

        def find() -> tuple[str, str]:
            made = find_interpreter(minor, configured=configured, environ=self._environ)
            return str(made.path), made.version

        with self._lock:
            found = self._interpreters.get(key)
            if found is None:
                home = Path(self._environ.get("HOME", "/"))
                search = [
                    *self._environ.get("PATH", "").split(os.pathsep),
                    str(Path(self._environ.get("PYENV_ROOT") or home / ".pyenv") / "versions"),
                    self._environ.get("UV_PYTHON_INSTALL_DIR") or str(home / ".local/share/uv/python"),
                    *([str(configured)] if configured else []),
                ]
                remembered = Cache(cache_dir(self._environ)).tool(
                    f"python {minor} {configured or ''}", search, find
                )
                assert remembered is not None  # (find raises when there is none)
                found = self._interpreters[key] = Interpreter(path=Path(remembered[0]), version=remembered[1])
        return found

    def finish_dependencies(self, spec: FunctionSpec, site: Path) -> Sequence[Finding]:
        if spec.bytecode == "none":
            return ()
        from lambdapack.python.bytecode import compile_tree
        from lambdapack.verify.model import Finding

        interpreter = self.interpreter(spec)
        made = compile_tree(
            site,
            interpreter=interpreter,
            base=_run_root(spec),
            only=spec.bytecode == "only",
            environ=self._environ,
        )
        message = f"{made.compiled:,} module(s) compiled to bytecode by Python {interpreter.version}"
        if made.sourceless:
            message += f", {made.sourceless:,} shipped without their source"
        notes = [Finding(severity="info", check="bytecode", message=message)]
        if made.skipped:
            notes.append(
                Finding(
                    severity="info",
                    check="bytecode",
                    path=made.skipped[0],
                    message=f"{len(made.skipped)} file(s) do not compile for Python {interpreter.minor} "
                    "and are shipped as they are (never imported, or they would fail on Lambda too)",
                    details=tuple(made.skipped[:5]),
                )
            )
        return notes

    def bundle(
        self,
        spec: FunctionSpec,
        own: Sequence[ArchiveEntry],
        installed: Sequence[ArchiveEntry],
        site: Path | None,
        work: Path,
        root: Path,
    ) -> Bundled:
        raise AssertionError("Python functions are not bundled (the config has no bundle key for them)")

    def compile_sources(
        self, spec: FunctionSpec, own: Sequence[ArchiveEntry], cache_root: Path
    ) -> tuple[list[ArchiveEntry], list[Finding]]:
        from lambdapack.python.bytecode import compile_sources
        from lambdapack.verify.model import Finding

        entries, skipped = compile_sources(
            own,
            interpreter=self.interpreter(spec),
            base=_run_root(spec),
            store=cache_root / "pyc",
            environ=self._environ,
        )
        warnings = [
            Finding(
                severity="warning",
                check="bytecode",
                path=name,
                message=f"does not compile for Python {spec.target.runtime.version_string}; "
                "importing it fails on Lambda",
                fix="fix the syntax error, or exclude the file",
            )
            for name in skipped
        ]
        return entries, warnings

    def dependency_warnings(self, spec: FunctionSpec) -> Iterable[Finding]:
        from lambdapack.verify.model import Finding

        deps = _deps(spec)
        if deps is not None and deps.exclude_runtime_packages:
            yield Finding(
                severity="warning",
                check="hygiene",
                message="exclude_runtime_packages: boto3, botocore, s3transfer, jmespath, python-dateutil, "
                "six and urllib3 are left out; the function runs with the runtime's versions, which differ "
                "from the locked ones and change when AWS updates the runtime",
                fix="set exclude_runtime_packages = false to ship the locked versions",
            )

    # -- checks --------------------------------------------------------------

    def owners(self, package: Package) -> dict[str, Distribution]:
        from lambdapack.python.ownership import owners

        return owners(package)

    def origins(self, installed: Package, pins: bytes) -> dict[Distribution, Origin]:
        from lambdapack.python.sbom import origins

        return origins(installed, pins)

    def file_findings(
        self, package: Package, target: Target, files: Sequence[PackageFile]
    ) -> Iterable[Finding]:
        from lambdapack.python.checks import findings

        return findings(package, target, files)

    def handler_findings(
        self, package: Package, handler: str, provided: frozenset[str] = frozenset()
    ) -> Iterable[Finding]:
        from lambdapack.python.handler import findings

        return findings(package, handler, provided)


def _run_root(spec: FunctionSpec) -> str:
    """Where Lambda imports the package's files from: the code objects' file names."""
    return "/opt/python/" if spec.layer is not None else "/var/task/"


def _deps(spec: FunctionSpec) -> PythonDependencies | None:
    deps = spec.dependencies
    if deps is None:
        return None
    if not isinstance(deps, PythonDependencies):
        raise TypeError(f"{spec.name}: not a Python function's dependencies: {deps!r}")
    return deps


def _uv_version() -> str:
    """The version of the uv wheel lambdapack runs (from its ``.dist-info``
    directory name: ``importlib.metadata`` costs a no-op build 30 ms)."""
    import importlib.util

    spec = importlib.util.find_spec("uv")
    if spec is not None and spec.origin:
        site = Path(spec.origin).parent.parent
        found = sorted(site.glob("uv-*.dist-info"))
        if len(found) == 1:
            return found[0].name[len("uv-") : -len(".dist-info")]
    import importlib.metadata

    try:
        return importlib.metadata.version("uv")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - uv is a dependency
        return "unknown"


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


if TYPE_CHECKING:  # the implementation matches the seam (checked by mypy)
    _ECOSYSTEM: Ecosystem = PythonEcosystem()
