"""lambdapack.build_layer: one layer described by arguments (the API a cdktf app
uses), offline from the committed wheelhouse."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import lambdapack
from conftest import offline_requirements, write_tree


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "app",
        {
            "layers/common/requirements.txt": offline_requirements("lpfix-pure"),
            "layers/shared/shared_code.py": "VALUE = 1\n",
            "cdktf.json": "{}\n",
        },
    )


def test_build_layer_returns_its_artifact_and_a_second_call_is_a_no_op(root: Path) -> None:
    artifact = lambdapack.build_layer(
        requirements="layers/common/requirements.txt",
        runtimes=["python3.12"],
        architecture="arm64",
        project_dir=root,
    )
    assert isinstance(artifact, lambdapack.Artifact) and artifact.is_layer
    assert (artifact.name, artifact.layer) == ("common", "common")  # named after the requirements' directory
    assert artifact.path == root / "dist" / "common.zip"
    assert artifact.compatible_runtimes == ("python3.12",)
    assert artifact.compatible_architectures == ("arm64",)
    assert ("lpfix_pure", "1.0.0") in artifact.distributions
    with zipfile.ZipFile(artifact.path) as zf:
        names = zf.namelist()
    assert names and all(n.startswith("python/") for n in names)  # Lambda's /opt/python
    assert "python/lpfix_pure/__init__.py" in names and "python/lpfix_base/__init__.py" in names
    assert artifact.code_sha256 == lambdapack.code_sha256(artifact.path)

    entry = json.loads((root / "dist" / "lambdapack-manifest.json").read_text())["layers"]["common"]
    assert entry == {
        "path": "dist/common.zip",
        "code_sha256": artifact.code_sha256,
        "sha256": artifact.sha256,
        "size": artifact.size,
        "layer": "common",
        "compatible_runtimes": ["python3.12"],
        "compatible_architectures": ["arm64"],
    }

    mtime = artifact.path.stat().st_mtime_ns
    manifest_mtime = (root / "dist" / "lambdapack-manifest.json").stat().st_mtime_ns
    again = lambdapack.build_layer(
        requirements="layers/common/requirements.txt",
        runtimes="python3.12",  # one runtime as a string is that runtime
        architecture="arm64",
        project_dir=root,
    )
    assert again == artifact
    assert artifact.path.stat().st_mtime_ns == mtime  # not rewritten
    assert (root / "dist" / "lambdapack-manifest.json").stat().st_mtime_ns == manifest_mtime


def test_build_layer_of_own_code_and_beside_functions(root: Path) -> None:
    """A layer of its own code (``source``), named and written where asked, in the same
    manifest as a function built by build_function."""
    write_tree(root, {"functions/api/app.py": "def handler(e, c):\n    return 1\n"})
    layer = lambdapack.build_layer(
        "layers/shared",
        runtimes=["python3.11"],
        architecture="x86_64",
        name="shared-py311",
        output="out",
        project_dir=root,
    )
    function = lambdapack.build_function(
        "functions/api",
        handler="app.handler",
        runtime="python3.11",
        architecture="x86_64",
        output="out",
        project_dir=root,
    )
    assert layer.path == root / "out" / "shared-py311.zip" and layer.layer == "shared-py311"
    with zipfile.ZipFile(layer.path) as zf:
        assert zf.namelist() == ["python/shared_code.py"]
    manifest = json.loads((root / "out" / "lambdapack-manifest.json").read_text())
    assert set(manifest["layers"]) == {"shared-py311"} and set(manifest["artifacts"]) == {"api"}
    assert manifest["artifacts"]["api"]["code_sha256"] == function.code_sha256


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"requirements": "layers/common/requirements.txt", "runtimes": ["python3.12", "python3.13"]},
            "--runtimes: python3.12, python3.13: a Python layer's zip serves one Python version",
        ),
        ({"runtimes": ["python3.12"]}, "--source: give source (the layer's own code), requirements, or both"),
        (
            {"requirements": "layers/common/requirements.txt", "runtimes": ["python3.12"], "name": "a b"},
            "--name: 'a b' is not a valid layer name",
        ),
        ({"source": "layers/nowhere", "runtimes": ["python3.12"]}, "--source: directory 'layers/nowhere'"),
        ({"source": "layers/shared", "runtimes": []}, "--runtimes: missing"),
    ],
)
def test_build_layer_says_what_is_wrong(root: Path, arguments: dict[str, object], message: str) -> None:
    with pytest.raises(lambdapack.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        lambdapack.build_layer(architecture="arm64", project_dir=root, **arguments)  # type: ignore[arg-type]
    assert not (root / "dist").exists()


def test_build_function_with_layers_leaves_them_what_they_provide(root: Path) -> None:
    write_tree(
        root,
        {
            "functions/api/app.py": (
                "import lpfix_pure\n\ndef handler(e, c):\n    return lpfix_pure.double()\n"
            ),
            "functions/api/requirements.txt": offline_requirements("lpfix-pure"),
            "functions/bare/app.py": "import lpfix_pure\n\ndef handler(e, c):\n    return 1\n",
        },
    )
    common = lambdapack.build_layer(
        requirements="layers/common/requirements.txt",
        runtimes=["python3.12"],
        architecture="arm64",
        project_dir=root,
    )
    api = lambdapack.build_function(
        "functions/api",
        handler="app.handler",
        runtime="python3.12",
        architecture="arm64",
        project_dir=root,
        layers=[common],
        exclude=["requirements*"],
    )
    with zipfile.ZipFile(api.path) as zf:
        assert zf.namelist() == ["app.py"]
    assert api.layers == ("common",)
    bare = lambdapack.build_function(
        "functions/bare",
        handler="app.handler",
        runtime="python3.12",
        architecture="arm64",
        project_dir=root,
        layers=[common],
    )
    manifest = json.loads((root / "dist" / "lambdapack-manifest.json").read_text())
    assert manifest["artifacts"]["bare"]["layers"] == ["common"] and bare.layers == ("common",)
    with pytest.raises(lambdapack.VerifyError, match="imports 'lpfix_pure'"):
        lambdapack.build_function(
            "functions/bare",
            handler="app.handler",
            runtime="python3.12",
            architecture="arm64",
            project_dir=root,
        )
    with pytest.raises(lambdapack.ConfigError, match=r"does not serve python3\.11 arm64"):
        lambdapack.build_function(
            "functions/bare",
            handler="app.handler",
            runtime="python3.11",
            architecture="arm64",
            project_dir=root,
            layers=[common],
        )
