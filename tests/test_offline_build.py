"""Whole builds with dependencies, without the network: the hand-made wheels
of tests/wheelhouse stand in for PyPI. Resolution, installation for another
machine, every requirements input, lock files, the cache, and the Python API."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import lambdapack
from conftest import (
    EM_AARCH64,
    EM_X86_64,
    WHEELHOUSE,
    Tripwire,
    cli,
    elf_header,
    offline_requirements,
    run_cli,
    shared_objects,
    write_tree,
)

APP = "import lpfix_speedup\n\n\ndef handler(event, context):\n    return lpfix_speedup.add(1, 2)\n"
PURE_APP = "import lpfix_pure\n\n\ndef handler(event, context):\n    return lpfix_pure.double()\n"
SPEEDUP = offline_requirements("lpfix-speedup")
PURE = offline_requirements("lpfix-pure")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wheel(pattern: str) -> Path:
    (path,) = WHEELHOUSE.glob(pattern)
    return path


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


def _function(name: str, runtime: str, architecture: str, **keys: str) -> str:
    extra = "".join(f"{k} = {v}\n" for k, v in keys.items())
    return (
        f'[functions.{name}]\nsource = "fn"\nhandler = "app.handler"\nruntime = "{runtime}"\n'
        f'architecture = "{architecture}"\n{extra}'
    )


def _stages(stderr: str, name: str) -> list[str]:
    """The stages ``build -v`` printed for one function."""
    return re.findall(rf"^{re.escape(name)}: (\w+)$", stderr, re.M)


def test_builds_for_each_machine_from_the_wheelhouse(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'exclude = ["requirements*"]\n'
            + _function("arm", "python3.12", "arm64", requirements='"requirements.txt"')
            + _function("x86", "python3.11", "x86_64", requirements='"requirements.txt"'),
            "requirements.txt": SPEEDUP,
            "fn/app.py": APP,
        },
    )
    result = cli("build", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)["artifacts"]
    for name, python, machine, wheel_machine in (
        ("arm", "312", EM_AARCH64, "aarch64"),
        ("x86", "311", EM_X86_64, "x86_64"),
    ):
        zip_path = root / "dist" / f"{name}.zip"
        data = zip_path.read_bytes()
        assert manifest[name]["code_sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert re.search(rf"^{name} .* {re.escape(manifest[name]['code_sha256'])}$", result.stderr, re.M)

        so_name = f"lpfix_speedup/_speedup.cpython-{python}-{wheel_machine}-linux-gnu.so"
        objects = shared_objects(zip_path)
        assert list(objects) == [so_name]
        assert elf_header(objects[so_name]) == (2, 1, machine)
        wheel = _wheel(f"lpfix_speedup-1.0.0-cp{python}-cp{python}-manylinux_2_17_{wheel_machine}.*.whl")
        with zipfile.ZipFile(wheel) as zf:
            assert objects[so_name] == zf.read(so_name)  # the wheel's bytes, untouched

        names = _names(zip_path)
        # the closure: lpfix-speedup -> lpfix-pure -> lpfix-base (the newest, 1.1.0)
        dist_infos = sorted({n.split("/")[0] for n in names if ".dist-info/" in n})
        assert dist_infos == [
            "lpfix_base-1.1.0.dist-info",
            "lpfix_pure-1.0.0.dist-info",
            "lpfix_speedup-1.0.0.dist-info",
        ]
        assert "app.py" in names
        # installer leftovers are gone: console scripts, metadata, uv's lock file
        assert not [n for n in names if n.startswith("bin/") or n == ".lock" or "__pycache__" in n]
        assert not [n for n in names if n.rsplit("/", 1)[-1] in ("INSTALLER", "REQUESTED", "direct_url.json")]
        with zipfile.ZipFile(zip_path) as zf:
            for record in (n for n in names if n.endswith("/RECORD")):
                listed = [row[0] for row in csv.reader(io.StringIO(zf.read(record).decode())) if row]
                assert set(listed) <= set(names), record
        unzip = subprocess.run(["unzip", "-tq", str(zip_path)], capture_output=True, text=True, check=False)
        assert unzip.returncode == 0, unzip.stdout
    # the dependency's test directory is pointed out, under its function's summary line
    assert result.stderr.count("warning [hygiene] lpfix_base/tests/ [lpfix_base 1.1.0]") == 2


def test_python_api_build_check_and_errors(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "p",
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "arm64"\n'
            '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nexclude = ["requirements*"]\n',
            "fn/app.py": APP,
            "fn/requirements.txt": SPEEDUP,
        },
    )
    stages: list[tuple[str, str]] = []
    (artifact,) = lambdapack.build(root, on_progress=lambda name, stage: stages.append((name, stage)))
    zip_path = root / "dist" / "fn.zip"
    data = zip_path.read_bytes()
    assert artifact.path == zip_path and artifact.name == "fn"
    assert artifact.code_sha256 == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert artifact.sha256 == hashlib.sha256(data).hexdigest() and artifact.size == len(data)
    assert (artifact.runtime, artifact.architecture, artifact.handler) == (
        "python3.12",
        "arm64",
        "app.handler",
    )
    assert [(f.severity, f.check, f.path) for f in artifact.findings] == [
        ("warning", "hygiene", "lpfix_base/tests/")
    ]
    assert lambdapack.code_sha256(zip_path) == artifact.code_sha256
    assert lambdapack.sha256_hex(str(zip_path)) == artifact.sha256
    done = [s for _, s in stages]
    assert done[0] == "collecting" and done[-3:] == ["checking", "zipping", "done"]  # (resolved earlier?)
    assert {n for n, _ in stages} == {"fn"}

    before = (zip_path.stat().st_ino, zip_path.stat().st_mtime_ns)
    stages.clear()
    assert lambdapack.build(root, on_progress=lambda name, stage: stages.append((name, stage))) == [artifact]
    assert (zip_path.stat().st_ino, zip_path.stat().st_mtime_ns) == before  # a no-op: not rewritten
    assert [s for _, s in stages] == ["collecting", "done"]

    (report,) = lambdapack.check(root)
    assert report.ok and [f.check for f in report.warnings] == ["hygiene"]
    assert report.to_json()["package"] == "dist/fn.zip"
    from_manifest = lambdapack.check_zip(zip_path)  # runtime, architecture, handler from the manifest
    assert from_manifest.ok and from_manifest.to_json()["runtime"] == "python3.12"
    wrong = lambdapack.check_zip(zip_path, architecture="x86_64")
    assert not wrong.ok
    assert {(f.check, f.path) for f in wrong.errors} == {
        ("architecture", "lpfix_speedup/_speedup.cpython-312-aarch64-linux-gnu.so"),
        ("wheel-tag", "lpfix_speedup-1.0.0.dist-info/WHEEL"),
    }

    # SOURCE_DATE_EPOCH (from ``environ``) is an input: the zip is rebuilt with its timestamps
    (dated,) = lambdapack.build(root, environ={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
    assert dated.code_sha256 != artifact.code_sha256
    with zipfile.ZipFile(dated.path) as zf:
        assert {i.date_time for i in zf.infolist()} == {(2023, 11, 14, 22, 13, 20)}
    assert lambdapack.project_root(root / "fn") == root  # the directory holding the config
    (tmp_path / "app" / "stacks").mkdir(parents=True)
    (tmp_path / "app" / "cdktf.json").write_text("{}")
    assert lambdapack.project_root(tmp_path / "app" / "stacks") == tmp_path / "app"
    assert lambdapack.project_root(tmp_path / "app" / "stacks" / "x") == tmp_path / "app"
    assert lambdapack.project_root(tmp_path) == tmp_path  # neither: the start itself

    single = lambdapack.build_function(
        "fn",
        handler="app.handler",
        runtime="python3.11",
        architecture="x86_64",
        name="single",
        requirements="fn/requirements.txt",
        exclude=["requirements*"],
        output="out",
        project_dir=root,
    )
    assert single.path == root / "out" / "single.zip"
    (so,) = shared_objects(single.path).items()
    assert so[0].endswith("cpython-311-x86_64-linux-gnu.so") and elf_header(so[1])[2] == EM_X86_64
    assert json.loads((root / "out" / "lambdapack-manifest.json").read_text())["artifacts"]["single"][
        "path"
    ] == ("out/single.zip")

    with pytest.raises(lambdapack.ConfigError) as info:
        lambdapack.build(root, ["fnn"])
    assert (
        info.value.exit_code == 2 and "unknown function 'fnn' (did you mean 'fn'?)" in info.value.problems[0]
    )
    with pytest.raises(lambdapack.ConfigError) as info:
        lambdapack.build(root, runtime="python3.9")
    assert "'python3.9' is not a supported runtime" in str(info.value)


def test_unloadable_dependencies_stop_only_their_function(tmp_path: Path) -> None:
    """lpfix-glibc has only a manylinux_2_28 x86_64 wheel: python3.12 gets it, python3.11 (glibc
    2.26) has no wheel. lpfix-mislabeled has the same .so tagged manylinux_2_17 (a wheel that lies)
    and lpfix-needslib one needing a library nothing ships: the checks refuse both. The build
    writes what it can and exits with the highest code."""
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'exclude = ["*.txt"]\n'
            + _function("new", "python3.12", "x86_64", requirements='"glibc.txt"')
            + _function("old", "python3.11", "x86_64", requirements='"glibc.txt"')
            + _function("mislabeled", "python3.11", "x86_64", requirements='"mislabeled.txt"')
            + _function("needslib", "python3.12", "x86_64", requirements='"needslib.txt"'),
            "fn/app.py": "def handler(event, context):\n    return 1\n",
            "glibc.txt": offline_requirements("lpfix-glibc"),
            "mislabeled.txt": offline_requirements("lpfix-mislabeled"),
            "needslib.txt": offline_requirements("lpfix-needslib"),
        },
    )
    result = cli("build", "-v", cwd=root)
    assert result.returncode == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error: ")]
    # what is wrong, where and in which distribution (the wording of the fixes may change)
    assert [re.sub(r"(; fix: | \((?:needs|searched) ).*$", "", line) for line in errors] == [
        "lambdapack: error: mislabeled: error [glibc] lpfix_mislabeled/_glibc.abi3.so "
        "[lpfix_mislabeled 1.0.0]: "
        "needs GLIBC_2.28; python3.11 (Amazon Linux 2) has glibc 2.26",
        "lambdapack: error: needslib: error [shared-library] lpfix_needslib/_needslib.abi3.so "
        "[lpfix_needslib 1.0.0]: needs liblpfixmissing.so.1, which is neither in the package nor in the "
        "Amazon Linux 2023 base image",
        "lambdapack: error: old: no wheel of lpfix-glibc==1.0.0 loads on python3.11 x86_64",
    ]
    assert "cp311" in errors[2] and "2.26" in errors[2]  # what would have loaded
    # -v: the uv command that failed, and its output
    assert re.search(r"^\$ \S+ pip compile .*--python-platform x86_64-manylinux_2_28", result.stderr, re.M)
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (root / "dist").glob("*.zip")) == ["new.zip"]
    assert "lpfix_glibc/_glibc.abi3.so" in _names(root / "dist" / "new.zip")
    manifest = json.loads((root / "dist" / "lambdapack-manifest.json").read_text())
    assert list(manifest["artifacts"]) == ["new"]

    with pytest.raises(lambdapack.BuildFailed) as info:
        lambdapack.build(root)
    assert info.value.exit_code == 3
    failures = info.value.failures
    assert sorted(failures) == ["mislabeled", "needslib", "old"]
    assert isinstance(failures["mislabeled"], lambdapack.VerifyError) and failures["needslib"].exit_code == 3
    assert isinstance(failures["old"], lambdapack.BuildError) and failures["old"].exit_code == 1
    assert [a.name for a in info.value.artifacts] == ["new"]
    with pytest.raises(lambdapack.VerifyError, match=r"needs GLIBC_2\.28"):
        lambdapack.build_function(
            "fn",
            handler="app.handler",
            runtime="python3.11",
            architecture="x86_64",
            name="alone",
            requirements="mislabeled.txt",
            project_dir=root,
        )
    assert not (root / "dist" / "alone.zip").exists()

    # --no-verify writes it anyway (with a warning), and `check` then finds the problem
    skipped = cli("build", "--no-verify", "mislabeled", cwd=root)
    assert skipped.returncode == 0 and "--no-verify" in skipped.stderr
    checked = cli("check", "mislabeled", cwd=root)
    assert checked.returncode == 3 and "error [glibc] lpfix_mislabeled/_glibc.abi3.so" in checked.stdout


def test_every_requirements_input_gives_the_same_zip(tmp_path: Path) -> None:
    """The same pins from a hashed requirements file, pyproject.toml, uv.lock, poetry.lock and
    Pipfile.lock, resolved and installed from a file:// index: byte-identical zips."""
    pure, base = _wheel("lpfix_pure-1.0.0-*.whl"), _wheel("lpfix_base-1.1.0-*.whl")
    hashes = {
        "lpfix-pure": ("1.0.0", _sha256(pure), pure.name),
        "lpfix-base": ("1.1.0", _sha256(base), base.name),
    }
    index = (WHEELHOUSE / "simple").as_uri()
    pins = [f"{n}=={v}" for n, (v, _h, _f) in hashes.items()]
    pyproject = (
        '[project]\nname = "fn"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        f"dependencies = {json.dumps(pins)}\n"
    )
    pipfile = {
        "_meta": {"hash": {"sha256": "0"}, "pipfile-spec": 6, "requires": {}, "sources": []},
        "default": {n: {"version": f"=={v}", "hashes": [f"sha256:{h}"]} for n, (v, h, _f) in hashes.items()},
        "develop": {},
    }
    poetry_lock = (
        "".join(
            f'[[package]]\nname = "{n}"\nversion = "{v}"\ndescription = ""\noptional = false\n'
            f'python-versions = "*"\ngroups = ["main"]\nfiles = [{{file = "{f}", hash = "sha256:{h}"}}]\n\n'
            for n, (v, h, f) in hashes.items()
        )
        + '[metadata]\nlock-version = "2.1"\npython-versions = ">=3.11"\ncontent-hash = "0"\n'
    )
    files = {
        "reqs/requirements.txt": "".join(f"{n}=={v} --hash=sha256:{h}\n" for n, (v, h, _f) in hashes.items()),
        "pyproj/pyproject.toml": pyproject,
        "uvlock/pyproject.toml": pyproject + f'[[tool.uv.index]]\nurl = "{index}"\ndefault = true\n',
        "pipenv/Pipfile.lock": json.dumps(pipfile),
        "poetry/pyproject.toml": pyproject,
        "poetry/poetry.lock": poetry_lock,
    }
    kinds = ("reqs", "pyproj", "uvlock", "pipenv", "poetry")
    files |= {f"{kind}/app.py": PURE_APP for kind in kinds}
    config = (
        f'runtime = "python3.12"\narchitecture = "arm64"\nindex_url = "{index}"\n'
        'exclude = ["pyproject.toml", "uv.lock", "Pipfile*", "poetry.lock", "requirements*"]\n'
        + "".join(f'[functions.{k}]\nsource = "{k}"\nhandler = "app.handler"\n' for k in kinds)
    )
    root = write_tree(tmp_path, {"lambdapack.toml": config, **files})
    from uv import find_uv_bin

    subprocess.run(
        [find_uv_bin(), "lock", "--quiet", "--python", sys.executable], cwd=root / "uvlock", check=True
    )
    assert f"sha256:{hashes['lpfix-base'][1]}" in (root / "uvlock" / "uv.lock").read_text()

    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    zips = {p.stem: p.read_bytes() for p in (root / "dist").glob("*.zip")}
    assert sorted(zips) == sorted(kinds)
    assert len(set(zips.values())) == 1, {k: hashlib.sha256(v).hexdigest() for k, v in zips.items()}
    names = _names(root / "dist" / "uvlock.zip")
    assert {"app.py", "lpfix_pure/__init__.py", "lpfix_base/__init__.py"} <= set(names)
    assert not any(n.endswith(("pyproject.toml", ".lock", "Pipfile.lock")) for n in names)


def test_hashes_are_checked_against_the_wheel_files(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    shutil.copytree(WHEELHOUSE, wheels, ignore=shutil.ignore_patterns("simple", "*.py"))
    pure, base = (
        wheels / _wheel("lpfix_pure-1.0.0-*.whl").name,
        wheels / _wheel("lpfix_base-1.1.0-*.whl").name,
    )
    pinned = (
        f"lpfix-pure==1.0.0 --hash=sha256:{_sha256(pure)}\nlpfix-base==1.1.0 --hash=sha256:{_sha256(base)}\n"
    )
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "x86_64"\n'
            '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nexclude = ["requirements*"]\n',
            "fn/app.py": PURE_APP,
            # a hashed file with index options, a relative --find-links among them
            "fn/requirements.txt": "--no-index\n--find-links ../../wheels\n" + pinned,
        },
    )
    assert cli("build", cwd=root).returncode == 0
    before = (root / "dist" / "fn.zip").read_bytes()

    with zipfile.ZipFile(pure, "a") as zf:  # the index now serves other bytes under the same name
        zf.writestr("lpfix_pure/extra.py", "X = 1\n")
    (root / "fn" / "app.py").write_text(PURE_APP + "# changed\n")
    env = {"LAMBDAPACK_CACHE_DIR": str(tmp_path / "fresh-cache"), "UV_CACHE_DIR": str(tmp_path / "fresh-uv")}
    tampered = cli("build", cwd=root, env=env)
    assert tampered.returncode == 1
    (error,) = [line for line in tampered.stderr.splitlines() if line.startswith("lambdapack: error: ")]
    assert error == (
        f"lambdapack: error: fn: hash mismatch for lpfix-pure==1.0.0 (from requirements.txt): expected "
        f"sha256:{_sha256(_wheel('lpfix_pure-1.0.0-*.whl'))}, got sha256:{_sha256(pure)}"
    )
    assert (root / "dist" / "fn.zip").read_bytes() == before  # the earlier zip stays


def test_a_hashed_file_missing_a_dependency_says_so(tmp_path: Path) -> None:
    pure = _wheel("lpfix_pure-1.0.0-*.whl")
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "arm64"\n'
            '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nexclude = ["requirements*"]\n',
            "fn/app.py": PURE_APP,
            "fn/requirements.txt": f"--no-index\n--find-links {WHEELHOUSE}\n"
            f"lpfix-pure==1.0.0 --hash=sha256:{_sha256(pure)}\n",
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 1
    assert (
        "fn: requirements.txt pins hashes but not lpfix-base, which is needed on python3.12 arm64; "
        "regenerate the lock for this target" in result.stderr
    ), result.stderr


def test_lock_check_and_locked_builds(tmp_path: Path) -> None:
    config = "".join(
        f'[functions.{n}]\nsource = "fn"\nhandler = "app.handler"\nruntime = "python3.12"\n'
        f'architecture = "{a}"\nexclude = ["requirements*"]\n'
        for n, a in (("arm", "arm64"), ("twin", "x86_64"), ("x86", "x86_64"))
    )
    root = write_tree(
        tmp_path, {"lambdapack.toml": config, "fn/app.py": PURE_APP, "fn/requirements.txt": PURE}
    )
    arm_lock = root / "fn" / "requirements.python3.12-arm64.lock.txt"
    x86_lock = root / "fn" / "requirements.python3.12-x86_64.lock.txt"

    missing = cli("lock", "--check", cwd=root)
    assert missing.returncode == 4
    assert "lambdapack: error: fn/requirements.python3.12-arm64.lock.txt: missing (arm)" in missing.stderr
    assert not arm_lock.exists()
    refused = cli("build", "--locked", "arm", cwd=root)
    assert refused.returncode == 4 and "run `lambdapack lock arm`" in refused.stderr

    locked = cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    assert "fn/requirements.python3.12-x86_64.lock.txt: 2 packages (twin, x86)" in locked.stderr
    body = [line for line in arm_lock.read_text().splitlines() if not line.startswith("#")]
    base, pure = _wheel("lpfix_base-1.1.0-*.whl"), _wheel("lpfix_pure-1.0.0-*.whl")
    assert body == [
        f"lpfix-base==1.1.0 --hash=sha256:{_sha256(base)}  # {base.name}",
        f"lpfix-pure==1.0.0 --hash=sha256:{_sha256(pure)}  # {pure.name}",
    ]  # exactly one file per pin, named
    assert "find-links" not in arm_lock.read_text() and str(WHEELHOUSE) not in arm_lock.read_text()
    again = cli("lock", cwd=root)
    assert again.returncode == 0 and "arm64.lock.txt: current (arm)" in again.stderr
    assert cli("lock", "--check", cwd=root).returncode == 0

    built = cli("build", "--locked", cwd=root)
    assert built.returncode == 0, built.stderr
    names = _names(root / "dist" / "arm.zip")
    assert "lpfix_base-1.1.0.dist-info/METADATA" in names and not any(n.endswith(".lock.txt") for n in names)

    (root / "fn" / "requirements.txt").write_text(PURE + "lpfix-base==1.0.0\n")  # a pin added
    stale = cli("lock", "--check", "arm", cwd=root)
    assert stale.returncode == 4 and "its requirements input changed since it was made (arm)" in stale.stderr
    assert cli("build", "--locked", "arm", cwd=root).returncode == 4
    assert cli("lock", "arm", cwd=root).returncode == 0
    assert "lpfix-base==1.0.0 --hash=" in arm_lock.read_text()
    rebuilt = cli("build", "--locked", "arm", cwd=root)
    assert rebuilt.returncode == 0 and "lpfix_base-1.0.0.dist-info/METADATA" in _names(
        root / "dist" / "arm.zip"
    )

    arm_lock.write_text(arm_lock.read_text().replace("lpfix-base==", "lpfix-base>=", 1))
    edited = cli("lock", "--check", "arm", cwd=root)
    assert edited.returncode == 4 and "stale: edited by hand (arm)" in edited.stderr
    arm_lock.write_text(x86_lock.read_text())
    other = cli("lock", "--check", "arm", cwd=root)
    assert other.returncode == 4 and "made for python3.12-x86_64, not python3.12 arm64" in other.stderr
    arm_lock.write_text("lpfix-base==1.0.0\n")
    foreign = cli("lock", "--check", "arm", cwd=root)
    assert foreign.returncode == 4 and "not written by lambdapack lock" in foreign.stderr

    (root / "fn" / "requirements.txt").unlink()
    nothing = cli("lock", cwd=root)
    assert nothing.returncode == 0 and "no function has requirements to lock" in nothing.stderr


def test_no_op_rebuilds_and_the_shared_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {"LAMBDAPACK_CACHE_DIR": str(cache)}
    files = {
        "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "x86_64"\n'
        '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nexclude = ["requirements*"]\n',
        "fn/app.py": PURE_APP,
        "fn/requirements.txt": PURE,
        "fn/data.txt": "lambdapack\n" * 2000,  # large enough to be kept in the object store
    }
    one = write_tree(tmp_path / "one", files)
    first = cli("build", "-v", cwd=one, env=env)
    assert first.returncode == 0, first.stderr
    assert _stages(first.stderr, "fn") == ["collecting", "resolving", "installing", "checking", "zipping"]
    zip_path, manifest = one / "dist" / "fn.zip", one / "dist" / "lambdapack-manifest.json"
    stat = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (zip_path, manifest)]

    noop = cli("build", "-v", cwd=one, env=env)
    assert noop.returncode == 0 and _stages(noop.stderr, "fn") == ["collecting"]
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in (zip_path, manifest)] == stat
    # the same summary and warning; -v then says why each function was built, or not
    assert first.stderr.splitlines()[-3:-1] == noop.stderr.splitlines()[-3:-1]
    assert (
        first.stderr.splitlines()[-1]
        == "fn  rebuilt: first build: no build of it is recorded in the output directory"
    )
    assert noop.stderr.splitlines()[-1] == "fn  up to date"

    # another project with the same requirements and target: nothing resolved or installed
    two = write_tree(tmp_path / "two", files)
    shared = cli("build", "-v", cwd=two, env=env)
    assert _stages(shared.stderr, "fn") == ["collecting", "checking", "zipping"]
    assert (two / "dist" / "fn.zip").read_bytes() == zip_path.read_bytes()

    info = cli("cache", "info", "--json", cwd=one, env=env)
    document = json.loads(info.stdout)
    assert document["path"] == str(cache)
    assert document["deps"]["entries"] == 1 and document["locks"]["entries"] >= 1
    assert document["objects"]["entries"] == 1  # data.txt, compressed once for both projects
    assert set(document) == {"path", "locks", "deps", "objects", "built", "pyc", "bundles", "tmp", "remote"}
    assert document["tmp"] == {"entries": 0, "bytes": 0}  # nothing left by finished builds
    text = cli("cache", "info", cwd=one, env=env).stdout.splitlines()
    assert text[0] == str(cache) and text[1].split() == ["kind", "entries", "size"]
    assert [line.split()[0] for line in text[2:]] == [
        "locks",
        "deps",
        "objects",
        "built",
        "pyc",
        "bundles",
        "tmp",
        "total",
    ]

    # a corrupt dependency set or object is detected by its hash and made again, same bytes
    (payload,) = cache.glob("deps/*/payload.bin")
    (stored,) = cache.glob("objects/*/*")
    for damaged in (payload, stored):
        data = bytearray(damaged.read_bytes())
        data[-1] ^= 0xFF
        damaged.write_bytes(bytes(data))
    (two / "dist" / "fn.zip").unlink()
    repaired = cli("build", "-v", cwd=two, env=env)
    assert _stages(repaired.stderr, "fn") == ["collecting", "installing", "checking", "zipping"]
    assert (two / "dist" / "fn.zip").read_bytes() == zip_path.read_bytes()

    clean = cli("cache", "clean", cwd=one, env=env)
    assert clean.returncode == 0 and re.match(
        rf"removed \d+(\.\d)? \w+ from {re.escape(str(cache))}$", clean.stderr
    )
    assert json.loads(cli("cache", "info", "--json", cwd=one, env=env).stdout)["deps"] == {
        "bytes": 0,
        "entries": 0,
    }

    # without LAMBDAPACK_CACHE_DIR: under XDG_CACHE_HOME, else ~/.cache (on Linux)
    macos = sys.platform == "darwin"
    unset = {"LAMBDAPACK_CACHE_DIR": None, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    xdg = json.loads(cli("cache", "info", "--json", cwd=one, env=unset).stdout)
    assert xdg["path"] == str(tmp_path / ("Library/Caches" if macos else "xdg") / "lambdapack")
    home = {"LAMBDAPACK_CACHE_DIR": None, "XDG_CACHE_HOME": None, "HOME": str(tmp_path / "home")}
    default = json.loads(cli("cache", "info", "--json", cwd=one, env=home).stdout)
    assert default["path"] == str(
        tmp_path / "home" / ("Library/Caches" if macos else ".cache") / "lambdapack"
    )


def test_parallel_builds_in_a_fresh_process_share_one_dependency_set(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    names = "ab"
    config = 'runtime = "python3.12"\narchitecture = "arm64"\nexclude = ["requirements*"]\n' + "".join(
        f'[functions.{n}]\nsource = "{n}"\nhandler = "app.handler"\n' for n in names
    )
    # a wheelhouse in the project, found relative to each requirements file
    relative = "--no-index\n--find-links ../wheels\nlpfix-pure\n"
    files = {f"{n}/app.py": PURE_APP for n in names} | {f"{n}/requirements.txt": relative for n in names}
    root = write_tree(tmp_path / "p", {"lambdapack.toml": config, **files})
    shutil.copytree(WHEELHOUSE, root / "wheels", ignore=shutil.ignore_patterns("simple", "*.py"))
    # a fresh process: its threads start uv at once (uv.find_uv_bin's first lookup is not thread-safe)
    result = run_cli("build", "--jobs", "2", cwd=root, env={"LAMBDAPACK_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert len({p.read_bytes() for p in (root / "dist").glob("*.zip")}) == 1
    assert len(list((root / "dist").glob("*.zip"))) == 2
    assert len(list(cache.glob("deps/*/payload.bin"))) == 1 and len(list(cache.glob("locks/*.txt"))) == 1


def test_dependency_exclude_and_runtime_packages(tmp_path: Path) -> None:
    requirements = offline_requirements("lpfix-pure", "jmespath==0.0.0+lpfix")
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "arm64"\n'
            'exclude = ["requirements*"]\ndependency_exclude = ["*.pyi"]\n'
            '[functions.plain]\nsource = "fn"\nhandler = "app.handler"\n'
            '[functions.slim]\nsource = "fn"\nhandler = "app.handler"\n'
            'dependency_exclude = ["lpfix_base/tests/"]\nexclude_runtime_packages = true\n',
            "fn/app.py": PURE_APP,
            "fn/requirements.txt": requirements,
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    plain, slim = (set(_names(root / "dist" / f"{n}.zip")) for n in ("plain", "slim"))
    assert {"jmespath/__init__.py", "lpfix_base/tests/test_base.py", "lpfix_base/py.typed"} <= plain
    assert "lpfix_base/__init__.pyi" not in plain  # the top-level dependency_exclude
    assert {n for n in plain - slim} == {
        "jmespath/__init__.py",
        "jmespath-0.0.0+lpfix.dist-info/METADATA",
        "jmespath-0.0.0+lpfix.dist-info/RECORD",
        "jmespath-0.0.0+lpfix.dist-info/WHEEL",
        "lpfix_base/tests/__init__.py",
        "lpfix_base/tests/test_base.py",
    }
    assert slim <= plain and "lpfix_base-1.1.0.dist-info/RECORD" in slim
    with zipfile.ZipFile(root / "dist" / "slim.zip") as zf:
        record = zf.read("lpfix_base-1.1.0.dist-info/RECORD").decode()
    assert "lpfix_base/tests/" not in record and ".pyi" not in record and "lpfix_base/__init__.py," in record
    summary = result.stderr.split("\nslim ", 1)
    assert "lpfix_base 1.1.0 ships 1 test directory" in summary[0]  # plain's warning
    assert "exclude_runtime_packages: boto3, botocore" in summary[1]  # slim's warning
    assert "ships 1 test directory" not in summary[1]


LOCAL_PACKAGE = {
    "libs/common/pyproject.toml": '[project]\nname = "common"\nversion = "1.0"\n',
    "libs/common/src/common/__init__.py": "VALUE = 1\n",
    "libs/common/tests/test_common.py": "def test(): pass\n",
}


def test_local_packages_and_source_mode(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            **LOCAL_PACKAGE,
            "functions/fn/app.py": "import common\nimport lpfix_pure\n\n\ndef handler(event, context):\n"
            "    return common.VALUE + lpfix_pure.double()\n",
            "functions/fn/requirements.txt": PURE + "-e ../../libs/common\n",
        },
    )
    args = ["build", "--source", "functions/fn", "--handler", "app.handler", "--runtime", "python3.13"]
    args += ["--architecture", "arm64", "--name", "api", "--exclude", "requirements*"]
    first = cli(*args, "--requirements", "functions/fn/requirements.txt", cwd=root)
    assert first.returncode == 0, first.stderr
    names = _names(root / "dist" / "api.zip")
    assert {"app.py", "common/__init__.py", "lpfix_pure/__init__.py"} <= set(names)
    assert not any("test_common" in n or n.endswith(("pyproject.toml", "requirements.txt")) for n in names)
    before = (root / "dist" / "api.zip").read_bytes()
    (root / "libs" / "common" / "src" / "common" / "__init__.py").write_text("VALUE = 2\n")
    assert cli(*args, cwd=root).returncode == 0  # DIR/requirements.txt is the default
    assert (root / "dist" / "api.zip").read_bytes() != before  # the local package's change is seen


def test_changing_the_configured_index_resolves_again(tmp_path: Path) -> None:
    only_old = tmp_path / "old-wheels"
    only_old.mkdir()
    for pattern in ("lpfix_pure-*.whl", "lpfix_base-1.0.0-*.whl"):
        shutil.copy(_wheel(pattern), only_old)
    root = write_tree(
        tmp_path / "p",
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "arm64"\n'
            f'find_links = ["{only_old}"]\n'
            '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nrequirements = "requirements.txt"\n',
            "fn/app.py": PURE_APP,
            "requirements.txt": "--no-index\nlpfix-pure\n",
        },
    )
    assert cli("build", cwd=root).returncode == 0
    assert "lpfix_base-1.0.0.dist-info/RECORD" in _names(root / "dist" / "fn.zip")
    config = root / "lambdapack.toml"
    config.write_text(config.read_text().replace(str(only_old), str(WHEELHOUSE)))
    assert cli("build", cwd=root).returncode == 0
    assert "lpfix_base-1.1.0.dist-info/RECORD" in _names(root / "dist" / "fn.zip")


def test_relative_find_links_beside_a_local_package(tmp_path: Path) -> None:
    """The requirements file is rewritten without its local packages into a work directory:
    its relative --find-links must still mean the same directory."""
    shutil.copytree(WHEELHOUSE, tmp_path / "wheels", ignore=shutil.ignore_patterns("simple", "*.py"))
    root = write_tree(
        tmp_path,
        {
            **LOCAL_PACKAGE,
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "arm64"\n'
            '[functions.fn]\nsource = "functions/fn"\nhandler = "app.handler"\nexclude = ["requirements*"]\n',
            "functions/fn/app.py": "import common\n\n\ndef handler(event, context):\n"
            "    return common.VALUE\n",
            "functions/fn/requirements.txt": "--no-index\n--find-links ../../wheels\nlpfix-pure\n"
            "-e ../../libs/common\n",
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    assert {"common/__init__.py", "lpfix_pure/__init__.py"} <= set(_names(root / "dist" / "fn.zip"))


def test_resolving_never_downloads_a_python(tmp_path: Path, tripwire: Tripwire) -> None:
    """uv must not look for (and download) an interpreter of the target's version:
    resolution needs none. Run with no Python on PATH and no uv-managed ones."""
    root = write_tree(
        tmp_path / "p",
        {
            "lambdapack.toml": 'runtime = "python3.13"\narchitecture = "arm64"\n'
            '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nrequirements = "requirements.txt"\n',
            "fn/app.py": PURE_APP,
            "requirements.txt": PURE,
        },
    )
    (tmp_path / "empty").mkdir()
    env = {"PATH": str(tmp_path / "empty"), "UV_PYTHON_INSTALL_DIR": str(tmp_path / "empty")}
    result = run_cli("lock", cwd=root, env=env, unset=["UV_PYTHON_DOWNLOADS"])
    attempts = tripwire.take()
    assert attempts == [] and result.returncode == 0, (attempts, result.stderr)


def test_the_guard_keeps_uv_off_the_network(make_project: Callable[..., Path], tripwire: Tripwire) -> None:
    """A requirement that is not in the wheelhouse goes to the index, that is, to the tripwire."""
    root = make_project(
        'runtime = "python3.12"\narchitecture = "arm64"\n[functions.fn]\nsource = "fn"\nhandler = "app.h"\n',
        {
            "fn/app.py": "def h(e, c):\n    return 1\n",
            "fn/requirements.txt": "surely-not-in-the-wheelhouse\n",
        },
    )
    result = run_cli("build", cwd=root)
    attempts = tripwire.take()
    assert result.returncode == 1 and "fn: " in result.stderr
    assert "CONNECT pypi.org:443 HTTP/1.1" in attempts, attempts
    assert os.environ["HTTPS_PROXY"] == tripwire.url
