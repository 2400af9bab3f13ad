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
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

from .archive import ArchiveEntry
from .errors import SourceError

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
)

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
) -> tuple[ArchiveEntry, ...]:
    """The files of ``source`` that go into the zip, sorted by name.

    ``skip`` lists absolute directories never to include (the output dir);
    ``defaults`` are the language's default excludes, added to the common ones;
    ``stats`` receives each selected file's stat (so it is not taken twice).
    """
    source = source.resolve()
    project_root = project_root.resolve()
    walk = _Walk(
        source=source,
        project_root=project_root,
        root_prefix=str(project_root) + os.sep,
        defaults=Patterns(GitIgnoreSpec.from_lines((*COMMON_EXCLUDES, *defaults))),
        excludes=Patterns(GitIgnoreSpec.from_lines(exclude)),
        includes=Patterns(GitIgnoreSpec.from_lines(include)) if include else None,
        skipped=frozenset(str(p.resolve()) for p in skip),
        stats=stats if stats is not None else {},
    )
    files = list(walk.files(str(source), "", _parent_gitignores(source, project_root), frozenset()))
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

    def excluded(self, name: str, ignores: Sequence[_Ignore]) -> bool:
        """Whether ``name`` (a file, or a directory with a trailing '/') stays out."""
        if self.includes is not None and self.includes.match(name):
            return False
        return _gitignored(name, ignores) or self.defaults.match(name) or self.excludes.match(name)

    def inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == str(self.project_root) or real.startswith(self.root_prefix)

    def files(
        self, directory: str, rel: str, ignores: Sequence[_Ignore], seen: frozenset[str]
    ) -> Iterator[ArchiveEntry]:
        """The selected files below ``directory`` (``rel``: its name in the zip
        with a trailing '/', or '' for the source directory)."""
        real = os.path.realpath(directory)
        if real in seen:
            raise SourceError(f"symlink loop at {directory}")
        seen = seen | {real}
        here = _read_gitignore(Path(directory, ".gitignore"))
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
            if is_dir and (entry.name in _PRUNE or venv):
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
                yield from self.files(path, key, ignores, seen)
            elif stat.S_ISREG(st.st_mode) and not self.excluded(name, ignores):
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:
                    raise SourceError(f"{path}: file name is not valid UTF-8") from None
                self.stats[path] = st
                yield ArchiveEntry(name=name, path=path, executable=bool(st.st_mode & stat.S_IXUSR))


def _gitignored(name: str, ignores: Sequence[_Ignore]) -> bool:
    verdict = False
    for ignore in ignores:
        result = ignore.check(name)
        if result is not None:
            verdict = result
    return verdict


def _parent_gitignores(source: Path, project_root: Path) -> list[_Ignore]:
    """``.gitignore`` files between the project root and the source dir."""
    if not source.is_relative_to(project_root):
        return []
    found = []
    for directory in reversed(source.parents):
        if not directory.is_relative_to(project_root):
            continue
        spec = _read_gitignore(directory / ".gitignore")
        if spec is not None:
            prefix = source.relative_to(directory).as_posix() + "/"
            found.append(_Ignore(base="", spec=Patterns(spec), outside=True, prefix=prefix))
    return found


def _read_gitignore(path: Path) -> GitIgnoreSpec | None:
    try:
        return GitIgnoreSpec.from_lines(path.read_text("utf-8").splitlines())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from None
