"""The Python keys of the config (read by lambdapack.python.config through the
ecosystem seam): every problem at once, one message per problem, and index
options that reach every resolve."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import run_cli, write_tree
from lambdapack.config import IndexOptions, load_project, single_function
from lambdapack.errors import ConfigError
from lambdapack.python.config import PythonDependencies


def _problems(make_project: Callable[..., Path], config: str, files: dict[str, str]) -> list[str]:
    root = make_project(config, files)
    with pytest.raises(ConfigError) as caught:
        load_project(root / "lambdapack.toml")
    return list(caught.value.problems)


def test_every_problem_of_a_function_is_reported_at_once(make_project: Callable[..., Path]) -> None:
    problems = _problems(
        make_project,
        """
        runtime = "python3.12"
        architecture = "arm64"
        [functions.api]
        source = "missing"
        handler = "app.handler"
        extras = "web"
        index_url = 5
        find_links = "wheels"
        """,
        {},
    )
    assert problems == [
        "lambdapack.toml: functions.api.source: directory 'missing' does not exist",
        "lambdapack.toml: functions.api.extras: must be a list of extra names (strings), not 'web'",
        "lambdapack.toml: functions.api.index_url: must be a non-empty string, not 5",
        "lambdapack.toml: functions.api.find_links: must be a list of directories or URLs (strings), "
        "not 'wheels'",
    ]


def test_a_wrong_typed_required_key_is_reported_once(make_project: Callable[..., Path]) -> None:
    problems = _problems(
        make_project,
        """
        runtime = "python3.12"
        architecture = "arm64"
        [functions.api]
        source = "fn"
        handler = 5
        """,
        {"fn/app.py": ""},
    )
    assert problems == ["lambdapack.toml: functions.api.handler: must be a non-empty string, not 5"]


def test_top_level_python_keys_are_checked_once(make_project: Callable[..., Path]) -> None:
    problems = _problems(
        make_project,
        """
        runtime = "python3.12"
        architecture = "arm64"
        index_url = 1
        exclude_runtime_packages = "yes"
        [functions.a]
        source = "fn"
        handler = "app.handler"
        [functions.b]
        source = "fn"
        handler = "app.handler"
        """,
        {"fn/app.py": "", "fn/requirements.txt": "six\n"},
    )
    assert problems == [
        "lambdapack.toml: index_url: must be a non-empty string, not 1",
        "lambdapack.toml: exclude_runtime_packages: must be true or false, not 'yes'",
    ]


def test_python_keys_become_python_dependencies(make_project: Callable[..., Path]) -> None:
    root = make_project(
        """
        runtime = "python3.12"
        architecture = "arm64"
        index_url = "https://example.invalid/simple"
        find_links = ["wheels"]
        exclude_runtime_packages = true
        [functions.api]
        source = "fn"
        handler = "app.handler"
        extras = ["web"]
        requirements = "fn/pyproject.toml"
        extra_index_urls = ["https://mirror.invalid/simple"]
        [functions.bare]
        source = "fn"
        handler = "app.handler"
        requirements = false
        """,
        {"fn/app.py": "", "fn/pyproject.toml": "[project]\nname='x'\nversion='1'\ndependencies=['six']\n"},
    )
    project = load_project(root / "lambdapack.toml")
    deps = project.functions["api"].dependencies
    assert isinstance(deps, PythonDependencies)
    assert deps.input == root.resolve() / "fn" / "pyproject.toml"
    assert deps.selection.extras == ("web",)
    assert deps.exclude_runtime_packages is True
    assert deps.index.index_url == "https://example.invalid/simple"
    assert deps.index.extra_index_urls == ("https://mirror.invalid/simple",)
    assert deps.index.find_links == (str(root.resolve() / "wheels"),)
    assert project.functions["bare"].dependencies is None


def test_index_options_of_the_command_line_reach_a_source_build(tmp_path: Path) -> None:
    """`build --source … --index-url URL` must resolve against URL, never the
    default index (a dependency-confusion risk): a dead index makes it fail."""
    write_tree(tmp_path, {"fn/app.py": "def handler(e, c):\n    return 1\n", "fn/requirements.txt": "six\n"})
    dead = "http://127.0.0.1:9/simple"
    project = single_function(
        tmp_path,
        source="fn",
        handler="app.handler",
        runtime="python3.12",
        architecture="arm64",
        index=IndexOptions(index_url=dead),
    )
    deps = project.functions["fn"].dependencies
    assert isinstance(deps, PythonDependencies) and deps.index.index_url == dead

    done = run_cli(
        "build",
        "--source",
        "fn",
        "--handler",
        "app.handler",
        "--runtime",
        "python3.12",
        "--architecture",
        "arm64",
        "--index-url",
        dead,
        cwd=tmp_path,
        env={"UV_HTTP_TIMEOUT": "5", "UV_HTTP_RETRIES": "0"},
    )
    assert done.returncode == 1, done.stderr
    assert "cannot resolve" in done.stderr or "127.0.0.1" in done.stderr, done.stderr
    assert not (tmp_path / "dist" / "fn.zip").exists()
