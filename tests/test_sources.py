from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from conftest import write_tree
from lambdapack.errors import SourceError
from lambdapack.python.ecosystem import DEFAULT_EXCLUDES
from lambdapack.sources import collect, select
from lambdapack.state import TreeMemos


def _names(source: Path, root: Path | None = None, **kwargs: object) -> list[str]:
    kwargs.setdefault("defaults", DEFAULT_EXCLUDES)
    return [f.name for f in collect(source, project_root=root or source, **kwargs)]  # type: ignore[arg-type]


def test_default_excludes_and_virtualenvs(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "app.py": "",
            "lib/util.py": "",
            "lib/__pycache__/util.cpython-312.pyc": b"x",
            "stale.pyc": b"x",
            ".git/config": "",
            ".env": "SECRET=1",
            ".env.prod": "SECRET=2",
            ".venv/lib/site.py": "",
            "myenv/pyvenv.cfg": "home = /usr",
            "myenv/lib/x.py": "",
            ".pytest_cache/v": "",
            "pkg.egg-info/PKG-INFO": "",
            ".DS_Store": b"",
        },
    )
    assert _names(tmp_path) == ["app.py", "lib/util.py"]


def test_gitignore_files_exclude_and_include(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            ".gitignore": "*.log\nbuild/\n",
            "functions/api/.gitignore": "local_*.py\n!local_keep.py\n",
            "functions/api/app.py": "",
            "functions/api/debug.log": "",
            "functions/api/local_x.py": "",
            "functions/api/local_keep.py": "",
            "functions/api/build/out.py": "",
            "functions/api/tests/test_app.py": "",
            "functions/api/docs/README.md": "",
            "functions/api/sub/.gitignore": "*.tmp\n",
            "functions/api/sub/a.tmp": "",
            "functions/api/sub/b.py": "",
        },
    )
    source = root / "functions/api"
    assert _names(source, root, exclude=["tests/", "*.md"]) == ["app.py", "local_keep.py", "sub/b.py"]
    assert _names(source, root, exclude=["tests/", "*.md"], include=["docs/README.md", "build/"]) == [
        "app.py",
        "build/out.py",
        "docs/README.md",
        "local_keep.py",
        "sub/b.py",
    ]


def test_symlinks_inside_are_followed_outside_are_errors(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "project", {"shared/common.py": "X = 1\n", "fn/app.py": ""})
    (root / "fn" / "common.py").symlink_to("../shared/common.py")
    assert _names(root / "fn", root) == ["app.py", "common.py"]
    outside = write_tree(tmp_path / "elsewhere", {"secret.py": ""})
    (root / "fn" / "secret.py").symlink_to(outside / "secret.py")
    with pytest.raises(SourceError, match=r"secret.py: symlink points outside the project"):
        collect(root / "fn", project_root=root)
    # an excluded link is simply left out
    assert _names(root / "fn", root, exclude=["secret.py"]) == ["app.py", "common.py"]


def test_exec_bit_and_skipped_output_dir(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {"run.sh": "#!/bin/sh\n", "app.py": "", "dist/old.zip": b"PK"})
    (root / "run.sh").chmod(0o750)
    files = {f.name: f.executable for f in collect(root, project_root=root, skip=[root / "dist"])}
    assert files == {"app.py": False, "run.sh": True}


def _later() -> int:
    """A clock ten seconds ahead: every file of the test counts as settled."""
    return time.time_ns() + 10_000_000_000


def _select(root: Path, memos: TreeMemos, **kwargs: object) -> tuple[list[str], list[str], list[bool]]:
    chosen = select(root, project_root=root, memos=memos, clock=_later, defaults=DEFAULT_EXCLUDES, **kwargs)  # type: ignore[arg-type]
    fresh = collect(root, project_root=root, defaults=DEFAULT_EXCLUDES, **kwargs)  # type: ignore[arg-type]
    assert list(chosen.names) == [e.name for e in fresh]  # the memo never disagrees with a walk
    assert list(chosen.executables) == [e.executable for e in fresh]
    assert list(chosen.hashes) == [hashlib.sha256(Path(e.path).read_bytes()).hexdigest() for e in fresh]
    return list(chosen.names), list(chosen.hashes), list(chosen.executables)


def test_select_remembers_the_walk_and_sees_every_kind_of_change(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "fn", {"app.py": "a = 1\n", "pkg/mod.py": "b = 2\n", "pkg/data.txt": "x"})
    memos = TreeMemos()
    names, hashes, _ = _select(root, memos)
    assert names == ["app.py", "pkg/data.txt", "pkg/mod.py"]
    key = select(root, project_root=root, memos=memos, clock=_later, defaults=DEFAULT_EXCLUDES).key
    remembered = memos.get(key)
    assert remembered is not None and remembered["watch"] and len(remembered["files"]) == 3

    # the same tree again: reused from the memo (no walk: pathspec is not needed)
    assert _select(root, memos)[0] == names

    (root / "pkg" / "mod.py").write_text("b = 3\n")  # an edit in place, same size
    assert _select(root, memos)[1][2] != hashes[2]
    (root / "pkg" / "new.py").write_text("")  # a new file in a subdirectory
    assert "pkg/new.py" in _select(root, memos)[0]
    (root / "pkg" / "data.txt").unlink()  # a deleted file
    assert "pkg/data.txt" not in _select(root, memos)[0]
    (root / "app.py").chmod(0o755)  # an executable bit
    assert _select(root, memos)[2][0] is True
    (root / "pkg" / ".gitignore").write_text("new.py\n")  # a new ignore file
    assert "pkg/new.py" not in _select(root, memos)[0]
    (root / "pkg" / ".gitignore").write_text("mod.py\n")  # an ignore file edited in place
    assert _select(root, memos)[0] == ["app.py", "pkg/new.py"]
    sub = root / "pkg" / "deeper"
    sub.mkdir()
    (sub / "x.py").write_text("")
    assert "pkg/deeper/x.py" in _select(root, memos)[0]
    assert "pkg/deeper/x.py" not in _select(root, memos, exclude=["deeper/"])[0]  # other patterns


def test_select_does_not_trust_a_tree_that_just_changed(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "fn", {"app.py": ""})
    memos = TreeMemos()
    chosen = select(root, project_root=root, memos=memos)  # the real clock: everything is racy
    (key,) = memos.to_json(keep=[chosen.key]).keys()
    memo = memos.get(key)
    assert memo is not None and memo["watch"] is None  # walked again next time
    assert memo["files"][0][-1] is None  # and the hash is taken again
