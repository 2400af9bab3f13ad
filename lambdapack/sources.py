"""Select the function's own files: gitignore-style filtering with pathspec.

A file is left out when lambdapack's default excludes, a ``.gitignore`` (any
from the project root down to the file's directory; within them git's rules,
deeper files win), or the function's ``exclude`` patterns match it; an
``include`` pattern brings back any file, whatever excluded it. Excluded
directories are not walked unless ``include`` patterns exist. See
docs/config.md.
"""

from __future__ import annotations

import os
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
) -> tuple[ArchiveEntry, ...]:
    """The files of ``source`` that go into the zip, sorted by name.

    ``skip`` lists absolute directories never to include (the output dir);
    ``defaults`` are the language's default excludes, added to the common ones.
    """
    source = source.resolve()
    project_root = project_root.resolve()
    walk = _Walk(
        source=source,
        project_root=project_root,
        defaults=GitIgnoreSpec.from_lines((*COMMON_EXCLUDES, *defaults)),
        excludes=GitIgnoreSpec.from_lines(exclude),
        includes=GitIgnoreSpec.from_lines(include) if include else None,
        skipped=frozenset(p.resolve() for p in skip),
    )
    files = walk.files(source, _parent_gitignores(source, project_root), frozenset())
    return tuple(sorted(files, key=lambda f: f.name.encode("utf-8", "surrogateescape")))


@dataclass(frozen=True, slots=True)
class _Ignore:
    base: str  # directory of the .gitignore, relative to the source ('' = source)
    spec: GitIgnoreSpec
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
        return self.spec.check_file(rel).include


@dataclass(frozen=True, kw_only=True, slots=True)
class _Walk:
    source: Path
    project_root: Path
    defaults: GitIgnoreSpec
    excludes: GitIgnoreSpec
    includes: GitIgnoreSpec | None
    skipped: frozenset[Path]

    def excluded(self, name: str, ignores: Sequence[_Ignore]) -> bool:
        """Whether ``name`` (a file, or a directory with a trailing '/') stays out."""
        if self.includes is not None and self.includes.match_file(name):
            return False
        return _gitignored(name, ignores) or self.defaults.match_file(name) or self.excludes.match_file(name)

    def files(
        self, directory: Path, ignores: Sequence[_Ignore], seen: frozenset[Path]
    ) -> Iterator[ArchiveEntry]:
        real = directory.resolve()
        if real in seen:
            raise SourceError(f"symlink loop at {directory}")
        seen = seen | {real}
        here = _read_gitignore(directory / ".gitignore")
        if here is not None:
            rel = directory.relative_to(self.source).as_posix()
            base = "" if rel == "." else rel
            ignores = [*ignores, _Ignore(base=base, spec=here, outside=False, prefix="")]
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise SourceError(f"cannot read directory {directory}: {exc.strerror}") from None
        for entry in entries:
            path = Path(entry.path)
            name = path.relative_to(self.source).as_posix()
            try:
                st = path.stat()
            except FileNotFoundError:
                if not entry.is_symlink() or self.excluded(name, ignores):
                    continue
                raise SourceError(f"{name}: broken symlink ({path.readlink()})") from None
            except OSError as exc:
                raise SourceError(f"cannot stat {path}: {exc.strerror}") from None
            is_dir = stat.S_ISDIR(st.st_mode)
            if is_dir and (entry.name in _PRUNE or (path / "pyvenv.cfg").exists()):
                continue
            key = name + "/" if is_dir else name
            if entry.is_symlink() and not path.resolve().is_relative_to(self.project_root):
                if self.excluded(key, ignores):
                    continue
                raise SourceError(
                    f"{name}: symlink points outside the project ({path.readlink()}); "
                    "copy the file in, or exclude the link"
                )
            if is_dir:
                if path.resolve() in self.skipped:
                    continue
                if self.includes is None and self.excluded(key, ignores):
                    continue
                yield from self.files(path, ignores, seen)
            elif stat.S_ISREG(st.st_mode) and not self.excluded(name, ignores):
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:
                    raise SourceError(f"{path}: file name is not valid UTF-8") from None
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
            found.append(_Ignore(base="", spec=spec, outside=True, prefix=prefix))
    return found


def _read_gitignore(path: Path) -> GitIgnoreSpec | None:
    try:
        return GitIgnoreSpec.from_lines(path.read_text("utf-8").splitlines())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from None
