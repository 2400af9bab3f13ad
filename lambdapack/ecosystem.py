"""The seam between the stages every function goes through and what differs
per language.

Everything language-specific sits behind :class:`Ecosystem`: which config
keys the language adds, which of a function's inputs decide its dependencies
(for the build plan), resolving them for a target into a lock, installing the
lock for the target, which installed files belong to which distribution, the
language's default source excludes, and its own checks (the handler, the
binaries' ABI). One implementation per language lives in its own subpackage
(``lambdapack/python/``, ``lambdapack/node/``) and is registered in :data:`_REGISTRY`; adding a
language means adding a subpackage, its rows in ``runtimes.RUNTIMES`` and one
line here.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lambdapack.archive import ArchiveEntry
    from lambdapack.config import FunctionSpec, KeyReader
    from lambdapack.contents import Distribution, Package, PackageFile
    from lambdapack.runtimes import Target
    from lambdapack.verify.model import Finding


class Dependencies(Protocol):
    """A function's declared dependencies, as its language's config reader
    made them (a frozen dataclass of the ecosystem's own)."""

    @property
    def input(self) -> Path:
        """The file the dependencies are declared in (requirements.txt, package.json …)."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class DependencyPlan:
    """Every input that decides a function's installed dependencies: part of
    the build plan (lambdapack.plan)."""

    #: The declaring file and the files that give it meaning, relative to the
    #: project root, each with its content hash.
    files: tuple[tuple[str, str], ...]
    #: The hash of the declaration as a lock is a resolution of (what a lock file records).
    input_digest: str
    #: The lock file beside the input and its content hash ("-" when absent).
    lock_file: str
    lock_digest: str
    #: Language options that change what is resolved or installed (JSON values, no secrets).
    options: Mapping[str, object] = field(default_factory=dict)
    #: Hashes of index settings (never the values: they may hold credentials).
    index: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "files": [list(f) for f in self.files],
            "input_digest": self.input_digest,
            "lock_file": self.lock_file,
            "lock_digest": self.lock_digest,
            "options": dict(self.options),
            "index": dict(self.index),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceDir:
    """A directory whose files go into the zip as the function's own (a local package)."""

    path: Path
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolved:
    """Dependencies resolved for a target, ready to install."""

    #: The pinned, hashed resolution alone: the installed set is a function of its bytes.
    pins: bytes
    #: Nothing to install.
    empty: bool
    #: The ecosystem's own handle for :meth:`Ecosystem.install` (e.g. a pip-format lock).
    handle: object = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Origin:
    """What the lock and the metadata tell of one installed distribution, for
    its entry in the artifact's SBOM (lambdapack.sbom)."""

    #: Its declared name (``METADATA``'s ``Name``, ``package.json``'s ``name``).
    name: str
    #: Its package URL (``pkg:pypi/…``, ``pkg:npm/…``).
    purl: str
    #: (CycloneDX algorithm, hex digest) of the exact file the lock pins
    #: (empty when the lock does not say which of several files was installed).
    hashes: tuple[tuple[str, str], ...] = ()
    #: The licence as an SPDX expression the metadata declares, else licence names found there.
    license_expression: str | None = None
    license_names: tuple[str, ...] = ()
    #: More facts as (name, value), e.g. the locked file's name.
    properties: tuple[tuple[str, str], ...] = ()


class Bundling(Protocol):
    """How a function's code is bundled into a few files (None in a
    FunctionSpec: its files ship as they are), as its language's config reader
    made it (a frozen dataclass of the ecosystem's own)."""

    def to_json(self) -> dict[str, object]:
        """The settings as JSON values (they are part of the build plan)."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Bundled:
    """What bundling made of a function: the files that replace its own
    sources in the zip, and which installed files still ship beside them."""

    #: The bundle's files (the entry's output, its source map …), as zip entries.
    entries: tuple[ArchiveEntry, ...]
    #: The installed dependency files that ship (the packages bundling leaves installed).
    installed: tuple[ArchiveEntry, ...]
    #: What the handler's module exports (None: the bundler cannot tell; check the file instead).
    exports: tuple[str, ...] | None
    #: The bundler's account of its inputs and outputs (esbuild's metafile, paths relative
    #: to the project), kept for ``inspect``.
    metafile: bytes = b""
    findings: tuple[Finding, ...] = ()
    #: The installed files bundled into the bundle, as (installed name, the zip entry they went into).
    inlined: tuple[tuple[str, str], ...] = ()


class LanguageConfig(Protocol):
    """How a language's functions are configured: the keys it adds and how
    they become its :class:`Dependencies`. Light to import (read on every run)."""

    #: Config keys the language adds: allowed at the top level (as defaults
    #: for every function of the language) and in ``[functions.NAME]``.
    project_keys: tuple[str, ...]
    function_keys: tuple[str, ...]
    #: Of ``function_keys``, those a layer may not have (bundling: a layer has no entry).
    function_only_keys: tuple[str, ...]

    def handler_problem(self, handler: str) -> str | None:
        """Why ``handler`` is not a handler of this language's runtimes, or None."""
        ...

    def check_defaults(self, reader: KeyReader, top: Mapping[str, object]) -> None:
        """Report problems in the language's top-level keys (once per config)."""
        ...

    def read_config(
        self,
        reader: KeyReader,
        raw: Mapping[str, object],
        top: Mapping[str, object],
        key: str,
        source: Path | None,
    ) -> Dependencies | None:
        """The function's dependencies from its table ``raw`` (and the
        top-level defaults ``top``); problems go to ``reader``."""
        ...

    def read_bundle(
        self,
        reader: KeyReader,
        raw: Mapping[str, object],
        top: Mapping[str, object],
        key: str,
        source: Path | None,
        handler: str | None,
    ) -> Bundling | None:
        """How the function is bundled (None: it is not); problems go to ``reader``."""
        ...


class Ecosystem(Protocol):
    """One language's part of a build."""

    #: Runtimes with this ``Runtime.language`` are built by this ecosystem.
    language: str
    #: Source files left out unless an ``include`` pattern brings them back
    #: (on top of the common ones in lambdapack.sources).
    default_excludes: tuple[str, ...]
    #: Where a layer's own files and its installed dependencies go in its zip
    #: (under ``/opt``, where the runtime looks).
    layer_roots: tuple[str, str]

    def plan(self, spec: FunctionSpec, root: Path) -> DependencyPlan | None:
        """The inputs that decide ``spec``'s dependencies (None: it has none).
        Must be cheap: it runs on every build, also when nothing changed."""
        ...

    def local_sources(self, spec: FunctionSpec) -> Sequence[SourceDir]:
        """Local packages the dependencies point at, shipped as sources."""
        ...

    def lock_file(self, spec: FunctionSpec) -> Path | None:
        """Where ``lambdapack lock`` keeps the resolution of ``spec``'s dependencies."""
        ...

    def lock_status(self, spec: FunctionSpec, plan: DependencyPlan) -> str | None:
        """None when the lock file is the current resolution of the input, else why not."""
        ...

    def resolve(
        self,
        spec: FunctionSpec,
        work: Path,
        *,
        cwd: Path,
        reuse: Path | None = None,
        keep: Callable[[Path], Path] | None = None,
    ) -> Resolved:
        """Resolve (or take the given earlier resolution ``reuse``) for the target,
        running tools in ``cwd``; ``keep`` stores a fresh resolution and returns
        where it went."""
        ...

    def write_lock(self, spec: FunctionSpec, plan: DependencyPlan, work: Path, root: Path) -> int:
        """Resolve and write the lock file; returns the number of pinned packages."""
        ...

    def install(self, spec: FunctionSpec, resolved: Resolved, dest: Path, root: Path) -> Sequence[Finding]:
        """Install ``resolved`` for ``spec.target`` into ``dest`` (which must not exist);
        returns notes on how it was made (a package built from source …), kept
        with the installed set's check results."""
        ...

    def package_tools(self, spec: FunctionSpec) -> Mapping[str, str]:
        """Versions of the tools that finish ``spec``'s package (a bytecode
        compiler …): part of its plan. Cheap: it runs on every build."""
        ...

    def finish_dependencies(self, spec: FunctionSpec, site: Path) -> Sequence[Finding]:
        """Finish an installed dependency tree in place before it is cached
        (compile bytecode …); returns notes kept with the set."""
        ...

    def compile_sources(
        self, spec: FunctionSpec, own: Sequence[ArchiveEntry], cache_root: Path
    ) -> tuple[list[ArchiveEntry], list[Finding]]:
        """The entries compiled from the function's own files (bytecode), and warnings."""
        ...

    def bundle(
        self,
        spec: FunctionSpec,
        own: Sequence[ArchiveEntry],
        installed: Sequence[ArchiveEntry],
        site: Path | None,
        work: Path,
        root: Path,
    ) -> Bundled:
        """Bundle a function whose ``spec.bundle`` is set: its ``own`` files
        (as the plan selected them) with the ``installed`` dependencies (whose
        tree is ``site``), in ``work``; ``root`` is the project's root."""
        ...

    def dependency_warnings(self, spec: FunctionSpec) -> Iterable[Finding]:
        """Warnings about the installed set that follow from the config alone."""
        ...

    def owners(self, package: Package) -> dict[str, Distribution]:
        """Each file's owning distribution (files of the function's own code are absent)."""
        ...

    def origins(self, installed: Package, pins: bytes) -> dict[Distribution, Origin]:
        """Each distribution of the ``installed`` set with its package URL, the
        hash the lock (``pins``, as :attr:`Resolved.pins`) holds of the file
        installed, and its licence from its metadata (for the SBOM)."""
        ...

    def file_findings(
        self, package: Package, target: Target, files: Sequence[PackageFile]
    ) -> Iterable[Finding]:
        """The language's per-file checks (ABI of extension modules, …)."""
        ...

    def handler_findings(
        self, package: Package, handler: str, provided: frozenset[str] = frozenset()
    ) -> Iterable[Finding]:
        """Whether the handler exists where the runtime will look for it (and what
        it imports; ``provided``: the files the function's layers add to the path)."""
        ...

    def engine_versions(self) -> Mapping[str, str]:
        """Versions of the external tools whose output ends up in a zip."""
        ...


#: language → the module implementing it, which defines ``CONFIG`` (a
#: :class:`LanguageConfig`) and ``create(environ) -> Ecosystem``.
_REGISTRY: dict[str, str] = {
    "python": "lambdapack.python",
    "node": "lambdapack.node",
}


def languages() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def config(language: str) -> LanguageConfig:
    found: LanguageConfig = importlib.import_module(_REGISTRY[language]).CONFIG
    return found


def create(language: str, environ: Mapping[str, str]) -> Ecosystem:
    made: Ecosystem = importlib.import_module(_REGISTRY[language]).create(environ)
    return made


class Ecosystems:
    """The ecosystems of one run, made on first use (a run that needs none
    imports none)."""

    def __init__(self, environ: Mapping[str, str], given: Mapping[str, Ecosystem] | None = None) -> None:
        self._environ = environ
        self._made: dict[str, Ecosystem] = dict(given or {})
        self._lock = threading.Lock()  # functions build in threads: one ecosystem per language

    def __getitem__(self, language: str) -> Ecosystem:
        with self._lock:
            found = self._made.get(language)
            if found is None:
                found = self._made[language] = create(language, self._environ)
            return found

    def for_target(self, target: Target) -> Ecosystem:
        return self[target.language]


def owners_any(package: Package) -> dict[str, Distribution]:
    """File owners by every language's rules (for a zip of unknown runtime)."""
    found: dict[str, Distribution] = {}
    for language in languages():
        found.update(create(language, {}).owners(package))
    return found
