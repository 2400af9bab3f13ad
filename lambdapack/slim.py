"""Slimming: what an installed dependency tree can lose before it is zipped.

Each option (``slim = ["tests", "stubs", …]`` in the config) removes a kind of
file the function never loads: dependencies' test directories, type stubs,
metadata no reader needs, bytecode for another Python, documentation, source
maps; ``strip`` removes symbol tables from the target's native libraries.

The engine knows nothing of a language: what each option removes for a
language is data (:class:`Rules`, :func:`rules_for`), matched on file paths
relative to the tree's root, for Python the ``site-packages`` directory
(``numpy/…``, ``numpy-2.1.0.dist-info/…``), for Node.js the directory that
holds ``node_modules/`` (``node_modules/sharp/…``, ``node_modules/@img/x/…``).
Rules only ever match below a package's own directory: a package's root (a
distribution named ``test``, an npm package named ``docs``) never goes, nor
does anything outside the packages (Node.js files beside ``node_modules/``).
Licence files (``LICENSE*``, ``COPYING*``, ``NOTICE*``, ``AUTHORS*``) stay.

Determinism contract: what goes depends only on the tree's file names, the
options and the target (never on the order the file system lists files in);
a file matched by two options counts for the first in :data:`OPTIONS` order.
``strip`` runs one tool with fixed flags (:data:`STRIP_FLAGS`) on each file
and keeps its output only when smaller; the tool's version goes into the build
plan (:func:`strip_tool`), so a new tool means a rebuild. Stripping the same
bytes twice gives the same bytes. A file is never rewritten in place: the
stripped copy is written beside it and renamed over it, so a reader sees the
old file or the new one, and a hard link into an installer's cache is never
changed. Python's ``RECORD`` files are rewritten to match (rows of removed
files dropped, stripped files' hashes and sizes updated).
"""

from __future__ import annotations

import base64
import concurrent.futures
import csv
import fnmatch
import io
import os
import platform
import re
import shutil
import stat
import struct
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from lambdapack import elf, processes
from lambdapack.atomic import write_bytes
from lambdapack.contents import Package, PackageFile
from lambdapack.digest import file_sha256
from lambdapack.errors import ToolError, tool_details
from lambdapack.runtimes import Target

#: The slimming options, in the order they apply (``slim = [...]`` in the config).
OPTIONS = ("tests", "stubs", "metadata", "pycache", "docs", "maps", "strip")

#: What ``strip`` passes to the tool. ``--strip-unneeded`` drops ``.symtab``
#: and debug sections but keeps ``.dynsym`` (what the dynamic loader and
#: ``dlopen`` use). Measured with LLVM 19 on numpy 2.2.6 + pandas 2.3.2
#: (manylinux_2_17): it saves 1.99 MB on x86_64 and 2.74 MB on aarch64, where
#: ``--strip-debug`` saves 0.34 and 0.44 MB (the wheels carry few debug
#: sections but full symbol tables), and ``--strip-all`` only 18 KB more
#: (``.comment``).
STRIP_FLAGS = ("--strip-unneeded",)

#: File and directory names (lower-cased, fnmatch) no option removes by name:
#: licences and the notices their terms require.
LICENCES = ("licen[cs]e*", "copying*", "notice*", "authors*")

_ET_DYN = 3  # ELF e_type of a shared object (and of .node addons)


@dataclass(frozen=True, kw_only=True, slots=True)
class Saving:
    """What one option removed or shrank."""

    option: str
    files: int  # files removed (or stripped)
    bytes: int  # bytes saved (unzipped)

    def to_json(self) -> dict[str, object]:
        return {"option": self.option, "files": self.files, "bytes": self.bytes}


@dataclass(frozen=True, kw_only=True, slots=True)
class SlimReport:
    savings: tuple[Saving, ...]  # one per option that applied, in OPTIONS order

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.savings)

    @property
    def files(self) -> int:
        return sum(s.files for s in self.savings)

    def to_json(self) -> dict[str, object]:
        return {"files": self.files, "bytes": self.bytes, "savings": [s.to_json() for s in self.savings]}


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    """What one option removes for one language: files below a package's own
    directory, by the name of a directory on their path or by their own name."""

    option: str
    #: Directory names (exact) whose files all go.
    directories: frozenset[str] = frozenset()
    #: Only directories directly in a package's directory (``pkg/docs/``, not ``pkg/dist/docs/``).
    shallow: bool = False
    #: File names (lower-cased, fnmatch) that go.
    names: tuple[str, ...] = ()
    #: The rule is for the metadata directories (``*.dist-info``): every file there goes but ``keep``.
    metadata: bool = False
    #: Names (lower-cased, fnmatch) of files, or of directories on their path, that stay.
    keep: tuple[str, ...] = LICENCES
    #: Whether a file the rule matched stays after all (needs the target; see ``would_save``).
    stays: Callable[[Package, PackageFile, Target], bool] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Rules:
    """A language's rules and where its packages are in a tree."""

    language: str
    #: The directory that holds packages (``node_modules``, nested at any depth),
    #: or None: the root holds them, one per top-level entry, beside the
    #: function's own code in a built zip (told apart by ownership).
    container: str | None = None
    #: A package name starting with this has two path components (``@scope/name``).
    scope: str | None = None
    #: The metadata directories at the root (fnmatch), which only ``metadata`` rules touch.
    metadata: str | None = None
    #: The file in each metadata directory listing the distribution's files, hashes
    #: and sizes (rewritten after slimming), if any.
    record: str | None = None
    rules: tuple[Rule, ...] = field(default=())
    #: Test directories that the package's other modules import (by dotted
    #: module name: ``numpy.testing`` imports ``numpy._core.tests._natype``) stay.
    imported_tests_stay: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        """The options that do something for this language, in OPTIONS order."""
        return tuple(o for o in OPTIONS if o == "strip" or any(r.option == o for r in self.rules))


def _target_bytecode(package: Package, file: PackageFile, target: Target) -> bool:
    """Whether a ``.pyc`` is compiled for the target's Python (by its tag, else its magic)."""
    from lambdapack.python.checks import _pyc_matches

    return _pyc_matches(package, file, target)


def _doc_names() -> tuple[str, ...]:
    # Never "history.*" and the like: `history.js` is code (the `history` package).
    stems = ("readme", "changelog", "changes", "history")
    extensions = ("", ".txt", ".rst", ".adoc", ".asciidoc", ".org")
    return ("*.md", "*.markdown", *(stem + ext for stem in stems for ext in extensions))


_PYTHON = Rules(
    language="python",
    metadata="*.dist-info",
    record="RECORD",
    imported_tests_stay=True,
    rules=(
        Rule(option="tests", directories=frozenset({"tests", "test"})),
        Rule(option="stubs", names=("*.pyi",)),
        # importlib.metadata reads METADATA, entry_points.txt, RECORD (files()) and
        # top_level.txt (packages_distributions()); lambdapack's ownership reads RECORD
        # and its wheel-tag check WHEEL.
        Rule(
            option="metadata",
            metadata=True,
            keep=("metadata", "entry_points.txt", "record", "top_level.txt", "wheel", *LICENCES),
        ),
        Rule(option="pycache", names=("*.pyc",), stays=_target_bytecode),
    ),
)

_NODE = Rules(
    language="node",
    container="node_modules",
    scope="@",
    rules=(
        Rule(option="tests", directories=frozenset({"test", "tests", "__tests__"})),
        Rule(option="stubs", names=("*.d.ts", "*.d.mts", "*.d.cts")),
        # Directories only at a package's top: `yaml` keeps its code in dist/doc/.
        Rule(
            option="docs",
            directories=frozenset({"docs", "doc", "example", "examples"}),
            shallow=True,
            names=_doc_names(),
        ),
        Rule(option="maps", names=("*.map",)),
    ),
)

_RULES = {r.language: r for r in (_PYTHON, _NODE)}


def rules_for(language: str) -> Rules:
    """The slimming rules of a language ("python" or "node"); KeyError for another."""
    return _RULES[language]


def validate(options: Sequence[str]) -> str | None:
    """Why ``options`` is not a valid ``slim`` list, or None."""
    choices = ", ".join(f'"{o}"' for o in OPTIONS)
    unknown = [o for o in options if o not in OPTIONS]
    if unknown:
        return "; ".join(f"{o!r} is not one of {choices}" for o in unknown)
    return None


def slim_tree(
    root: Path, options: Sequence[str], *, language: str, target: Target, environ: Mapping[str, str]
) -> SlimReport:
    """Apply ``options`` to the installed tree at ``root`` in place.

    Raises ToolError when ``strip`` is asked for and no strip tool exists, or
    the tool fails on a file (the file is then left as it was)."""
    rules = rules_for(language)
    tool = None
    if "strip" in options:
        tool = strip_tool(target, environ)
        if tool is None:
            raise ToolError(_no_tool(target))
    package = _TreePackage(root)
    planned = _plan(package, options, rules, target)
    savings = []
    removed: set[str] = set()
    for option, files in planned.items():
        for file in files:
            (root / file.name).unlink()
            removed.add(file.name)
        savings.append(Saving(option=option, files=len(files), bytes=sum(f.size for f in files)))
    _prune(root, removed)
    stripped: dict[str, int] = {}
    if tool is not None:
        candidates = [f for f in package.files if f.name not in removed and _strippable(package, f, target)]
        stripped = _strip_files(root, candidates, tool[0], environ)
        saved = sum(f.size - stripped[f.name] for f in candidates if f.name in stripped)
        savings.append(Saving(option="strip", files=len(stripped), bytes=saved))
    if rules.record is not None and rules.metadata is not None and (removed or stripped):
        _rewrite_records(root, rules, removed, set(stripped))
    return SlimReport(savings=tuple(sorted(savings, key=lambda s: OPTIONS.index(s.option))))


def would_save(
    package: Package,
    options: Sequence[str],
    *,
    language: str,
    target: Target | None,
    environ: Mapping[str, str] | None = None,
) -> SlimReport:
    """What :func:`slim_tree` would remove from a built package (``lambdapack
    inspect``). ``strip`` is estimated by stripping each of the target's
    native libraries in a temporary directory; it is left out of the report
    when there is no target or no tool, and so are the options that depend on
    the target (``pycache``) without one. ``environ``: where to look for the
    tool (default: this process's environment)."""
    rules = rules_for(language)
    env = os.environ if environ is None else environ
    planned = _plan(package, options, rules, target, dependencies_only=True)
    savings = [Saving(option=o, files=len(fs), bytes=sum(f.size for f in fs)) for o, fs in planned.items()]
    tool = strip_tool(target, env) if "strip" in options and target is not None else None
    if tool is not None and target is not None:
        gone = {f.name for fs in planned.values() for f in fs}
        owned = _owned_packages(package, rules)
        candidates = [
            f
            for f in package.files
            if f.name not in gone and _in_dependency(f.name, rules, owned) and _strippable(package, f, target)
        ]
        with tempfile.TemporaryDirectory(prefix="lambdapack-slim-") as scratch:
            copies = []
            for index, file in enumerate(candidates):
                data = package.read(file.name)
                if len(data) == file.size:  # a member too large or unreadable is left out
                    copy = PackageFile(name=f"{index}.so", size=file.size)
                    (Path(scratch) / copy.name).write_bytes(data)
                    copies.append(copy)
            stripped = _strip_files(Path(scratch), copies, tool[0], env)
        saved = sum(c.size - stripped[c.name] for c in copies if c.name in stripped)
        savings.append(Saving(option="strip", files=len(stripped), bytes=saved))
    return SlimReport(savings=tuple(sorted(savings, key=lambda s: OPTIONS.index(s.option))))


def strip_tool(target: Target, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(path, version) of the tool ``strip`` uses for ``target``, or None.

    In order: the highest ``llvm-strip-N`` (Debian's ``llvm-19`` …), then
    ``llvm-strip`` (both strip any ELF machine), binutils'
    ``<machine>-linux-gnu-strip``, and the host's ``strip`` only on a Linux
    host of the target's machine. Older tools save less: LLVM 14 and binutils
    2.40 misplace the segments of auditwheel-patched libraries, whose output
    :func:`_same_image` then refuses. The version (the tool's name and the line
    of ``--version`` that holds a version number) is for the build plan."""
    path = environ.get("PATH", os.defpath)
    machine = target.architecture.machine
    names = [*_versioned("llvm-strip", path), "llvm-strip", f"{machine}-linux-gnu-strip"]
    if sys.platform.startswith("linux") and platform.machine() == machine:
        names.append("strip")
    for name in names:
        found = shutil.which(name, path=path)
        if found is None:
            continue
        version = _version(found, environ)
        if version is not None:
            return found, f"{name} {version}"
    return None


def _versioned(name: str, path: str) -> list[str]:
    """``name-N`` tools on ``path``, highest N first (Debian's ``llvm-strip-14`` …)."""
    found: set[int] = set()
    pattern = re.compile(re.escape(name) + r"-(\d+)$")
    for directory in path.split(os.pathsep):
        try:
            entries = [entry.name for entry in Path(directory or ".").iterdir()]
        except OSError:
            continue
        found.update(int(m.group(1)) for m in map(pattern.match, entries) if m)
    return [f"{name}-{n}" for n in sorted(found, reverse=True)]


def _version(tool: str, environ: Mapping[str, str]) -> str | None:
    try:
        done = processes.run([tool, "--version"], cwd=Path(tool).parent, env=environ)
    except OSError:
        return None
    if done.returncode != 0:
        return None
    lines = [line.strip() for line in done.stdout.splitlines() if re.search(r"\d+\.\d+", line)]
    return lines[0] if lines else None


def _no_tool(target: Target) -> str:
    machine = target.architecture.machine
    package = "binutils-x86-64-linux-gnu" if machine == "x86_64" else f"binutils-{machine}-linux-gnu"
    return (
        f'slim "strip": no strip tool for {machine} ELF files (looked for llvm-strip and '
        f"{machine}-linux-gnu-strip on PATH); install LLVM 19 or later (Debian 12: `apt-get install "
        f"llvm-19`; older tools strip manylinux libraries less) or `apt-get install {package}`, "
        'or remove "strip" from slim'
    )


# -- matching ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Place:
    """Where a file is in a tree, as the rules see it."""

    package: str  # the outermost package's directory (or top-level file)
    inner: tuple[str, ...]  # directories below a package's directory (never its root, nor node_modules)
    heads: frozenset[str]  # those directly in a package's directory
    metadata: bool  # in a metadata directory


def _place(name: str, rules: Rules) -> _Place | None:
    """Where ``name`` is, or None when it is in no package (a file beside
    ``node_modules/``, ``node_modules/.package-lock.json`` …)."""
    parts = name.split("/")
    if rules.container is None:
        metadata = (
            rules.metadata is not None and len(parts) > 1 and fnmatch.fnmatchcase(parts[0], rules.metadata)
        )
        top = frozenset(parts[1:2]) if len(parts) > 2 else frozenset()
        return _Place(package=parts[0], inner=tuple(parts[1:-1]), heads=top, metadata=metadata)
    outer: str | None = None
    inner: list[str] = []
    heads: set[str] = set()
    index = 0
    while index < len(parts) - 1:
        if parts[index] == rules.container:
            end = index + 1
            if rules.scope is not None and parts[end].startswith(rules.scope):
                end += 1
            if end >= len(parts) - 1:  # the file stands where a package's name would
                break
            outer = outer or "/".join(parts[: end + 1])
            index = end + 1
            if index < len(parts) - 1:
                heads.add(parts[index])
            continue
        if outer is not None:
            inner.append(parts[index])
        index += 1
    if outer is None:
        return None
    return _Place(package=outer, inner=tuple(inner), heads=frozenset(heads), metadata=False)


def _matches(rule: Rule, place: _Place, base: str) -> bool:
    if place.metadata != rule.metadata:
        return False
    lower = base.lower()
    # licences stay; in metadata directories whole licence directories too (``licenses/``)
    named = (*place.inner, lower) if rule.metadata else (lower,)
    if any(fnmatch.fnmatchcase(part.lower(), k) for part in named for k in rule.keep):
        return False
    if rule.metadata:
        return True
    found = place.heads if rule.shallow else place.inner
    if rule.directories and not rule.directories.isdisjoint(found):
        return True
    return any(fnmatch.fnmatchcase(lower, pattern) for pattern in rule.names)


def _plan(
    package: Package,
    options: Sequence[str],
    rules: Rules,
    target: Target | None,
    *,
    dependencies_only: bool = False,
) -> dict[str, list[PackageFile]]:
    """The files each option removes (each file under its first option), in OPTIONS order.
    Rules that need the target are left out without one."""
    chosen = [
        r
        for option in OPTIONS
        if option in options
        for r in rules.rules
        if r.option == option and (r.stays is None or target is not None)
    ]
    planned: dict[str, list[PackageFile]] = {r.option: [] for r in chosen}
    owned = _owned_packages(package, rules) if dependencies_only else None
    for file in package.files:
        place = _place(file.name, rules)
        if place is None or (owned is not None and place.package not in owned):
            continue
        base = file.name.rsplit("/", 1)[-1]
        for rule in chosen:
            if _matches(rule, place, base):
                if rule.stays is not None and target is not None and rule.stays(package, file, target):
                    continue
                planned[rule.option].append(file)
                break
    if rules.imported_tests_stay and planned.get("tests"):
        planned["tests"] = _not_imported(package, planned["tests"], rules)
    return planned


def _not_imported(package: Package, tests: list[PackageFile], rules: Rules) -> list[PackageFile]:
    """``tests`` without the modules of test directories that other Python
    files import by name (``numpy.testing`` imports
    ``numpy._core.tests._natype``): such a module stays with its packages'
    ``__init__.py``; a test package imported as a whole stays whole."""
    test_rule = next(r for r in rules.rules if r.option == "tests")
    directories: set[str] = set()
    for file in tests:
        parts = file.name.split("/")[:-1]
        index = next(i for i, part in enumerate(parts) if part in test_rule.directories)
        directories.add(".".join(parts[: index + 1]))
    alternatives = b"|".join(re.escape(d.encode()) for d in sorted(directories, key=len, reverse=True))
    pattern = re.compile(rb"\b(?:" + alternatives + rb")(?:\.\w+)*")
    leaving = {f.name for f in tests}
    imported: set[str] = set()
    for file in package.files:
        if file.name.endswith(".py") and file.name not in leaving:
            imported.update(m.group(0).decode() for m in pattern.finditer(package.read(file.name)))
    if not imported:
        return tests
    stays: set[str] = set()  # files, and directories ending in "/"
    for module in imported:
        path = module.replace(".", "/")
        if module in directories:  # the test package itself: all of it
            stays.add(path + "/")
            continue
        stays.update({path + ".py", path + "/"})
        parts = path.split("/")
        stays.update("/".join(parts[:i]) + "/__init__.py" for i in range(1, len(parts)))
    return [
        f
        for f in tests
        if f.name not in stays and not any(f.name.startswith(d) for d in stays if d.endswith("/"))
    ]


def _owned_packages(package: Package, rules: Rules) -> frozenset[str] | None:
    """For a tree whose root mixes packages and the function's code (Python):
    the top-level entries holding files a distribution owns. None: every
    package is a dependency (Node.js: what is in ``node_modules/``)."""
    if rules.container is not None:
        return None
    return frozenset(name.split("/", 1)[0] for name in package.owners())


def _in_dependency(name: str, rules: Rules, owned: frozenset[str] | None) -> bool:
    place = _place(name, rules)
    return place is not None and (owned is None or place.package in owned)


# -- the tree on disk ---------------------------------------------------------


class _TreePackage(Package):
    """The regular files of a directory tree (symbolic links are left alone)."""

    def __init__(self, root: Path) -> None:
        self.label = str(root)
        self.zipped_size = None
        self._root = root
        self.files = tuple(sorted(_walk(root), key=lambda f: f.name))

    def read(self, name: str) -> bytes:
        return (self._root / name).read_bytes()

    def head(self, name: str, size: int) -> bytes:
        with (self._root / name).open("rb") as f:
            return f.read(size)


def _walk(root: Path) -> Iterator[PackageFile]:
    for dirpath, _dirnames, filenames in os.walk(root):  # never follows linked directories
        directory = Path(dirpath)
        for filename in filenames:
            info = (directory / filename).lstat()
            if stat.S_ISREG(info.st_mode):
                name = (directory / filename).relative_to(root).as_posix()
                yield PackageFile(name=name, size=info.st_size, mode=stat.S_IMODE(info.st_mode))


def _prune(root: Path, removed: set[str]) -> None:
    """Remove the directories that removing files left empty."""
    parents = {str(Path(name).parent) for name in removed}
    for parent in sorted(parents, key=lambda p: -p.count("/")):
        directory = root / parent
        while directory != root and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent


# -- strip ----------------------------------------------------------------------


def _strippable(package: Package, file: PackageFile, target: Target) -> bool:
    """A shared library or Node.js addon (by name), ELF for the target's machine."""
    base = file.name.rsplit("/", 1)[-1]
    if not (base.endswith((".so", ".node")) or ".so." in base):
        return False
    head = package.head(file.name, elf.HEAD_SIZE)
    if elf.machine(head) != target.architecture.elf_machine:
        return False
    return int.from_bytes(head[16:18], "little" if head[5] == 1 else "big") == _ET_DYN


def _strip_files(
    root: Path, files: Sequence[PackageFile], tool: str, environ: Mapping[str, str]
) -> dict[str, int]:
    """Strip ``files`` (below ``root``) in parallel; the new size of each that shrank."""
    workers = max(1, min(8, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda f: _strip_one(root / f.name, f.name, tool, environ), files))
    failures = [r for r in results if isinstance(r, ToolError)]
    if failures:
        raise failures[0]
    return {f.name: size for f, size in zip(files, results, strict=True) if isinstance(size, int)}


def _strip_one(path: Path, name: str, tool: str, environ: Mapping[str, str]) -> int | ToolError | None:
    """Strip ``path`` through a copy renamed over it; its new size, None when
    stripping would not make it smaller (it is left alone), or the error."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".strip", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    command = [tool, *STRIP_FLAGS, "-o", str(tmp), str(path)]
    try:
        try:
            done = processes.run(command, cwd=path.parent, env=environ)
        except OSError as exc:
            return ToolError(f'slim "strip": could not run {tool}: {exc.strerror or exc}')
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no message"])[0]
            return ToolError(
                f'slim "strip": {Path(tool).name} failed on {name}: {first}',
                details=tool_details(command, done.stderr),
            )
        before, after = path.stat(), tmp.stat().st_size
        if after >= before.st_size or not _same_image(path, tmp):
            return None
        tmp.chmod(stat.S_IMODE(before.st_mode))
        tmp.replace(path)
        return after
    finally:
        tmp.unlink(missing_ok=True)


_CHUNK = 1 << 20
_PT_LOAD = 1
_PAGE = (
    1 << 12
)  # the smallest page size: older glibc checks offsets modulo p_align, newer modulo the page size


@dataclass(frozen=True, slots=True)
class _Segment:  # an ELF program header
    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int


def _same_image(original: Path, stripped: Path) -> bool:
    """Whether the dynamic loader maps the same bytes from ``stripped`` as from
    ``original``: the same ELF header (but for the section table), the same
    program headers (but for file offsets, which must keep each loadable
    segment's offset congruent to its address), the same bytes in every
    segment. Strip tools have moved segments of libraries patched by
    patchelf (auditwheel's) to misaligned offsets ("ELF load command
    address/offset not page-aligned"); such output is refused."""
    with original.open("rb") as a, stripped.open("rb") as b:
        old, new = _headers(a), _headers(b)
        if old is None or new is None or old[0] != new[0] or len(old[1]) != len(new[1]):
            return False
        for before, after in zip(old[1], new[1], strict=True):
            if replace(before, offset=0) != replace(after, offset=0):
                return False
            modulus = max(before.align, _PAGE)
            if before.type == _PT_LOAD and (before.offset - before.vaddr) % modulus != (
                (after.offset - after.vaddr) % modulus
            ):
                return False
            if not _same_bytes(a, before.offset, b, after.offset, before.filesz, old[2]):
                return False
    return True


def _headers(f: BinaryIO) -> tuple[tuple[object, ...], list[_Segment], list[range]] | None:
    """The loader's ELF header fields, the program headers and the file ranges
    of both (compared field by field) of an ELF file, or None."""
    head = f.read(64)
    if len(head) < 52 or head[:4] != elf.ELF_MAGIC:
        return None
    end = "<" if head[5] == 1 else ">"
    wide = head[4] == 2
    try:
        if wide:
            fields = struct.unpack_from(end + "HHIQQ", head, 16) + struct.unpack_from(end + "IHHH", head, 48)
            layout = end + "IIQQQQQQ"  # type flags offset vaddr paddr filesz memsz align
        else:
            fields = struct.unpack_from(end + "HHIII", head, 16) + struct.unpack_from(end + "IHHH", head, 36)
            layout = end + "IIIIIIII"  # type offset vaddr paddr filesz memsz flags align
        phoff, ehsize, phentsize, phnum = fields[4], fields[6], fields[7], fields[8]
        f.seek(phoff)
        table = f.read(phentsize * phnum)
        segments = []
        for index in range(phnum):
            v = struct.unpack_from(layout, table, index * phentsize)
            order = (0, 1, 2, 3, 4, 5, 6, 7) if wide else (0, 6, 1, 2, 3, 4, 5, 7)
            segments.append(_Segment(*(v[i] for i in order)))
    except struct.error:
        return None
    masks = [range(0, ehsize), range(phoff, phoff + phentsize * phnum)]
    return (head[:16], *fields), segments, masks


def _same_bytes(
    a: BinaryIO, a_offset: int, b: BinaryIO, b_offset: int, size: int, masks: list[range]
) -> bool:
    """Whether ``size`` bytes at ``a_offset`` of ``a`` equal those at
    ``b_offset`` of ``b``, the ``masks`` (file ranges of the headers) aside."""
    done = 0
    while done < size:
        length = min(_CHUNK, size - done)
        chunks = []
        for f, offset in ((a, a_offset + done), (b, b_offset + done)):
            f.seek(offset)
            data = bytearray(f.read(length))
            if len(data) != length:
                return False
            for mask in masks:
                low, high = max(mask.start, offset), min(mask.stop, offset + length)
                if low < high:
                    data[low - offset : high - offset] = bytes(high - low)
            chunks.append(data)
        if chunks[0] != chunks[1]:
            return False
        done += length
    return True


# -- RECORD -----------------------------------------------------------------------


def _rewrite_records(root: Path, rules: Rules, removed: set[str], stripped: set[str]) -> None:
    """Drop the rows of removed files from each metadata directory's record,
    and give stripped files their new hash and size (replacing the file: it
    may be a hard link into an installer's cache)."""
    assert rules.metadata is not None and rules.record is not None
    for directory in sorted(root.glob(rules.metadata)):
        record = directory / rules.record
        if not record.is_file() or record.is_symlink():
            continue
        text = record.read_text("utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        kept = []
        for row in rows:
            path = row[0] if row else ""
            if path in removed:
                continue
            if path in stripped:
                row = [path, _record_hash(file_sha256(root / path)), str((root / path).stat().st_size)]
            kept.append(row)
        if kept == rows:
            continue
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        write_bytes(record, out.getvalue().encode("utf-8"), mode=stat.S_IMODE(record.stat().st_mode))


def _record_hash(digest: bytes) -> str:
    """A RECORD hash: urlsafe base64 without padding (not code_sha256's encoding)."""
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
