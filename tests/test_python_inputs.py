"""Reading Python dependency inputs without running anything: exact pins,
Poetry 1 and 2 projects with extras and groups, the 'no wheel' message."""

from __future__ import annotations

from typing import Any

import pytest

from lambdapack.errors import ResolveError
from lambdapack.python.inputs import Selection, poetry_dependencies
from lambdapack.python.lock import is_exact_pin, no_wheel_message
from lambdapack.runtimes import target


@pytest.mark.parametrize(
    ("text", "pinned"),
    [
        ("six==1.17.0", True),
        ("six===1.17.0", True),
        ("Six == 1.17.0 ; python_version >= '3'", True),
        ("six==1.*", False),
        ("six>=1.16", False),
        ("six==1.16,!=1.16.1", False),
        ("six", False),
        ("six @ https://example.invalid/six-1.17.0-py2.py3-none-any.whl", False),
        ("not a requirement ==", False),
    ],
)
def test_exact_pins_are_recognised_by_packaging(text: str, pinned: bool) -> None:
    assert is_exact_pin(text) is pinned


POETRY2: dict[str, Any] = {
    "project": {
        "name": "app",
        "dependencies": ["requests>=2"],
        "optional-dependencies": {"fast": ["orjson"]},
    },
    "dependency-groups": {"aws": ["boto3"]},
}

POETRY1: dict[str, Any] = {
    "tool": {
        "poetry": {
            "dependencies": {
                "python": "^3.11",
                "requests": "^2",
                "orjson": {"version": "*", "optional": True},
                "pydantic": {"version": "^2", "extras": ["email"]},
            },
            "extras": {"fast": ["orjson"]},
            "group": {"aws": {"dependencies": {"boto3": "*"}}},
        }
    }
}


@pytest.mark.parametrize("project", [POETRY2, POETRY1], ids=["poetry2", "poetry1"])
def test_poetry_extras_and_groups_are_kept(project: dict[str, Any]) -> None:
    plain = poetry_dependencies(project, Selection())
    assert "orjson" not in plain and "boto3" not in plain
    chosen = poetry_dependencies(project, Selection(extras=("fast",), groups=("aws",)))
    assert "orjson" in chosen and "boto3" in chosen
    assert any(name.startswith("requests") for name in chosen)


def test_poetry_unknown_extra_or_group_is_an_error() -> None:
    with pytest.raises(ResolveError, match="'slow'"):
        poetry_dependencies(POETRY2, Selection(extras=("slow",)))
    with pytest.raises(ResolveError, match="'gcp'"):
        poetry_dependencies(POETRY1, Selection(groups=("gcp",)))


def test_no_wheel_message_says_what_loads_and_what_to_do() -> None:
    al2 = no_wheel_message("foo==1.0", target("python3.11", "arm64"), sdists="never")
    assert "manylinux glibc <= 2.26" in al2 and "cp311" in al2 and "aarch64" in al2
    assert 'sdists = "pure" or "container"' in al2  # building the sdist is the way out
    al2023 = no_wheel_message("foo==1.0", target("python3.12", "x86_64"))
    assert "manylinux glibc <= 2.34" in al2023 and "no sdist to build either" in al2023
