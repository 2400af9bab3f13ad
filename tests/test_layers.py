"""Layers (``[layers.NAME]``, docs/layers.md), offline: the zips' layouts and
the manifest, a function running with its layer unpacked as Lambda does, what
a function leaves to its layers, config errors, one artifact per Python
version, the combined size, ``check --layer``, no-op builds, the terraform
data source, determinism and the handler's imports."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import lambdapack
from conftest import (
    EM_AARCH64,
    Tripwire,
    cli,
    elf_image,
    offline_environment,
    offline_requirements,
    run_cli,
    write_tree,
)
from lambdapack.archive import ArchiveEntry
from lambdapack.config import MAX_LAYERS
from lambdapack.contents import StagedPackage
from lambdapack.layers import layer_size_findings
from lambdapack.verify.size import NEAR_LIMIT, UNZIPPED_LIMIT
from pyrun import run_handler

HEAD = 'runtime = "python3.11"\narchitecture = "x86_64"\n'
LAYER = '[layers.common]\nrequirements = "layers/common/requirements.txt"\nsource = "layers/common/python"\n'
API = '[functions.api]\nsource = "functions/api"\nhandler = "app.handler"\nlayers = ["common"]\n'
CONFIG = HEAD + LAYER + API
REQUIREMENTS = offline_requirements("lpfix_base==1.0.0", "lpfix_speedup")
APP = """\
import lpfix_base
import lpfix_base._version
import lpfix_speedup
import lpfix_speedup._speedup
import shared


def handler(event, context):
    return {
        "value": lpfix_base.value(),
        "version": lpfix_base._version.VERSION,
        "sum": lpfix_speedup.add(event["a"], event["b"]),
        "shared": shared.NAME,
        "files": {
            "lpfix_base": lpfix_base.__file__,
            "native": lpfix_speedup._speedup.__file__,
            "shared": shared.__file__,
        },
    }
"""
FILES = {
    "lambdapack.toml": CONFIG,
    "layers/common/requirements.txt": REQUIREMENTS,
    "layers/common/python/shared/__init__.py": 'NAME = "shared"\n',
    "functions/api/app.py": APP,
    "functions/api/requirements.txt": REQUIREMENTS,  # the layer's: everything is left to it
}
SO_311 = "lpfix_speedup/_speedup.cpython-311-x86_64-linux-gnu.so"


def _b64sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


def _manifest(root: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads((root / "dist" / "lambdapack-manifest.json").read_text())
    return document


def _errors(stderr: str) -> list[str]:
    return [line.removeprefix("lambdapack: error: ") for line in stderr.splitlines() if "error: " in line]


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tripwire: Tripwire, _uv_cache: Path) -> Path:
    """The example project (layer ``common``, function ``api`` using it), built
    once for the tests that only read it. Its build runs before the per-test
    offline guard, so it gets the guard's environment explicitly."""
    root = write_tree(tmp_path_factory.mktemp("layers") / "project", FILES)
    result = cli("build", cwd=root, env=offline_environment(tripwire, _uv_cache))
    assert result.returncode == 0, result.stderr
    assert tripwire.take() == []
    return root


# -- 1. layouts and manifest -------------------------------------------------------------------------


def test_layer_zip_is_under_python_and_the_function_zip_holds_only_its_own_files(built: Path) -> None:
    layer = _names(built / "dist" / "common.zip")
    assert layer and all(name.startswith("python/") for name in layer), layer
    assert {
        "python/shared/__init__.py",  # the layer's own code
        "python/lpfix_base/__init__.py",  # its dependencies, with their metadata
        "python/lpfix_base-1.0.0.dist-info/METADATA",
        "python/lpfix_pure/__init__.py",
        f"python/{SO_311}",
    } <= set(layer)
    assert not any(name.startswith("python/lib/") for name in layer)

    assert sorted(_names(built / "dist" / "api.zip")) == ["app.py", "requirements.txt"]


def test_manifest_has_a_layers_section_and_the_function_lists_its_layers(built: Path) -> None:
    document = _manifest(built)
    assert set(document) == {"version", "artifacts", "layers"}
    layer_zip, api_zip = built / "dist" / "common.zip", built / "dist" / "api.zip"

    layers = document["layers"]
    assert isinstance(layers, dict) and set(layers) == {"common"}
    assert layers["common"] == {
        "path": "dist/common.zip",
        "code_sha256": _b64sha256(layer_zip),
        "sha256": hashlib.sha256(layer_zip.read_bytes()).hexdigest(),
        "size": layer_zip.stat().st_size,
        "layer": "common",
        "compatible_runtimes": ["python3.11"],
        "compatible_architectures": ["x86_64"],
    }
    artifacts = document["artifacts"]
    assert isinstance(artifacts, dict) and set(artifacts) == {"api"}  # the layer is not a function
    assert artifacts["api"] == {
        "path": "dist/api.zip",
        "code_sha256": _b64sha256(api_zip),
        "sha256": hashlib.sha256(api_zip.read_bytes()).hexdigest(),
        "size": api_zip.stat().st_size,
        "runtime": "python3.11",
        "architecture": "x86_64",
        "handler": "app.handler",
        "layers": ["common"],
    }


def test_a_project_without_layers_keeps_the_first_manifest(make_project: Callable[..., Path]) -> None:
    root = make_project(
        HEAD + '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n',
        {"fn/app.py": "import json\n\n\ndef handler(event, context):\n    return json.dumps(event)\n"},
    )
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    document = _manifest(root)
    assert set(document) == {"version", "artifacts"}  # no "layers" key at all
    artifacts = document["artifacts"]
    assert isinstance(artifacts, dict)
    assert set(artifacts["fn"]) == {
        "path",
        "code_sha256",
        "sha256",
        "size",
        "runtime",
        "architecture",
        "handler",
    }


# -- 2. running with the layer -----------------------------------------------------------------------


def test_the_function_imports_its_dependencies_from_the_layer(built: Path, tmp_path: Path) -> None:
    api, common = built / "dist" / "api.zip", built / "dist" / "common.zip"
    result = run_handler(
        api, "app.handler", {"a": 2, "b": 40}, architecture="x86_64", work=tmp_path, layers=[common]
    )
    assert isinstance(result, dict)
    files = result.pop("files")
    assert result == {"value": 21, "version": "1.0.0", "sum": 42, "shared": "shared"}
    opt_python = tmp_path / "opt" / "python"
    assert Path(files["lpfix_base"]) == opt_python / "lpfix_base" / "__init__.py"
    assert Path(files["native"]) == opt_python / SO_311  # the layer's extension module loaded
    assert Path(files["shared"]) == opt_python / "shared" / "__init__.py"

    with pytest.raises(AssertionError, match="No module named 'lpfix_base'"):  # the zip alone does not run
        run_handler(api, "app.handler", {"a": 1, "b": 1}, architecture="x86_64", work=tmp_path / "alone")


# -- 3. what the function leaves to its layers ------------------------------------------------------


def test_the_same_requirements_leave_every_distribution_to_the_layer(built: Path) -> None:
    names = _names(built / "dist" / "api.zip")
    assert not any(".dist-info/" in n or n.startswith("lpfix_") for n in names), names


def test_another_version_is_named_unless_the_function_overrides_it(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    app = (
        "import lpfix_base._version\n\n\ndef handler(event, context):\n"
        "    return [lpfix_base._version.VERSION, lpfix_base.__file__]\n"
    )
    root = make_project(
        CONFIG,
        {
            **FILES,
            "functions/api/app.py": app,
            "functions/api/requirements.txt": offline_requirements("lpfix_base==1.1.0"),
        },
    )
    failed = cli("build", cwd=root)
    assert failed.returncode == 1, failed.stderr
    (line,) = _errors(failed.stderr)  # one line, naming both versions and the layer
    assert re.search(r"lpfix[-_]base 1\.1\.0 here, 1\.0\.0 in layer common", line), line
    assert "layer_overrides" in line
    assert (root / "dist" / "common.zip").is_file() and not (root / "dist" / "api.zip").exists()

    (root / "lambdapack.toml").write_text(CONFIG + 'layer_overrides = ["lpfix_base"]\n')
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    names = set(_names(root / "dist" / "api.zip"))
    assert {"lpfix_base/_version.py", "lpfix_base-1.1.0.dist-info/METADATA"} <= names
    assert not any("1.0.0" in n for n in names)
    # /var/task comes before /opt/python: the function's own 1.1.0 is the one imported
    got = run_handler(
        root / "dist" / "api.zip",
        "app.handler",
        {},
        architecture="x86_64",
        work=tmp_path / "run",
        layers=[root / "dist" / "common.zip"],
    )
    assert isinstance(got, list)
    version, file = got
    assert version == "1.1.0" and Path(file) == tmp_path / "run" / "task" / "lpfix_base" / "__init__.py"


# -- 4. config errors -------------------------------------------------------------------------------

_FN = '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
_COMMON = '[layers.common]\nsource = "lay"\n'
CONFIG_ERRORS = [
    (
        "too-many-layers",
        "".join(f'[layers.l{i}]\nsource = "lay"\n' for i in range(MAX_LAYERS + 1))
        + _FN
        + f"layers = {json.dumps([f'l{i}' for i in range(MAX_LAYERS + 1)])}\n",
        f"functions.fn.layers: {MAX_LAYERS + 1} layers; Lambda allows at most 5 per function",
    ),
    (
        "unknown-layer",
        _COMMON + _FN + 'layers = ["comon"]\n',
        "functions.fn.layers: unknown layer 'comon' (did you mean 'common'?); layers: common",
    ),
    (
        "other-runtime",
        _COMMON + 'runtimes = ["python3.12"]\n' + _FN + 'layers = ["common"]\n',
        "functions.fn.layers: layer 'common' does not serve python3.11 x86_64 (it serves python3.12 x86_64)",
    ),
    (
        "other-architecture",
        _COMMON + 'architecture = "arm64"\n' + _FN + 'layers = ["common"]\n',
        "functions.fn.layers: layer 'common' does not serve python3.11 x86_64 (it serves python3.11 arm64)",
    ),
    (
        "empty-layer",
        "[layers.common]\n" + _FN,
        "layers.common: has neither dependencies nor source",
    ),
    (
        "name-clash",
        '[layers.fn]\nsource = "lay"\n' + _FN,
        "layers.fn: fn.zip would also be function 'fn''s zip; rename one",
    ),
    (
        "unsupported-runtime",
        _COMMON + 'runtimes = ["python3.9"]\n' + _FN,
        "layers.common.runtimes: 'python3.9' is not a supported runtime; supported: python3.10",
    ),
    (
        "runtimes-not-a-list",
        _COMMON + 'runtimes = "python3.11"\n' + _FN,
        "layers.common.runtimes: must be a list of runtime names (strings), not 'python3.11'",
    ),
    (
        "mixed-languages",
        _COMMON + 'runtimes = ["python3.11", "nodejs20.x"]\n' + _FN,
        "layers.common.runtimes: mixes languages (node, python); make one layer per language",
    ),
]


@pytest.mark.parametrize(
    ("config", "expected"), [c[1:] for c in CONFIG_ERRORS], ids=[c[0] for c in CONFIG_ERRORS]
)
def test_layer_config_errors_name_file_and_key(tmp_path: Path, config: str, expected: str) -> None:
    assert MAX_LAYERS == 5  # Lambda's limit
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": HEAD + config,
            "fn/app.py": "def handler(event, context):\n    return 1\n",
            "lay/x.py": "X = 1\n",
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 2, result.stderr
    (line,) = _errors(result.stderr)
    assert line.startswith(f"lambdapack.toml: {expected}"), line
    assert not (root / "dist").exists()


# -- 5. one artifact per Python version -------------------------------------------------------------


def test_one_layer_artifact_per_python_version(make_project: Callable[..., Path], tmp_path: Path) -> None:
    app = "import lpfix_speedup\n\n\ndef handler(event, context):\n    return lpfix_speedup.add(1, 2)\n"
    root = make_project(
        'architecture = "x86_64"\n'
        '[layers.common]\nrequirements = "requirements.txt"\nruntimes = ["python3.11", "python3.12"]\n'
        + "".join(
            f'[functions.{name}]\nruntime = "{runtime}"\nsource = "fn"\nhandler = "app.handler"\n'
            'layers = ["common"]\n'
            for name, runtime in (("new", "python3.12"), ("old", "python3.11"))
        ),
        {"requirements.txt": offline_requirements("lpfix_speedup"), "fn/app.py": app},
    )
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    document = _manifest(root)
    layers, artifacts = document["layers"], document["artifacts"]
    assert isinstance(layers, dict) and isinstance(artifacts, dict)
    assert set(layers) == {"common-python3.11", "common-python3.12"}
    for version in ("3.11", "3.12"):
        entry = layers[f"common-python{version}"]
        assert entry["layer"] == "common" and entry["path"] == f"dist/common-python{version}.zip"
        assert entry["compatible_runtimes"] == [f"python{version}"]
        assert entry["compatible_architectures"] == ["x86_64"]
        tag = version.replace(".", "")
        native = [n for n in _names(root / "dist" / f"common-python{version}.zip") if n.endswith(".so")]
        assert native == [f"python/lpfix_speedup/_speedup.cpython-{tag}-x86_64-linux-gnu.so"]
    assert artifacts["new"]["layers"] == ["common-python3.12"]
    assert artifacts["old"]["layers"] == ["common-python3.11"]
    assert not (root / "dist" / "common.zip").exists()
    # the host has no CPython 3.12 to run `new` with; `old` loads the cp311 extension of its artifact
    old = root / "dist" / "old.zip"
    layer = root / "dist" / "common-python3.11.zip"
    assert run_handler(old, "app.handler", {}, architecture="x86_64", work=tmp_path, layers=[layer]) == 3


# -- 6. size, and `check` with layers ---------------------------------------------------------------


def _layer(name: str, unzipped: int) -> tuple[str, int]:
    """A layer as the combined size check sees it: its name and unzipped bytes."""
    return name, unzipped


def test_combined_size_of_the_function_and_its_layers(tmp_path: Path) -> None:
    code = tmp_path / "app.bin"
    code.write_bytes(b"\0" * 200_000)
    package = StagedPackage([ArchiveEntry(name="app.bin", path=code, executable=False)], label="api")

    (over,) = layer_size_findings(package, [_layer("common", 262_000_000)])
    assert (over.severity, over.check) == ("error", "size")
    assert "262,200,000 bytes, over Lambda's limit (262,144,000 bytes)" in over.message
    assert [d.split() for d in over.details] == [
        ["200,000", "function", "api"],
        ["262,000,000", "layer", "common"],
        ["262,200,000", "in", "all"],
    ]

    two = layer_size_findings(package, [_layer("one", 200_000_000), _layer("two", 62_000_000)])
    assert [f.severity for f in two] == ["error"]
    assert [d.split()[1:] for d in two[0].details] == [
        ["function", "api"],
        ["layer", "one"],
        ["layer", "two"],
        ["in", "all"],
    ]

    near = math.ceil(NEAR_LIMIT * UNZIPPED_LIMIT) - 200_000  # exactly 80 % in all
    (warning,) = layer_size_findings(package, [_layer("common", near)])
    assert warning.severity == "warning" and "80% of Lambda's limit" in warning.message
    assert layer_size_findings(package, [_layer("common", near - 1)]) == []
    assert layer_size_findings(package, []) == []  # no layers: the function's own size check applies


def test_check_takes_the_layers_from_the_option_or_the_manifest(built: Path, tmp_path: Path) -> None:
    given = cli("check", "dist/api.zip", "--layer", "dist/common.zip", cwd=built)
    assert given.returncode == 0, given.stdout + given.stderr
    assert "dist/api.zip (python3.11 x86_64, handler app.handler): ok" in given.stdout

    beside = cli("check", "dist/api.zip", cwd=built)  # the manifest beside it names the layer
    assert beside.returncode == 0, beside.stdout + beside.stderr

    project = cli("check", cwd=built)  # every function with its layers, and every layer zip
    assert project.returncode == 0, project.stdout + project.stderr
    assert "dist/common.zip" in project.stdout and "dist/api.zip" in project.stdout

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(built / "dist" / "api.zip", elsewhere / "api.zip")
    target = ("--runtime", "python3.11", "--architecture", "x86_64", "--handler", "app.handler")
    alone = cli("check", str(elsewhere / "api.zip"), *target, cwd=tmp_path)
    assert alone.returncode == 3, alone.stdout + alone.stderr
    assert "error [imports] app.py: imports 'lpfix_base' (line 1)" in alone.stdout

    # a layer made by another tool, in the site-packages layout Lambda also puts on the path
    handmade = tmp_path / "handmade.zip"
    with zipfile.ZipFile(handmade, "w") as zf:
        for module in ("lpfix_base", "lpfix_speedup", "shared"):
            zf.writestr(f"python/lib/python3.11/site-packages/{module}/__init__.py", "")
    with_layer = cli("check", str(elsewhere / "api.zip"), *target, "--layer", str(handmade), cwd=tmp_path)
    assert with_layer.returncode == 0, with_layer.stdout + with_layer.stderr

    # the layer's binaries are checked for the function's target too: an arm64 layer for x86_64
    wrong = tmp_path / "wrong.zip"
    with zipfile.ZipFile(wrong, "w") as zf:
        for module in ("lpfix_base", "shared"):
            zf.writestr(f"python/{module}/__init__.py", "")
        zf.writestr("python/lpfix_speedup/__init__.py", "")
        so = "python/lpfix_speedup/_speedup.cpython-311-aarch64-linux-gnu.so"
        zf.writestr(so, elf_image(machine=EM_AARCH64))
    mixed = cli("check", str(elsewhere / "api.zip"), *target, "--layer", str(wrong), cwd=tmp_path)
    assert mixed.returncode == 3, mixed.stdout + mixed.stderr
    assert f"wrong.zip:{so}" in mixed.stdout, mixed.stdout


# -- 7. incremental builds --------------------------------------------------------------------------


def test_no_op_and_a_changed_layer_rebuilds_its_functions(make_project: Callable[..., Path]) -> None:
    root = make_project(CONFIG, FILES)
    dist = root / "dist"
    zips = {name: dist / f"{name}.zip" for name in ("common", "api")}
    lambdapack.build(root)
    before = {name: (_stat(path), path.read_bytes()) for name, path in zips.items()}
    manifest_stat = _stat(dist / "lambdapack-manifest.json")

    stages: list[tuple[str, str]] = []
    lambdapack.build(root, on_progress=lambda name, stage: stages.append((name, stage)))
    assert not [s for s in stages if s[1] == "zipping"], stages
    assert {name: (_stat(path), path.read_bytes()) for name, path in zips.items()} == before
    assert _stat(dist / "lambdapack-manifest.json") == manifest_stat

    (root / "layers" / "common" / "python" / "shared" / "__init__.py").write_text('NAME = "shared, edited"\n')
    stages.clear()
    explained = cli("build", "--explain", cwd=root)
    assert explained.returncode == 0, explained.stderr
    assert "\napi     rebuilt: layer common changed\n" in explained.stderr
    assert "\ncommon  rebuilt: 1 source file changed: shared/__init__.py\n" in explained.stderr
    (root / "layers" / "common" / "python" / "shared" / "__init__.py").write_text(
        'NAME = "shared, edited!"\n'
    )
    artifacts = {a.name: a for a in lambdapack.build(root, on_progress=lambda n, s: stages.append((n, s)))}
    assert {name for name, stage in stages if stage == "zipping"} == {"common", "api"}
    new_layer = hashlib.sha256(zips["common"].read_bytes()).hexdigest()
    assert zips["common"].read_bytes() != before["common"][1]
    assert artifacts["common"].sha256 == new_layer
    assert zips["api"].read_bytes() == before["api"][1]  # it leaves the same things to the layer
    plans = json.loads((dist / ".lambdapack-plan.json").read_text())["functions"]
    assert plans["api"]["options"]["layers"] == [["common", new_layer]]

    zips["common"].unlink()
    result = cli("build", "api", cwd=root)  # the function's layers are built with it
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256(zips["common"].read_bytes()).hexdigest() == new_layer
    assert zips["api"].read_bytes() == before["api"][1]


# -- 8. the terraform data source -------------------------------------------------------------------


def test_terraform_answers_layer_and_function_queries(built: Path) -> None:
    answer = cli("terraform", cwd=built, stdin=json.dumps({"layer": "common"}))
    assert answer.returncode == 0, answer.stderr
    layer = json.loads(answer.stdout)
    zip_path = built / "dist" / "common.zip"
    assert layer == {
        "path": "dist/common.zip",
        "absolute_path": str(zip_path),
        "code_sha256": _b64sha256(zip_path),
        "sha256": hashlib.sha256(zip_path.read_bytes()).hexdigest(),
        "size": str(zip_path.stat().st_size),
        "compatible_runtimes": "python3.11",
        "compatible_architectures": "x86_64",
    }

    answer = cli("terraform", cwd=built, stdin=json.dumps({"function": "api"}))
    assert answer.returncode == 0, answer.stderr
    function = json.loads(answer.stdout)
    assert all(isinstance(v, str) for v in function.values())
    assert function["layers"] == "common"
    assert (function["path"], function["runtime"], function["handler"]) == (
        "dist/api.zip",
        "python3.11",
        "app.handler",
    )
    assert function["code_sha256"] == _b64sha256(built / "dist" / "api.zip")

    for bad, message in [
        (json.dumps({"function": "api", "layer": "common"}), "give 'function' or 'layer' (one of them)"),
        ("{}", "give 'function' or 'layer' (one of them)"),
        (json.dumps({"layer": "api"}), "no layer artifact 'api'; layer artifacts: common"),
    ]:
        failed = cli("terraform", cwd=built, stdin=bad)
        assert failed.returncode == 2 and failed.stdout == "", failed.stderr
        assert message in failed.stderr, failed.stderr


def test_terraform_function_query_naming_a_layer_is_an_error(built: Path) -> None:
    failed = cli("terraform", cwd=built, stdin=json.dumps({"function": "common"}))
    assert failed.returncode == 2 and failed.stdout == "", failed.stdout
    assert "terraform query: no function 'common'; functions: api" in failed.stderr


# -- 9. determinism ---------------------------------------------------------------------------------


def test_layer_zip_is_the_same_from_another_directory_and_umask(built: Path, tmp_path: Path) -> None:
    copy = tmp_path / "b" / "deeper" / "copy"
    shutil.copytree(built, copy, ignore=shutil.ignore_patterns("dist"))
    for path in sorted(copy.rglob("*"), reverse=True):  # what umask 077 and another day would make
        path.chmod(0o700 if path.is_dir() else 0o600)
        os.utime(path, (1_700_000_000, 1_700_000_000))
    result = run_cli(
        "build",
        cwd=copy,
        umask=0o077,
        env={
            "TZ": "Pacific/Kiritimati",
            "LAMBDAPACK_CACHE_DIR": str(tmp_path / "cache"),  # installed afresh under that umask
            "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        },
    )
    assert result.returncode == 0, result.stderr
    for name in ("common", "api"):
        assert (copy / "dist" / f"{name}.zip").read_bytes() == (built / "dist" / f"{name}.zip").read_bytes()


# -- 10. the handler's imports ----------------------------------------------------------------------


BAD_APP = "import json\nimport lpfix_nowhere.sub\n\n\ndef handler(event, context):\n    return 1\n"


def test_imports_nobody_provides_fail_the_build(make_project: Callable[..., Path]) -> None:
    good = """\
        import json
        import os.path
        from collections import OrderedDict

        import boto3
        import botocore.session

        import helper
        from helpers import util

        try:
            import lpfix_optional
        except ImportError:
            lpfix_optional = None


        def handler(event, context):
            import lpfix_lazy
            return 1
        """
    root = make_project(
        HEAD
        + '[functions.bad]\nsource = "bad"\nhandler = "app.handler"\n'
        + '[functions.good]\nsource = "good"\nhandler = "app.handler"\n',
        {
            "bad/app.py": BAD_APP,
            "good/app.py": good,
            "good/helper.py": "",
            "good/helpers/__init__.py": "",
            "good/helpers/util.py": "",
        },
    )
    result = cli("build", cwd=root)
    assert result.returncode == 3, result.stderr
    (line,) = _errors(result.stderr)
    assert line.startswith("bad: error [imports] app.py: imports 'lpfix_nowhere' (line 2)"), line
    assert (root / "dist" / "good.zip").is_file() and not (root / "dist" / "bad.zip").exists()


def test_layers_are_locked_and_built_locked(make_project: Callable[..., Path]) -> None:
    root = make_project(CONFIG, FILES)
    assert cli("build", "--locked", cwd=root).returncode == 4  # no lock yet: the layer's is missing too
    locked = cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    assert (root / "layers" / "common" / "requirements.python3.11-x86_64.lock.txt").is_file()
    built = cli("build", "--locked", cwd=root)
    assert built.returncode == 0, built.stderr
    assert "[lock]" not in built.stderr
    assert cli("lock", "--check", cwd=root).returncode == 0


def test_imports_after_a_sys_path_change_are_not_checked(make_project: Callable[..., Path]) -> None:
    """The vendor-directory pattern: what is imported after the handler module
    changes sys.path may come from anywhere, so it is not reported."""
    app = (
        "import os\nimport sys\n\n"
        'sys.path.insert(0, os.path.join(os.path.dirname(__file__), "vendor"))\n'
        "import vendored_only  # noqa: E402\n\n\ndef handler(event, context):\n    return 1\n"
    )
    config = 'runtime = "python3.11"\narchitecture = "x86_64"\n'
    config += '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
    root = make_project(config, {"fn/app.py": app, "fn/vendor/vendored_only.py": "X = 1\n"})
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
