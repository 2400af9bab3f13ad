from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_tree
from lambdapack.errors import SourceError
from lambdapack.python.ecosystem import DEFAULT_EXCLUDES
from lambdapack.sources import collect


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
