from __future__ import annotations

from pathlib import Path

import pytest

from lambdapack.python.engine import ToolResult, UvEngine
from lambdapack.python.lock import prepare, resolve_error
from lambdapack.runtimes import target

HASHED = """\
# pip-compile output
--index-url https://pypi.org/simple
six==1.17.0 \\
    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\
    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81
    # via -r requirements.in
idna==3.10 ; python_version >= "3.6" \\
    --hash=sha256:12f65c9b470abda6dc35cf8e63cc574b1c52b11df2c86030af0ac09b01b13ea9
"""


class _NoEngine:
    """An engine that must not be called: a hashed file is used as it is."""

    def compile(self, *args: object, **kwargs: object) -> ToolResult:
        raise AssertionError("compile called")

    def install(self, *args: object, **kwargs: object) -> ToolResult:
        raise AssertionError("install called")


def test_fully_hashed_file_is_used_as_is(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text(HASHED)
    lock = prepare(req, target("python3.12", "arm64"), tmp_path, _NoEngine(), cwd=tmp_path)
    assert lock.path == req and lock.user_pinned and not lock.empty


@pytest.mark.parametrize("text", ["", "# nothing\n\n", "--index-url https://example.invalid/simple\n"])
def test_files_without_requirements_are_empty(tmp_path: Path, text: str) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text(text)
    assert prepare(req, target("python3.12", "arm64"), tmp_path, _NoEngine(), cwd=tmp_path).empty


@pytest.mark.network
def test_unpinned_requirements_are_resolved_with_hashes_for_the_target(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text('--find-links wheels\nsix\nidna ; platform_machine == "x86_64"\n')
    (tmp_path / "wheels").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    lock = prepare(req, target("python3.11", "arm64"), work, UvEngine(), cwd=tmp_path)
    text = lock.resolved.read_text()
    assert not lock.user_pinned and lock.resolved != req and lock.source == req
    assert "six==" in text and "--hash=sha256:" in text
    assert "idna" not in text  # the marker is false on arm64, whatever the host is
    assert "find-links" not in text  # index options stay out of the (cached) lock ...
    # ... and go to the install step with the lock, paths made absolute
    assert lock.path.read_text() == f"--find-links {tmp_path / 'wheels'}\n-r {lock.resolved}\n"


def test_resolve_error_names_the_culprit() -> None:
    t = target("python3.11", "x86_64")
    result = ToolResult(
        command=("uv", "pip", "compile"),
        returncode=1,
        stdout="",
        stderr="error: No solution found when resolving dependencies\n"
        "  cause: Because you require flask>=2 and flask<1, we can conclude that your requirements "
        "are unsatisfiable.\n",
    )
    error = resolve_error(result, t, Path("requirements.txt"))
    assert str(error) == (
        "cannot resolve requirements.txt for python3.11 x86_64: Because you require flask>=2 and "
        "flask<1, we can conclude that your requirements are unsatisfiable."
    )
    assert "uv pip compile" in error.details


def test_a_conflict_shows_uvs_whole_explanation(tmp_path: Path) -> None:
    stderr = (
        "error: No solution found when resolving dependencies\n"
        "  cause: Because requests==2.31.0 depends on urllib3>=1.21.1,<3 and you require requests==2.31.0, "
        "we can conclude that you require urllib3>=1.21.1,<3.\n"
        "         And because you require urllib3<1.21, we can conclude that your requirements are "
        "unsatisfiable.\n"
    )
    result = ToolResult(command=("uv", "pip", "compile"), returncode=1, stdout="", stderr=stderr)
    error = resolve_error(result, target("python3.12", "arm64"), tmp_path / "requirements.txt")
    assert "\n" not in error.message
    assert "you require urllib3<1.21" in error.message  # the conflicting pin, not only the first cause
    assert error.message.endswith("your requirements are unsatisfiable.")


def test_index_options_of_an_install_input(tmp_path: Path) -> None:
    """The lines of a requirements file that choose where packages come from, as arguments
    (for the sdist fetch): relative paths made absolute, `=` in URLs kept."""
    from lambdapack.python.lock import Lock, index_options

    path = tmp_path / "requirements.txt"
    path.write_text(
        "--index-url=https://h/simple?token=a=b\n-f ./w\n--no-index\n-r x.txt\nfoo==1\n-c c.txt\n"
    )
    lock = Lock(path=path, source=path, resolved=path, user_pinned=True, empty=False)
    assert index_options(lock) == [
        "--index-url",
        "https://h/simple?token=a=b",
        "-f",
        str(tmp_path / "w"),
        "--no-index",
    ]
