"""Select the function's own files: gitignore-style filtering with pathspec.

A file is left out when lambdapack's default excludes, a ``.gitignore`` (any
from the project root down to the file's directory; within them git's rules,
deeper files win), or the function's ``exclude`` patterns match it; an
``include`` pattern brings back any file, whatever excluded it. Excluded
directories are not walked unless ``include`` patterns exist. See
docs/config.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .archive import ArchiveEntry
from .digest import sha256_hex
from .errors import SourceError
from .manifest import LOCK_NAME, MANIFEST_NAME
from .state import PLAN_NAME, RACY_NS, STATE_NAME

if TYPE_CHECKING:  # pathspec is imported by a walk: a no-op of an unchanged tree needs none
    from pathspec import GitIgnoreSpec

    from .state import TreeMemos

#: Excluded from every function unless an ``include`` pattern brings them
#: back; each language adds its own (``Ecosystem.default_excludes``).
#: Documented in docs/config.md.
COMMON_EXCLUDES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    ".env",
    ".env.*",
    ".gitignore",
    ".DS_Store",
    ".idea/",
    ".vscode/",
    "*.swp",
    "*~",
    # lambdapack's outputs, wherever they are: outputs are never inputs
    "lambdapack-manifest.json",
    ".lambdapack-state.json",
    ".lambdapack-plan.json",
    ".lambdapack.lock",
)

#: lambdapack's own files in an output directory (with the zips and their temporary files).
_OUTPUT_NAMES = frozenset({MANIFEST_NAME, STATE_NAME, PLAN_NAME, LOCK_NAME})
#: A directory holding one of these is a lambdapack output directory: never walked.
_OUTPUT_MARKS = (MANIFEST_NAME, STATE_NAME)

#: Directories never descended into (a virtualenv is also any dir with pyvenv.cfg).
_PRUNE = frozenset({".git", ".hg", ".svn"})


def collect(
    source: Path,
    *,
    project_root: Path,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    skip: Sequence[Path] = (),
    defaults: Sequence[str] = (),
    stats: dict[str, os.stat_result] | None = None,
    watch: list[list[Any]] | None = None,
) -> tuple[ArchiveEntry, ...]:
    """The files of ``source`` that go into the zip, sorted by name.

    ``skip`` lists absolute directories never to include (the output dir);
    ``defaults`` are the language's default excludes, added to the common ones;
    ``stats`` receives each selected file's stat (so it is not taken twice),
    ``watch`` the stat signature of every directory and ``.gitignore`` the
    selection depends on (see :func:`select`).
    """

    source = source.resolve()
    project_root = project_root.resolve()
    walk = _Walk(
        source=source,
        project_root=project_root,
        root_prefix=str(project_root) + os.sep,
        defaults=Patterns(_spec((*COMMON_EXCLUDES, *defaults), "default exclude")),
        excludes=Patterns(_spec(exclude, "exclude")),
        includes=Patterns(_spec(include, "include")) if include else None,
        skipped=frozenset(str(p.resolve()) for p in skip),
        stats=stats if stats is not None else {},
        watch=watch if watch is not None else [],
    )
    parents = _parent_gitignores(source, project_root, walk.watch)
    files: list[ArchiveEntry] = []
    walk.files(str(source), "", parents, frozenset(), files)
    files.sort(key=lambda f: f.name.encode("utf-8", "surrogateescape"))
    return tuple(files)


_GROUP = re.compile(r"\(\?P<[^>]+>")


class Patterns:
    """A :class:`GitIgnoreSpec`, matched through one combined regular expression
    when it has no negated (``!``) patterns: then "the last matching pattern
    wins" is the same as "any pattern matches", and one ``re.match`` replaces a
    loop over every pattern (the walk of a 20,000-file function depends on it)."""

    __slots__ = ("_regex", "spec")

    def __init__(self, spec: GitIgnoreSpec) -> None:
        self.spec = spec
        self._regex: re.Pattern[str] | None = None
        active = [p for p in spec.patterns if p.include is not None]
        regexes = [getattr(p, "regex", None) for p in active]
        if active and all(p.include for p in active) and all(isinstance(r, re.Pattern) for r in regexes):
            patterns = [r for r in regexes if isinstance(r, re.Pattern)]
            if len({r.flags for r in patterns}) == 1:
                combined = "|".join(f"(?:{_GROUP.sub('(?:', r.pattern)})" for r in patterns)
                with contextlib.suppress(re.error):
                    self._regex = re.compile(combined, patterns[0].flags)

    def match(self, name: str) -> bool:
        if self._regex is not None:
            return self._regex.match(name) is not None
        return bool(self.spec.patterns) and bool(self.spec.match_file(name))

    def check(self, name: str) -> bool | None:
        """True: ignored, False: re-included, None: no pattern matched."""
        if self._regex is not None:
            return True if self._regex.match(name) is not None else None
        return self.spec.check_file(name).include


@dataclass(frozen=True, slots=True)
class _Ignore:
    base: str  # directory of the .gitignore, relative to the source ('' = source)
    spec: Patterns
    outside: bool  # the .gitignore is in a parent of the source dir
    prefix: str  # for outside ones: the source dir relative to the .gitignore's dir

    def check(self, name: str) -> bool | None:
        """True: ignored, False: re-included, None: no rule matched."""
        if self.outside:
            rel = self.prefix + name
        elif self.base:
            if not name.startswith(self.base + "/"):
                return None
            rel = name[len(self.base) + 1 :]
        else:
            rel = name
        return self.spec.check(rel)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Walk:
    source: Path
    project_root: Path
    root_prefix: str  # the project root with a trailing separator
    defaults: Patterns
    excludes: Patterns
    includes: Patterns | None
    skipped: frozenset[str]
    stats: dict[str, os.stat_result]
    watch: list[list[Any]]

    def excluded(self, name: str, ignores: Sequence[_Ignore]) -> bool:
        """Whether ``name`` (a file, or a directory with a trailing '/') stays out."""
        if self.includes is not None and self.includes.match(name):
            return False
        return _gitignored(name, ignores) or self.defaults.match(name) or self.excludes.match(name)

    def inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == str(self.project_root) or real.startswith(self.root_prefix)

    def output_file(self, directory_real: str, name: str) -> bool:
        """Whether ``name`` in a directory is one of lambdapack's outputs (when an
        output directory is the source directory itself: outputs are never inputs)."""
        if directory_real not in self.skipped:
            return False
        return name in _OUTPUT_NAMES or name.endswith(".zip") or name.endswith(".tmp")

    def files(
        self,
        directory: str,
        rel: str,
        ignores: Sequence[_Ignore],
        seen: frozenset[str],
        out: list[ArchiveEntry],
    ) -> None:
        """Add the selected files below ``directory`` (``rel``: its name in the
        zip with a trailing '/', or '' for the source directory) to ``out``."""
        real = os.path.realpath(directory)
        if real in seen:
            raise SourceError(f"symlink loop at {directory}")
        seen = seen | {real}
        _watch(self.watch, directory)
        here = _read_gitignore(Path(directory, ".gitignore"), self.watch)
        if here is not None:
            ignores = [*ignores, _Ignore(base=rel.rstrip("/"), spec=Patterns(here), outside=False, prefix="")]
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            raise SourceError(f"cannot read directory {directory}: {exc.strerror}") from None
        for entry in entries:
            path = entry.path
            name = rel + entry.name
            try:
                st = entry.stat()
            except FileNotFoundError:
                if not entry.is_symlink() or self.excluded(name, ignores):
                    continue
                raise SourceError(f"{name}: broken symlink ({Path(path).readlink()})") from None
            except OSError as exc:
                raise SourceError(f"cannot stat {path}: {exc.strerror}") from None
            is_dir = stat.S_ISDIR(st.st_mode)
            # String paths, not Path objects: the walk runs on every build, no-ops included.
            venv = is_dir and os.path.exists(path + "/pyvenv.cfg")  # noqa: PTH110 - see above
            output = is_dir and any(os.path.exists(f"{path}/{n}") for n in _OUTPUT_MARKS)  # noqa: PTH110
            if is_dir and (entry.name in _PRUNE or venv or output):
                continue
            key = name + "/" if is_dir else name
            if entry.is_symlink() and not self.inside(path):
                if self.excluded(key, ignores):
                    continue
                raise SourceError(
                    f"{name}: symlink points outside the project ({Path(path).readlink()}); "
                    "copy the file in, or exclude the link"
                )
            if is_dir:
                if os.path.realpath(path) in self.skipped:
                    continue
                if self.includes is None and self.excluded(key, ignores):
                    continue
                self.files(path, key, ignores, seen, out)
            elif (
                stat.S_ISREG(st.st_mode)
                and not self.excluded(name, ignores)
                and not self.output_file(real, entry.name)
            ):
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:
                    raise SourceError(f"{path}: file name is not valid UTF-8") from None
                if "\\" in entry.name:
                    raise SourceError(
                        f"{name}: the file name holds a backslash, which Windows tools take for a "
                        "directory separator (a path traversal when unzipped); rename or exclude it"
                    )
                self.stats[path] = st
                out.append(ArchiveEntry(name=name, path=path, executable=bool(st.st_mode & stat.S_IXUSR)))


def _gitignored(name: str, ignores: Sequence[_Ignore]) -> bool:
    verdict = False
    for ignore in ignores:
        result = ignore.check(name)
        if result is not None:
            verdict = result
    return verdict


def _parent_gitignores(source: Path, project_root: Path, watch: list[list[Any]]) -> list[_Ignore]:
    """``.gitignore`` files between the project root and the source dir."""
    if not source.is_relative_to(project_root):
        return []
    found = []
    for directory in reversed(source.parents):
        if not directory.is_relative_to(project_root):
            continue
        _watch(watch, str(directory))
        spec = _read_gitignore(directory / ".gitignore", watch)
        if spec is not None:
            prefix = source.relative_to(directory).as_posix() + "/"
            found.append(_Ignore(base="", spec=Patterns(spec), outside=True, prefix=prefix))
    return found


def _spec(lines: Sequence[str], key: str) -> GitIgnoreSpec:
    """The patterns of the config key ``key``; an invalid one is a one-line error naming it."""
    from pathspec import GitIgnoreSpec

    try:
        return GitIgnoreSpec.from_lines(lines)
    except ValueError as exc:
        bad = next((line for line in lines if _invalid(line)), None)
        raise SourceError(f"{key}: invalid pattern {bad!r} ({exc}); fix or remove it") from None


def _invalid(line: str) -> bool:
    from pathspec import GitIgnoreSpec

    try:
        GitIgnoreSpec.from_lines([line])
    except ValueError:
        return True
    return False


def _read_gitignore(path: Path, watch: list[list[Any]]) -> GitIgnoreSpec | None:
    from pathspec import GitIgnoreSpec

    try:
        spec = GitIgnoreSpec.from_lines(path.read_text("utf-8").splitlines())
    except FileNotFoundError:
        return None  # creating it changes its directory, which is watched
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise SourceError(f"{path}: {exc}; fix the pattern") from None
    _watch(watch, str(path))
    return spec


def _watch(watch: list[list[Any]], path: str) -> None:
    """Remember what ``path`` (a directory or an ignore file) looks like now."""
    try:
        st = os.stat(path)  # noqa: PTH116 - string paths throughout the walk
    except OSError:
        return
    watch.append([path, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size])


@dataclass(frozen=True, kw_only=True, slots=True)
class Selected:
    """A source tree's selected files with their content hashes (as parallel
    tuples: a no-op build of 20,000 files makes no object per file)."""

    names: tuple[str, ...]  # in the zip, sorted
    paths: tuple[str, ...]
    executables: tuple[bool, ...]
    hashes: tuple[str, ...]  # SHA-256 of each file's content, hex
    key: str  # the tree's key in the memos

    def entries(self) -> tuple[ArchiveEntry, ...]:
        return tuple(
            ArchiveEntry(name=name, path=path, executable=executable)
            for name, path, executable in zip(self.names, self.paths, self.executables, strict=True)
        )


def select(
    source: Path,
    *,
    project_root: Path,
    memos: TreeMemos,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    skip: Sequence[Path] = (),
    defaults: Sequence[str] = (),
    clock: Callable[[], int] = time.time_ns,
) -> Selected:
    """:func:`collect` with content hashes, remembering the walk in ``memos``.

    When no directory the selection depends on (nor any ``.gitignore`` it
    read) changed since the last walk of the same tree with the same
    patterns, the files are the same: then only each file is stat'ed, and
    its remembered hash is reused while its (size, mtime_ns, inode, ctime_ns)
    is unchanged. Adding, removing or renaming a file changes its directory;
    editing a file changes its own stat; nothing changed within the last two
    seconds is trusted. This is what makes a no-op build of a 20,000-file
    function fast."""
    source = source.resolve()
    project_root = project_root.resolve()
    key = _tree_key(source, project_root, exclude, include, skip, defaults)
    memo = memos.get(key)
    now = clock()
    if memo is not None:
        reused = _reuse(source, memo, now, key)
        if reused is not None:
            selected, rows = reused
            if rows is not None:
                memos.put(key, {"watch": memo["watch"], "files": rows})
            return selected
    stats: dict[str, os.stat_result] = {}
    watch: list[list[Any]] = []
    entries = collect(
        source,
        project_root=project_root,
        exclude=exclude,
        include=include,
        skip=skip,
        defaults=defaults,
        stats=stats,
        watch=watch,
    )
    known = {row[0]: row for row in memo.get("files", ())} if memo else {}
    hashes, rows = [], []
    for entry in entries:
        st = stats[str(entry.path)]
        signature = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
        row = known.get(entry.name)
        digest = row[6] if row and row[2:6] == signature and row[6] else sha256_hex(entry.path)
        hashes.append(digest)
        rows.append([entry.name, entry.executable, *signature, digest if _settled(st, now) else None])
    settled = all(now - max(w[1], w[2]) > RACY_NS for w in watch)
    memos.put(key, {"watch": watch if settled else None, "files": rows})
    return Selected(
        names=tuple(e.name for e in entries),
        paths=tuple(str(e.path) for e in entries),
        executables=tuple(e.executable for e in entries),
        hashes=tuple(hashes),
        key=key,
    )


def _settled(st: os.stat_result, now: int) -> bool:
    return now - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_NS


def _tree_key(
    source: Path,
    project_root: Path,
    exclude: Sequence[str],
    include: Sequence[str],
    skip: Sequence[Path],
    defaults: Sequence[str],
) -> str:
    parts = [str(source), str(project_root), "\0".join(exclude), "\0".join(include)]
    parts += ["\0".join(sorted(str(p.resolve()) for p in skip)), "\0".join(defaults)]
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _reuse(
    source: Path, memo: Mapping[str, Any], now: int, key: str
) -> tuple[Selected, list[list[Any]] | None] | None:
    """The selection remembered in ``memo`` (and its updated rows, when a file
    changed), when every watched directory and ignore file is as it was; None
    when the tree must be walked again."""
    watch = memo.get("watch")
    if not watch:
        return None
    try:
        for path, mtime, ctime, ino, size in watch:
            st = os.stat(path)  # noqa: PTH116 - string paths throughout the walk
            if (st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_size) != (mtime, ctime, ino, size):
                return None
    except (OSError, ValueError, TypeError):
        return None
    prefix = str(source) + os.sep
    rows: list[list[Any]] = memo["files"]
    names: list[str] = []
    paths: list[str] = []
    executables: list[bool] = []
    hashes: list[str] = []
    updated: dict[int, list[Any]] = {}
    is_regular, exec_bit, os_stat = stat.S_ISREG, stat.S_IXUSR, os.stat
    try:
        for index, row in enumerate(rows):  # the hot loop of a no-op build: kept lean
            name = row[0]
            path = prefix + name
            st = os_stat(path)
            mode = st.st_mode
            if not is_regular(mode):
                return None
            digest = row[6]
            if (
                not digest
                or row[2] != st.st_size
                or row[3] != st.st_mtime_ns
                or row[4] != st.st_ino
                or row[5] != st.st_ctime_ns
            ):
                digest = sha256_hex(path)
                keep = digest if _settled(st, now) else None
                updated[index] = [name, bool(mode & exec_bit), st.st_size, st.st_mtime_ns, st.st_ino]
                updated[index] += [st.st_ctime_ns, keep]
            names.append(name)
            paths.append(path)
            executables.append(bool(mode & exec_bit))
            hashes.append(digest)
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return None
    selected = Selected(
        names=tuple(names),
        paths=tuple(paths),
        executables=tuple(executables),
        hashes=tuple(hashes),
        key=key,
    )
    if not updated:
        return selected, None
    return selected, [updated.get(index, row) for index, row in enumerate(rows)]
