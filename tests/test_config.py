from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lambdapack.config import find_config, load_project, single_function
from lambdapack.errors import ConfigError

GOOD = """\
runtime = "python3.12"
architecture = "arm64"
output = "out"
exclude = ["*.md"]

[functions.api]
source = "functions/api"
handler = "app.lambda_handler"
exclude = ["tests/"]

[functions.worker]
source = "functions/worker"
handler = "worker.handle"
runtime = "python3.11"
architecture = "x86_64"
requirements = "reqs/worker.txt"
"""

FILES = {
    "functions/api/app.py": "",
    "functions/api/requirements.txt": "orjson\n",
    "functions/worker/worker.py": "",
    "reqs/worker.txt": "",
}


def test_defaults_overrides_and_paths(make_project: Callable[..., Path]) -> None:
    root = make_project(GOOD, FILES)
    project = load_project(root / "lambdapack.toml")
    assert project.root == root.resolve()
    assert project.output == root.resolve() / "out"
    api, worker = project.functions["api"], project.functions["worker"]
    assert api.target.runtime.name == "python3.12" and api.target.architecture.name == "arm64"
    assert (
        api.dependencies is not None
        and api.dependencies.input == root.resolve() / "functions/api/requirements.txt"
    )
    assert api.exclude == ("*.md", "tests/")
    assert worker.target.runtime.name == "python3.11" and worker.target.architecture.machine == "x86_64"
    assert worker.dependencies is not None and worker.dependencies.input == root.resolve() / "reqs/worker.txt"
    assert [s.name for s in project.select([])] == ["api", "worker"]


def test_every_problem_is_reported_at_once_with_file_and_key(make_project: Callable[..., Path]) -> None:
    root = make_project(
        """\
        runtime = "python3.8"
        architecure = "arm64"

        [functions.api]
        source = "functions/nope"
        handler = "app"
        requirments = "x.txt"
        architecture = "aarch64"
        """,
        {},
    )
    with pytest.raises(ConfigError) as info:
        load_project(root / "lambdapack.toml")
    problems = info.value.problems
    text = "\n".join(problems)
    assert "lambdapack.toml: architecure: unknown key (did you mean 'architecture'?)" in problems
    assert (
        "lambdapack.toml: functions.api.requirments: unknown key (did you mean 'requirements'?)" in problems
    )
    # reported once, where it is written, not once per function inheriting it
    assert "lambdapack.toml: runtime: 'python3.8' is not a supported runtime; supported: python3.10" in text
    assert "functions.api.runtime" not in text
    assert "functions.api.architecture: 'aarch64' is not a supported architecture" in text
    assert "functions.api.source: directory 'functions/nope' does not exist" in text
    assert "functions.api.handler: 'app' is not MODULE.FUNCTION" in text
    assert info.value.exit_code == 2


def test_pyproject_tool_table_and_discovery_from_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "main.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.lambdapack]\nruntime = "python3.13"\narchitecture = "x86_64"\n'
        '[tool.lambdapack.functions.fn]\nsource = "fn"\nhandler = "main.handler"\nbogus = 1\n'
    )
    found = find_config(tmp_path / "fn")
    assert found == tmp_path / "pyproject.toml"
    with pytest.raises(ConfigError) as info:
        load_project(found)
    assert info.value.problems == ("pyproject.toml: tool.lambdapack.functions.fn.bogus: unknown key",)


def test_lambdapack_toml_wins_and_invalid_toml_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.lambdapack]\n")
    (tmp_path / "lambdapack.toml").write_text("runtime = \n")
    assert find_config(tmp_path) == tmp_path / "lambdapack.toml"
    with pytest.raises(ConfigError, match=r"lambdapack.toml: not valid TOML"):
        load_project(tmp_path / "lambdapack.toml")


def test_no_functions_and_unknown_selection(make_project: Callable[..., Path]) -> None:
    root = make_project('runtime = "python3.12"\n', {})
    with pytest.raises(ConfigError, match="no functions defined"):
        load_project(root / "lambdapack.toml")
    project = load_project(make_project(GOOD, FILES, name="p2") / "lambdapack.toml")
    with pytest.raises(ConfigError, match=r"unknown function 'apii' \(did you mean 'api'\?\)"):
        project.select(["apii"])


def test_single_function_from_arguments(tmp_path: Path) -> None:
    (tmp_path / "functions" / "api").mkdir(parents=True)
    project = single_function(
        tmp_path, source="functions/api", handler="app.h", runtime="python3.14", architecture="arm64"
    )
    assert list(project.functions) == ["api"]
    assert project.output == tmp_path.resolve() / "dist"
    with pytest.raises(ConfigError) as info:
        single_function(tmp_path, source="nope", handler="h", runtime="python3.9", architecture="arm64")
    text = "\n".join(info.value.problems)
    assert "--source: directory 'nope' does not exist" in text
    assert "--runtime: 'python3.9' is not a supported runtime" in text
    assert "--handler: 'h' is not MODULE.FUNCTION" in text


def test_requirements_false_turns_off_the_default_file(make_project: Callable[..., Path]) -> None:
    config = GOOD.replace('exclude = ["tests/"]', 'exclude = ["tests/"]\nrequirements = false')
    project = load_project(make_project(config, FILES) / "lambdapack.toml")
    assert project.functions["api"].dependencies is None
