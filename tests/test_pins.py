"""Which file of each pinned release a target installs (lambdapack.python.pins):
the wheel with the most preferred loading tag up to the runtime's exact glibc
ceiling, else the sdist when allowed; the lock lines that name that one file;
uv's pylock.toml read back. No uv, no network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from packaging.tags import parse_tag

from lambdapack.errors import ResolveError
from lambdapack.python.pins import (
    Candidate,
    Pin,
    Release,
    choose,
    exact,
    parse,
    read_pylock,
    render,
    resolution_glibc,
    resolution_platform,
)
from lambdapack.python.target import ordered_tags
from lambdapack.runtimes import Target, target

PY311_X86 = target("python3.11", "x86_64")
PY311_ARM = target("python3.11", "arm64")
PY312_X86 = target("python3.12", "x86_64")
PY312_ARM = target("python3.12", "arm64")
NONE: frozenset[str] = frozenset()


def _file(filename: str) -> Candidate:
    """A candidate whose hash is derived from its name (distinct per file)."""
    digest = hashlib.sha256(filename.encode()).hexdigest()
    return Candidate(filename=filename, sha256=digest, url=f"https://files.example/{filename}")


def _release(name: str, version: str, *wheel_tags: str, sdist: bool = False) -> Release:
    stem = name.replace("-", "_")
    wheels = tuple(_file(f"{stem}-{version}-{tag}.whl") for tag in wheel_tags)
    return Release(
        name=name, version=version, wheels=wheels, sdist=_file(f"{stem}-{version}.tar.gz") if sdist else None
    )


def _chosen(release: Release, t: Target, sources: frozenset[str] = NONE) -> str | None:
    """The file name choose() takes for the one release (None: unloadable)."""
    choice = choose([release], t, sources=sources)
    if choice.unloadable:
        assert choice.pins == () and choice.unloadable == (release,)
        return None
    (pin,) = choice.pins
    assert pin.sha256 == next(
        c.sha256 for c in (*release.wheels, release.sdist) if c and c.filename == pin.filename
    )
    return pin.filename


# -- the glibc ceiling ----------------------------------------------------------------------------


def test_python311_prefers_manylinux_2_24_to_manylinux2014() -> None:
    release = _release(
        "lpfix-ceiling",
        "1.0.0",
        "cp311-abi3-manylinux2014_x86_64",
        "cp311-abi3-manylinux_2_24_x86_64",
        "cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "cp311-abi3-manylinux_2_24_aarch64",
    )
    assert _chosen(release, PY311_X86) == "lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_24_x86_64.whl"
    assert _chosen(release, PY311_ARM) == "lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_24_aarch64.whl"
    # without the 2_24 wheel: the compressed 2_17/2014 tag set ranks at its best tag (2_17, then 2014)
    older = _release(
        "lpfix-ceiling",
        "1.0.0",
        "cp311-abi3-manylinux2014_x86_64",
        "cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "cp311-abi3-manylinux2010_x86_64",
    )
    assert (
        _chosen(older, PY311_X86)
        == "lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    )


def test_python311_never_takes_a_wheel_above_glibc_2_26() -> None:
    """uv resolves python3.11 at 2_28: a 2_27 or 2_28 wheel is in its answer, but Amazon Linux 2
    (glibc 2.26) cannot load it."""
    for tags in (
        ("cp311-cp311-manylinux_2_28_x86_64",),
        ("cp311-cp311-manylinux_2_27_x86_64", "cp311-abi3-manylinux_2_28_x86_64"),
        ("cp311-cp311-manylinux_2_26_aarch64",),  # the other machine
        ("cp311-cp311-musllinux_1_2_x86_64", "cp311-cp311-linux_x86_64", "cp311-cp311-macosx_11_0_arm64"),
        ("cp312-cp312-manylinux_2_17_x86_64",),  # another Python
    ):
        assert _chosen(_release("lpfix-new", "2.0", *tags), PY311_X86) is None, tags
    release = _release(
        "lpfix-new", "2.0", "cp311-cp311-manylinux_2_28_x86_64", "cp311-cp311-manylinux_2_26_x86_64"
    )
    assert _chosen(release, PY311_X86) == "lpfix_new-2.0-cp311-cp311-manylinux_2_26_x86_64.whl"
    # and python3.12 (Amazon Linux 2023) takes the 2_28 one
    assert _chosen(release, PY312_X86) is None  # cp311-cp311 is not an ABI of 3.12
    abi3 = _release(
        "lpfix-new", "2.0", "cp311-abi3-manylinux_2_28_x86_64", "cp311-abi3-manylinux_2_26_x86_64"
    )
    assert _chosen(abi3, PY312_X86) == "lpfix_new-2.0-cp311-abi3-manylinux_2_28_x86_64.whl"


def test_python312_prefers_manylinux_2_34_to_2_28_and_never_goes_above() -> None:
    release = _release(
        "lpfix-new",
        "2.0",
        "cp312-cp312-manylinux_2_28_x86_64",
        "cp312-cp312-manylinux_2_34_x86_64",
        "cp312-cp312-manylinux_2_35_x86_64",
        "cp312-cp312-manylinux_2_34_aarch64",
        "cp312-cp312-manylinux_2_28_aarch64",
    )
    assert _chosen(release, PY312_X86) == "lpfix_new-2.0-cp312-cp312-manylinux_2_34_x86_64.whl"
    assert _chosen(release, PY312_ARM) == "lpfix_new-2.0-cp312-cp312-manylinux_2_34_aarch64.whl"
    only_above = _release(
        "lpfix-new", "2.0", "cp312-cp312-manylinux_2_35_x86_64", "cp312-cp312-manylinux_2_39_x86_64"
    )
    assert _chosen(only_above, PY312_X86) is None


@pytest.mark.parametrize("t", [PY311_X86, PY312_ARM], ids=Target.describe)
def test_abi3_and_cpython_abi_rank_as_ordered_tags_says(t: Target) -> None:
    """Between a cpXY-cpXY and a cp311-abi3 wheel, choose takes the one whose tag comes first in
    ordered_tags (pip's order: the interpreter's own ABI at any manylinux level first), and a binary
    wheel before py3-none-any."""
    order = ordered_tags(t)
    machine = t.architecture.machine
    own = "cp{}{}".format(*t.runtime.version)
    tags = [
        f"{own}-{own}-manylinux2014_{machine}",
        f"cp311-abi3-manylinux_2_26_{machine}",
        f"cp311-abi3-manylinux_2_17_{machine}",
        "py3-none-any",
        f"py3-none-manylinux_2_17_{machine}",
    ]
    for first in tags:
        for second in tags:
            if first == second:
                continue
            expected = min((first, second), key=lambda tag: min(order.index(x) for x in parse_tag(tag)))
            release = _release("lpfix-both", "1.0", first, second)
            assert _chosen(release, t) == f"lpfix_both-1.0-{expected}.whl", (first, second)
    # concretely: cp311-cp311-manylinux2014 before cp311-abi3-manylinux_2_26, as pip installs
    release = _release(
        "lpfix-both", "1.0", "cp311-abi3-manylinux_2_26_x86_64", "cp311-cp311-manylinux2014_x86_64"
    )
    assert _chosen(release, PY311_X86) == "lpfix_both-1.0-cp311-cp311-manylinux2014_x86_64.whl"
    pure = _release("lpfix-both", "1.0", "py3-none-any", "cp311-abi3-manylinux2014_x86_64")
    assert _chosen(pure, PY311_X86) == "lpfix_both-1.0-cp311-abi3-manylinux2014_x86_64.whl"


def test_an_sdist_only_when_its_name_is_allowed_and_no_wheel_loads() -> None:
    no_wheel = _release("LPFix_SDist", "1.0.0", "cp311-cp311-manylinux_2_28_x86_64", sdist=True)
    assert _chosen(no_wheel, PY311_X86) is None
    assert _chosen(no_wheel, PY311_X86, frozenset({"lpfix-other"})) is None
    # ``sources`` holds canonical names; the pin's name is canonical too
    choice = choose([no_wheel], PY311_X86, sources=frozenset({"lpfix-sdist"}))
    assert choice.unloadable == () and no_wheel.sdist is not None
    sdist = no_wheel.sdist
    assert choice.pins == (
        Pin(name="lpfix-sdist", version="1.0.0", sha256=sdist.sha256, filename="LPFix_SDist-1.0.0.tar.gz"),
    )
    assert choice.pins[0].is_sdist
    # a loading wheel wins even when the sdist is allowed
    both = _release("lpfix-sdist", "1.0.0", "py3-none-any", sdist=True)
    assert _chosen(both, PY311_X86, frozenset({"lpfix-sdist"})) == "lpfix_sdist-1.0.0-py3-none-any.whl"
    # allowed, but there is no sdist
    assert _chosen(_release("lpfix-sdist", "1.0.0"), PY311_X86, frozenset({"lpfix-sdist"})) is None


def test_choose_sorts_pins_reports_every_unloadable_release_and_ignores_bad_file_names() -> None:
    releases = [
        _release("Zed", "1", "py3-none-any"),
        _release("lpfix-old", "1", "cp311-cp311-manylinux_2_28_x86_64"),
        _release("Alpha.Pkg", "2", "py3-none-any"),
        _release("lpfix-older", "3", "cp311-cp311-manylinux_2_27_x86_64"),
        Release(
            name="lpfix-bad",
            version="1",
            wheels=(Candidate(filename="not-a-wheel.whl", sha256="0" * 64, url="x"),),
            sdist=None,
        ),
    ]
    choice = choose(releases, PY311_X86, sources=NONE)
    assert [p.name for p in choice.pins] == ["alpha-pkg", "zed"]
    assert [r.name for r in choice.unloadable] == ["lpfix-old", "lpfix-older", "lpfix-bad"]
    assert choose([], PY311_X86, sources=NONE).pins == ()


@pytest.mark.parametrize(
    ("runtime", "architecture", "platform", "glibc"),
    [
        ("python3.10", "x86_64", "x86_64-manylinux_2_28", (2, 28)),
        ("python3.11", "x86_64", "x86_64-manylinux_2_28", (2, 28)),
        ("python3.11", "arm64", "aarch64-manylinux_2_28", (2, 28)),
        ("python3.12", "x86_64", "x86_64-manylinux_2_34", (2, 34)),
        ("python3.12", "arm64", "aarch64-manylinux_2_34", (2, 34)),
        ("python3.13", "arm64", "aarch64-manylinux_2_34", (2, 34)),
    ],
)
def test_resolution_platform_is_the_lowest_uv_triple_not_below_the_runtime_glibc(
    runtime: str, architecture: str, platform: str, glibc: tuple[int, int]
) -> None:
    t = target(runtime, architecture)
    assert resolution_platform(t) == platform
    assert resolution_glibc(t) == glibc >= t.runtime.glibc


# -- lock lines -----------------------------------------------------------------------------------

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64


def test_render_and_parse_round_trip() -> None:
    pins = [
        Pin(
            name="lpfix-ceiling",
            version="1.0.0",
            sha256=H1,
            filename="lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_24_x86_64.whl",
        ),
        Pin(
            name="jmespath",
            version="0.0.0+lpfix",
            sha256=H2,
            filename="jmespath-0.0.0+lpfix-py3-none-any.whl",
        ),
        Pin(name="lpfix-sdist", version="1.0.0", sha256=H3, filename="lpfix_sdist-1.0.0.tar.gz"),
    ]
    text = render(pins)
    assert text.splitlines()[0] == (
        f"lpfix-ceiling==1.0.0 --hash=sha256:{H1}  # lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_24_x86_64.whl"
    )
    assert text.endswith("\n") and len(text.splitlines()) == 3
    assert parse(text) == pins
    assert exact(parse(text))
    assert [p.is_sdist for p in parse(text)] == [False, False, True]
    assert render([]) == "" and parse("") == [] and exact([])
    # a header and blank lines are no pins; names come back canonical
    assert parse(f"# a header\n\nLPFix_Ceiling==1.0.0 --hash=sha256:{H1}  # f.whl\n") == [
        Pin(name="lpfix-ceiling", version="1.0.0", sha256=H1, filename="f.whl")
    ]


def test_parse_of_a_uv_lock_with_several_hashes_is_not_exact() -> None:
    uv_output = f"""\
# This file was autogenerated by uv via the following command:
#    uv pip compile requirements.in --generate-hashes
lpfix-base==1.1.0 \\
    --hash=sha256:{H1} \\
    --hash=sha256:{H2}
    # via lpfix-pure
lpfix-pure==1.0.0 \\
    --hash=sha256:{H3}
    # via -r requirements.in
typing-extensions==4.12.2 ; python_full_version < '3.12' \\
    --hash=sha256:{H2}
    # via
    #   lpfix-base
    #   lpfix-pure
"""
    pins = parse(uv_output)
    assert pins == [
        Pin(name="lpfix-base", version="1.1.0", sha256=H1, filename=""),
        Pin(name="lpfix-pure", version="1.0.0", sha256=H3, filename=""),
        Pin(name="typing-extensions", version="4.12.2", sha256=H2, filename=""),
    ]
    assert not exact(pins)
    assert not exact(
        [*parse(render([Pin(name="a", version="1", sha256=H1, filename="a-1-py3-none-any.whl")])), *pins]
    )
    # a pin without a hash is no pin (the lock must be hash-checked)
    assert parse("lpfix-base==1.1.0\nlpfix-pure>=1 --hash=sha256:" + H1 + "\n") == []


# -- pylock.toml ----------------------------------------------------------------------------------

CEILING = "lpfix_ceiling-1.0.0-cp311-abi3"
PYLOCK = f"""\
# This file was autogenerated by uv via the following command:
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11"

[[packages]]
name = "lpfix-ceiling"
version = "1.0.0"
wheels = [
    {{ url = "https://f.example/p/{CEILING}-manylinux2014_x86_64.whl", hashes = {{ sha256 = "{H1}" }} }},
    {{ url = "file:///wheels/{CEILING}-manylinux_2_24_x86_64.whl", hashes = {{ sha256 = "{H2}" }} }},
    {{ url = "https://f.example/p/no_hash-1.0.0-py3-none-any.whl", hashes = {{ md5 = "00" }} }},
]

[[packages]]
name = "lpfix-sdist"
version = "1.0.0"
sdist = {{ path = "wheelhouse/lpfix_sdist-1.0.0.tar.gz", hashes = {{ sha256 = "{H3}" }} }}

[[packages]]
name = "lpfix-named"
version = "2"
wheels = [{{ name = "lpfix_named-2-py3-none-any.whl", path = "../w/x.whl", hashes = {{ sha256 = "{H1}" }} }}]
sdist = {{ url = "https://f.example/lpfix%2Bnamed-2.tar.gz", hashes = {{ sha256 = "{H2}" }} }}

[[packages]]
name = "lpfix-local"
version = "0.1"
directory = {{ path = "libs/local" }}
"""


def test_read_pylock_takes_url_and_path_entries(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    path.write_text(PYLOCK)
    ceiling, sdist, named, local = read_pylock(path)
    assert (ceiling.name, ceiling.version, ceiling.sdist) == ("lpfix-ceiling", "1.0.0", None)
    assert ceiling.wheels == (
        Candidate(
            filename=f"{CEILING}-manylinux2014_x86_64.whl",
            sha256=H1,
            url=f"https://f.example/p/{CEILING}-manylinux2014_x86_64.whl",
        ),
        Candidate(
            filename=f"{CEILING}-manylinux_2_24_x86_64.whl",
            sha256=H2,
            url=f"file:///wheels/{CEILING}-manylinux_2_24_x86_64.whl",
        ),
    )  # the entry without a sha256 is left out
    assert sdist.wheels == ()
    assert sdist.sdist == Candidate(
        filename="lpfix_sdist-1.0.0.tar.gz", sha256=H3, url="wheelhouse/lpfix_sdist-1.0.0.tar.gz"
    )
    assert named.wheels == (
        Candidate(filename="lpfix_named-2-py3-none-any.whl", sha256=H1, url="../w/x.whl"),
    )
    assert named.sdist == Candidate(
        filename="lpfix+named-2.tar.gz", sha256=H2, url="https://f.example/lpfix%2Bnamed-2.tar.gz"
    )  # percent-decoded
    assert (local.wheels, local.sdist) == ((), None)

    choice = choose([ceiling, sdist, named], PY311_X86, sources=frozenset({"lpfix-sdist"}))
    assert render(choice.pins) == (
        f"lpfix-ceiling==1.0.0 --hash=sha256:{H2}  # {CEILING}-manylinux_2_24_x86_64.whl\n"
        f"lpfix-named==2 --hash=sha256:{H1}  # lpfix_named-2-py3-none-any.whl\n"
        f"lpfix-sdist==1.0.0 --hash=sha256:{H3}  # lpfix_sdist-1.0.0.tar.gz\n"
    )


def test_read_pylock_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ResolveError, match=r"^cannot read the resolution pylock\.toml: "):
        read_pylock(tmp_path / "pylock.toml")
    broken = tmp_path / "pylock.toml"
    broken.write_text("[[packages]\nname = ")
    with pytest.raises(ResolveError, match=r"^cannot read the resolution pylock\.toml: ") as info:
        read_pylock(broken)
    assert "\n" not in str(info.value)
    empty = tmp_path / "pylock.empty.toml"
    empty.write_text('lock-version = "1.0"\n')
    assert read_pylock(empty) == []
