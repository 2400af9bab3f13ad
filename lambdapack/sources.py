"""Select the function's own files: gitignore-style filtering with pathspec.

Order of rules (last match wins): lambdapack's default excludes, then every
``.gitignore`` from the project root down to the file's directory, then the
function's ``exclude`` patterns, then its ``include`` patterns (which can
re-include anything, defaults included). See docs/config.md.
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

#: Excluded unless an ``include`` pattern brings them back. Documented in docs/config.md.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
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
_PRUNE = frozenset({".git", ".hg", ".svn", "__pycache__", ".tox", ".nox"})


def collect(
    source: Path,
    *,
    project_root: Path,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    skip: Sequence[Path] = (),
) -> tuple[ArchiveEntry, ...]:
    """The files of ``source`` that go into the zip, sorted by name.

    ``skip`` lists absolute directories never to include (the output dir).
    """
    source = source.resolve()
    project_root = project_root.resolve()
    defaults = GitIgnoreSpec.from_lines(DEFAULT_EXCLUDES)
    excludes = GitIgnoreSpec.from_lines(exclude)
    includes = GitIgnoreSpec.from_lines(include) if include else None
    ignores = _parent_gitignores(source, project_root)
    skipped = {p.resolve() for p in skip}
    prune = includes is None
    files = [
        f
        for f, gitignored in _walk(source, source, project_root, ignores, skipped, set(), prune)
        if _selected(f.name, gitignored, defaults, excludes, includes)
    ]
    return tuple(sorted(files, key=lambda f: f.name.encode("utf-8", "surrogateescape")))


def _selected(
    name: str,
    gitignored: bool,
    defaults: GitIgnoreSpec,
    excludes: GitIgnoreSpec,
    includes: GitIgnoreSpec | None,
) -> bool:
    if includes is not None and includes.match_file(name):
        return True
    return not (gitignored or defaults.match_file(name) or excludes.match_file(name))


@dataclass(frozen=True, slots=True)
class _Ignore:
    base: str  # directory of the .gitignore, relative to the source ('' = source)
    spec: GitIgnoreSpec
    outside: bool  # the .gitignore is in a parent of the source dir

    def check(self, name: str, prefix: str) -> bool | None:
        """True: ignored, False: re-included, None: no rule matched."""
        rel = prefix + name if self.outside else name[len(self.base) + 1 :] if self.base else name
        return self.spec.check_file(rel).include


def _parent_gitignores(source: Path, project_root: Path) -> list[tuple[_Ignore, str]]:
    """``.gitignore`` files between the project root and the source dir."""
    if not source.is_relative_to(project_root):
        return []
    found = []
    for directory in reversed([source, *source.parents]):
        if not directory.is_relative_to(project_root) or directory == source:
            continue
        spec = _read_gitignore(directory / ".gitignore")
        if spec is not None:
            prefix = source.relative_to(directory).as_posix() + "/"
            found.append((_Ignore(base="", spec=spec, outside=True), prefix))
    return found


def _read_gitignore(path: Path) -> GitIgnoreSpec | None:
    try:
        return GitIgnoreSpec.from_lines(path.read_text("utf-8").splitlines())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from None


def _walk(
    directory: Path,
    source: Path,
    project_root: Path,
    ignores: list[tuple[_Ignore, str]],
    skipped: set[Path],
    seen: set[Path],
    prune: bool,
) -> Iterator[tuple[ArchiveEntry, bool]]:
    """Every regular file below ``directory`` with whether git ignores it.
    Ignored directories are skipped entirely when ``prune`` is set."""
    real = directory.resolve()
    if real in seen:
        raise SourceError(f"symlink loop at {directory}")
    seen = seen | {real}
    here = _read_gitignore(directory / ".gitignore")
    if here is not None:
        rel = directory.relative_to(source).as_posix()
        ignores = [*ignores, (_Ignore(base="" if rel == "." else rel, spec=here, outside=False), "")]
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise SourceError(f"cannot read directory {directory}: {exc.strerror}") from None
    for entry in entries:
        path = Path(entry.path)
        name = path.relative_to(source).as_posix()
        if entry.is_symlink():
            resolved = path.resolve()
            if not resolved.is_relative_to(project_root):
                raise SourceError(
                    f"{name}: symlink points outside the project ({path.readlink()}); "
                    "copy the file in, or exclude the link"
                )
            if not resolved.exists():
                raise SourceError(f"{name}: broken symlink ({path.readlink()})")
        try:
            st = path.stat()
        except OSError as exc:
            raise SourceError(f"cannot stat {path}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            if entry.name in _PRUNE or (path / "pyvenv.cfg").exists() or path.resolve() in skipped:
                continue
            if prune and _ignored(name + "/", ignores):
                continue
            yield from _walk(path, source, project_root, ignores, skipped, seen, prune)
        elif stat.S_ISREG(st.st_mode):
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise SourceError(f"{path}: file name is not valid UTF-8") from None
            file = ArchiveEntry(name=name, path=path, executable=bool(st.st_mode & stat.S_IXUSR))
            yield file, _ignored(name, ignores)


def _ignored(name: str, ignores: list[tuple[_Ignore, str]]) -> bool:
    verdict = False
    for ignore, prefix in ignores:
        if ignore.base and not name.startswith(ignore.base + "/"):
            continue
        result = ignore.check(name, prefix)
        if result is not None:
            verdict = result
    return verdict
