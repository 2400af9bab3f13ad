"""The exact glibc ceiling and sdists, without the network: the wheelhouse's
``lpfix-ceiling`` (1.0.0: manylinux_2_24 and manylinux2014; 1.1.0: only
manylinux_2_28), ``lpfix-sdist`` (pure Python, flit_core from the wheelhouse)
and ``lpfix-native`` (a C extension: never built here)."""

from __future__ import annotations

import hashlib
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import WHEELHOUSE, Tripwire, cli, offline_requirements, write_tree
from pyrun import run_handler

#: The wheelhouse as a PEP 503 index (``index_url``), for projects that fetch sdists from an index.
INDEX = (WHEELHOUSE / "simple").as_uri()
CEILING_APP = "import lpfix_ceiling\n\n\ndef handler(event, context):\n    return lpfix_ceiling.tag()\n"
SDIST_APP = "import lpfix_sdist\n\n\ndef handler(event, context):\n    return lpfix_sdist.triple()\n"
SO = "lpfix_ceiling/_ceiling.abi3.so"


def _function(name: str, runtime: str, architecture: str, extra: str = "") -> str:
    return (
        f'[functions.{name}]\nsource = "fn"\nhandler = "app.handler"\nruntime = "{runtime}"\n'
        f'architecture = "{architecture}"\nrequirements = "requirements.txt"\n{extra}'
    )


def _wheel(pattern: str) -> Path:
    (path,) = WHEELHOUSE.glob(pattern)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("lambdapack: error: ")]


def _body(lock: Path) -> list[str]:
    return [line for line in lock.read_text().splitlines() if line and not line.startswith("#")]


def _can_run_python311() -> bool:
    """pyrun runs x86_64 handlers with the host's CPython of the runtime's version."""
    return sys.version_info[:2] == (3, 11) or shutil.which("python3.11") is not None


# -- the exact glibc ceiling ------------------------------------------------------------------------

#: function -> (runtime, architecture, the wheel its lock must name)
CEILING = {
    "x86": ("python3.11", "x86_64", "lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_24_x86_64.whl"),
    "arm": ("python3.11", "arm64", "lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_24_aarch64.whl"),
    "new": ("python3.12", "x86_64", "lpfix_ceiling-1.1.0-cp311-abi3-manylinux_2_28_x86_64.whl"),
    "newarm": ("python3.12", "arm64", "lpfix_ceiling-1.1.0-cp311-abi3-manylinux_2_28_aarch64.whl"),
}


def test_each_runtime_gets_the_wheel_of_its_exact_glibc_ceiling(tmp_path: Path) -> None:
    """python3.11 (glibc 2.26) is resolved at uv's 2_28 triple, where 1.1.0 (only 2_28 wheels)
    wins; none of its wheels loads, so it is excluded and 1.0.0 taken, with its manylinux_2_24
    wheel rather than manylinux2014 (pip's order on Amazon Linux 2). python3.12 gets 1.1.0."""
    config = 'exclude = ["requirements*"]\n' + "".join(
        _function(name, runtime, architecture) for name, (runtime, architecture, _w) in CEILING.items()
    )
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": config,
            "requirements.txt": offline_requirements("lpfix-ceiling"),
            "fn/app.py": CEILING_APP,
        },
    )
    fresh = cli("build", cwd=root)
    assert fresh.returncode == 0, fresh.stderr
    zips = {name: (root / "dist" / f"{name}.zip").read_bytes() for name in CEILING}
    for name, (_runtime, _architecture, wheel_name) in CEILING.items():
        wheel = _wheel(wheel_name)
        members = _read(root / "dist" / f"{name}.zip")
        with zipfile.ZipFile(wheel) as archive:
            assert members[SO] == archive.read(SO), name  # that wheel's .so, byte for byte
        platform = wheel_name.split("-")[-1].removesuffix(".whl")
        assert platform.encode() in members[SO]  # its tag() names its wheel's tag
        version = wheel_name.split("-")[1]
        assert f"lpfix_ceiling-{version}.dist-info/WHEEL" in members, name
        assert f"Tag: cp311-abi3-{platform}" in members[f"lpfix_ceiling-{version}.dist-info/WHEEL"].decode()
    if _can_run_python311():  # the .so really loads: abi3 for 3.11, no glibc symbol above 2.24
        result = run_handler(
            root / "dist" / "x86.zip", "app.handler", {}, architecture="x86_64", work=tmp_path
        )
        assert result == "manylinux_2_24_x86_64"

    locked = cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    for name, (runtime, architecture, wheel_name) in CEILING.items():
        lock = root / f"requirements.{runtime}-{architecture}.lock.txt"
        assert f"{lock.name}: 1 package ({name})" in locked.stderr
        version = wheel_name.split("-")[1]
        assert _body(lock) == [
            f"lpfix-ceiling=={version} --hash=sha256:{_sha256(_wheel(wheel_name))}  # {wheel_name}"
        ]  # the one file the target installs, named
    assert "manylinux2014" not in (root / "requirements.python3.11-x86_64.lock.txt").read_text()

    check = cli("lock", "--check", cwd=root)
    assert check.returncode == 0, check.stderr
    built = cli("build", "--locked", cwd=root)
    assert built.returncode == 0, built.stderr
    assert {name: (root / "dist" / f"{name}.zip").read_bytes() for name in CEILING} == zips


def test_a_release_without_a_loading_wheel_and_no_sdist_says_so(tmp_path: Path) -> None:
    """lpfix-ceiling==1.1.0 has only manylinux_2_28 wheels: python3.11 cannot have it, and there
    is nothing older to fall back to (the pin) nor an sdist to build."""
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'exclude = ["requirements*"]\n'
            + _function("old", "python3.11", "x86_64")
            + _function("new", "python3.12", "x86_64"),
            "requirements.txt": offline_requirements("lpfix-ceiling==1.1.0"),
            "fn/app.py": CEILING_APP,
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 1
    assert _errors(result.stderr) == [
        "lambdapack: error: old: no wheel of lpfix-ceiling==1.1.0 loads on python3.11 x86_64 (needs cp311 or "
        "abi3, manylinux glibc <= 2.26, x86_64); pin a version that ships such a wheel (there is no sdist to "
        "build either)"
    ]
    assert sorted(p.name for p in (root / "dist").glob("*.zip")) == ["new.zip"]


def test_a_hashed_file_naming_the_manylinux_2_24_wheel_installs_it(tmp_path: Path) -> None:
    """What `lambdapack lock` itself writes for python3.11, used as a hashed requirements file:
    uv's manylinux_2_17 level has only the manylinux2014 wheel, whose hash is not listed."""
    wheel = _wheel("lpfix_ceiling-1.0.0-cp311-abi3-manylinux_2_24_x86_64.whl")
    pinned = f"lpfix-ceiling==1.0.0 --hash=sha256:{_sha256(wheel)}  # {wheel.name}"
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'exclude = ["requirements*"]\n' + _function("x86", "python3.11", "x86_64"),
            "requirements.txt": offline_requirements(pinned),
            "fn/app.py": CEILING_APP,
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(wheel) as archive:
        assert _read(root / "dist" / "x86.zip")[SO] == archive.read(SO)


def _sdist_project(root: Path, requirements: str, *, top: str = "", extra: str = "") -> Path:
    """A python3.11 x86_64 function ``fn`` whose index is the wheelhouse's (``index_url``)."""
    return write_tree(
        root,
        {
            "lambdapack.toml": f'{top}index_url = "{INDEX}"\nexclude = ["requirements*"]\n'
            + _function("fn", "python3.11", "x86_64", extra),
            "requirements.txt": requirements,
            "fn/app.py": SDIST_APP,
        },
    )


def test_sdists_never_refuses_a_package_with_only_an_sdist(tmp_path: Path) -> None:
    root = _sdist_project(tmp_path / "fn", "lpfix-sdist\n", extra='sdists = "never"\n')
    result = cli("build", cwd=root)
    assert result.returncode == 1
    (error,) = _errors(result.stderr)
    assert error.startswith("lambdapack: error: fn: no wheel of lpfix-sdist")
    assert 'allow building its sdist: sdists = "pure" or "container"' in error
    assert "Traceback" not in result.stderr
    assert not (root / "dist" / "fn.zip").exists()
    # the project-wide key says the same
    top = _sdist_project(tmp_path / "top", "lpfix-sdist\n", top='sdists = "never"\n')
    again = cli("build", cwd=top)
    assert again.returncode == 1 and _errors(again.stderr) == [error]


def test_a_pure_sdist_is_built_on_this_machine_and_reused_from_the_cache(tmp_path: Path) -> None:
    """The default policy ("pure") pins lpfix-sdist's sdist and builds it with uv build and
    flit_core, both offline from the wheelhouse; its dependency (lpfix-base) comes as a wheel. A
    build elsewhere with an empty dependency cache takes the built wheel from ``built/``."""
    cache = tmp_path / "cache"
    root = _sdist_project(tmp_path / "one", "lpfix-sdist\n")
    result = cli("build", cwd=root, env={"LAMBDAPACK_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert (
        "info [source-build] [lpfix-sdist 1.0.0]: built from its sdist lpfix_sdist-1.0.0.tar.gz on this "
        "machine (pure Python)\n" in result.stderr
    )
    zip_path = root / "dist" / "fn.zip"
    first = zip_path.read_bytes()
    members = _read(zip_path)
    with zipfile.ZipFile(_wheel("lpfix_base-1.1.0-*.whl")) as base:
        assert members["lpfix_base/__init__.py"] == base.read("lpfix_base/__init__.py")
    with tarfile.open(WHEELHOUSE / "lpfix_sdist-1.0.0.tar.gz") as sdist:
        source = sdist.extractfile("lpfix_sdist-1.0.0/lpfix_sdist/__init__.py")
        assert source is not None and members["lpfix_sdist/__init__.py"] == source.read()
    assert {
        "lpfix_sdist-1.0.0.dist-info/METADATA",
        "lpfix_sdist-1.0.0.dist-info/WHEEL",
        "lpfix_sdist-1.0.0.dist-info/RECORD",
    } <= set(members)
    wheel_file = members["lpfix_sdist-1.0.0.dist-info/WHEEL"].decode()
    assert "Tag: py3-none-any" in wheel_file and "Generator: flit" in wheel_file
    assert not any(name.endswith((".so", ".pyc", ".tar.gz")) for name in members)
    (built,) = (cache / "built").glob("*/lpfix_sdist-1.0.0-py3-none-any.whl")
    if _can_run_python311():
        assert run_handler(zip_path, "app.handler", {}, architecture="x86_64", work=tmp_path) == 63

    # the lock names the sdist; lock --check and build --locked accept it
    sdist_hash = _sha256(WHEELHOUSE / "lpfix_sdist-1.0.0.tar.gz")
    locked = cli("lock", cwd=root, env={"LAMBDAPACK_CACHE_DIR": str(cache)})
    assert locked.returncode == 0, locked.stderr
    lock = root / "requirements.python3.11-x86_64.lock.txt"
    base = _wheel("lpfix_base-1.1.0-*.whl")
    assert _body(lock) == [
        f"lpfix-base==1.1.0 --hash=sha256:{_sha256(base)}  # {base.name}",
        f"lpfix-sdist==1.0.0 --hash=sha256:{sdist_hash}  # lpfix_sdist-1.0.0.tar.gz",
    ]
    assert cli("lock", "--check", cwd=root, env={"LAMBDAPACK_CACHE_DIR": str(cache)}).returncode == 0
    zip_path.unlink()
    relocked = cli("build", "--locked", cwd=root, env={"LAMBDAPACK_CACHE_DIR": str(cache)})
    assert relocked.returncode == 0, relocked.stderr
    assert zip_path.read_bytes() == first

    # another project, another cache holding only built/: the wheel is reused, the zip identical
    other_cache = tmp_path / "other-cache"
    shutil.copytree(cache / "built", other_cache / "built")
    two = _sdist_project(tmp_path / "two", "lpfix-sdist\n")
    reused = cli("build", cwd=two, env={"LAMBDAPACK_CACHE_DIR": str(other_cache)})
    assert reused.returncode == 0, reused.stderr
    assert (
        "info [source-build] [lpfix-sdist 1.0.0]: built from its sdist lpfix_sdist-1.0.0.tar.gz on this "
        "machine (pure Python), from the cache\n" in reused.stderr
    )
    assert (two / "dist" / "fn.zip").read_bytes() == first
    assert [p.name for p in (other_cache / "built").glob("*/*.whl")] == [built.name]


def test_a_native_sdist_is_never_built_on_this_machine(tmp_path: Path) -> None:
    """lpfix-native's sdist holds a .c file: policy "pure" refuses it before any build (no
    engine is asked: DOCKER_HOST points at nothing), and the earlier outputs stay as they were."""
    root = _sdist_project(tmp_path / "p", offline_requirements("lpfix-pure"))
    (root / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    assert cli("build", cwd=root, env=env).returncode == 0
    outputs = [root / "dist" / "fn.zip", root / "dist" / "lambdapack-manifest.json"]
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in outputs]

    (root / "requirements.txt").write_text("lpfix-native\n")
    result = cli("build", cwd=root, env=env)
    assert result.returncode == 1
    assert _errors(result.stderr) == [
        "lambdapack: error: fn: lpfix-native==1.0.0 has no wheel for python3.11 x86_64 and its sdist holds "
        "native code (lpfix_native/_native.c); it must be compiled for the target in its build image: set "
        'sdists = "container" (docs/containers.md)'
    ]
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in outputs] == before
    visible = sorted(p.name for p in (root / "dist").iterdir() if not p.name.startswith(".lambdapack"))
    assert visible == ["fn.zip", "lambdapack-manifest.json"]  # no partial zip left behind

    # the lock pins the sdist (locking builds nothing); build --locked refuses it the same way
    assert cli("lock", cwd=root).returncode == 0
    lock = root / "requirements.python3.11-x86_64.lock.txt"
    sdist_hash = _sha256(WHEELHOUSE / "lpfix_native-1.0.0.tar.gz")
    assert _body(lock) == [f"lpfix-native==1.0.0 --hash=sha256:{sdist_hash}  # lpfix_native-1.0.0.tar.gz"]
    refused = cli("build", "--locked", cwd=root, env=env)
    assert refused.returncode == 1 and _errors(refused.stderr) == _errors(result.stderr)
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in outputs] == before


def test_a_pure_sdist_from_the_requirements_files_find_links(tmp_path: Path, tripwire: Tripwire) -> None:
    root = _sdist_project(tmp_path / "p", offline_requirements("lpfix-sdist"))
    config = root / "lambdapack.toml"
    config.write_text(config.read_text().replace(f'index_url = "{INDEX}"\n', ""))
    result = cli("build", cwd=root)
    attempts = tripwire.take()  # (so that the guard reports the bug as this xfail, not an error)
    assert attempts == [] and result.returncode == 0, (attempts, result.stderr)
    assert "lpfix_sdist/__init__.py" in _read(root / "dist" / "fn.zip")


# -- configuration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "extra", "key"),
    [("", 'sdists = "bogus"\n', "functions.fn.sdists"), ('sdists = "bogus"\n', "", "sdists")],
)
def test_a_bad_sdists_value_is_a_config_error(tmp_path: Path, top: str, extra: str, key: str) -> None:
    root = _sdist_project(tmp_path, "lpfix-sdist\n", top=top, extra=extra)
    result = cli("build", cwd=root)
    assert result.returncode == 2
    assert f"""{key}: 'bogus' is not one of "never", "pure", "container\"""" in result.stderr
    assert not (root / "dist").exists()
