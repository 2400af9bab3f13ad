"""lambdapack.python.index: which index URLs uv searches, what an index lists
for a project (PEP 691 JSON or PEP 503 HTML, here the committed wheelhouse's
file: index), and which releases have no wheel that loads on the target."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import WHEELHOUSE
from lambdapack.python.index import DEFAULT_INDEX, index_urls, project_files, releases_without
from lambdapack.python.target import supported_tags
from lambdapack.runtimes import Target, target


def test_index_urls_follow_the_options_and_the_environment() -> None:
    assert index_urls([], {}) == [DEFAULT_INDEX]
    assert index_urls(["--index-url", "https://a/simple", "--extra-index-url", "https://b/simple"], {}) == [
        "https://a/simple",
        "https://b/simple",
    ]
    assert index_urls(
        [], {"PIP_INDEX_URL": "https://p/simple", "UV_EXTRA_INDEX_URL": "https://x https://y"}
    ) == [
        "https://p/simple",
        "https://x",
        "https://y",
    ]
    # files that may come from elsewhere: the caller must not guess
    assert index_urls(["--no-index"], {}) is None
    assert index_urls(["--find-links", "/w"], {}) is None
    assert index_urls([], {"UV_INDEX": "name=https://i/simple"}) is None


def _at(runtime: str, architecture: str, glibc: tuple[int, int]) -> Target:
    made = target(runtime, architecture)
    return replace(made, runtime=replace(made.runtime, glibc=glibc))


def test_releases_whose_wheels_all_need_a_newer_glibc() -> None:
    """python3.11 (glibc 2.26), resolved at manylinux_2_28: the releases to leave out."""
    py311 = target("python3.11", "x86_64")
    files = [
        "numpy-2.2.6-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "numpy-2.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "numpy-2.3.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        "numpy-2.3.1-cp311-cp311-manylinux_2_24_aarch64.whl",  # another machine: no help
        "numpy-2.3.2-cp312-cp312-manylinux_2_28_x86_64.whl",  # another Python: never selectable
        "numpy-2.3.2.tar.gz",
        "numpy-2.4.0-cp311-abi3-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",  # loads (2_24)
        "numpy-2.5.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "numpy-2.5.0-cp311-cp311-manylinux_2_28_x86_64.whl",  # one wheel loads: kept
    ]
    wide = supported_tags(_at("python3.11", "x86_64", (2, 28)))
    assert releases_without(files, wanted=supported_tags(py311), selectable=wide) == {"2.3.0", "2.3.1"}


@pytest.mark.parametrize("name", ["lpfix-ceiling", "LPFIX_Ceiling"])
def test_the_wheelhouse_index_lists_a_project_and_names_the_2_28_only_release(name: str) -> None:
    files = project_files(name, [(WHEELHOUSE / "simple").as_uri()], {})
    assert files is not None and "lpfix_ceiling-1.1.0-cp311-abi3-manylinux_2_28_x86_64.whl" in files
    for architecture in ("x86_64", "arm64"):
        exact = supported_tags(target("python3.11", architecture))
        wide = supported_tags(_at("python3.11", architecture, (2, 28)))
        assert releases_without(files, wanted=exact, selectable=wide) == {"1.1.0"}
    assert project_files("no-such-project", [(WHEELHOUSE / "simple").as_uri()], {}) is None
