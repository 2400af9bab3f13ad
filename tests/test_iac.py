"""lambdapack inside IaC pipelines, proven with the real tools: a cdktf app
synthesized for real, Terraform's own hash and JSON functions, the external
data-source protocol, and the CI gate `build --check`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import PROJECTS, offline_requirements, run_cli, write_tree

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"


@pytest.fixture(scope="module")
def tools() -> Path:
    """The real cdktf (with Node.js) and Terraform, installed by tests/iac/prepare-tools.sh."""
    subprocess.run(
        ["bash", str(REPO / "tests" / "iac" / "prepare-tools.sh")], check=True, capture_output=True
    )
    return CACHE


def _b64sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def _console(tools: Path, expression: str, cwd: Path) -> str:
    """What the real Terraform makes of ``expression`` (with the configuration in ``cwd``): one
    expression per `terraform console` run (it evaluates only the last line it reads)."""
    console = subprocess.run(
        [str(tools / "terraform"), "console"],
        input=expression + "\n",
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
    )
    return console.stdout.strip()


@pytest.mark.network
@pytest.mark.slow
def test_cdktf_synth_gets_paths_and_hashes_from_lambdapack(tools: Path, tmp_path: Path) -> None:
    app = shutil.copytree(
        REPO / "examples" / "cdktf-python",
        tmp_path / "app",
        ignore=shutil.ignore_patterns("cdktf.out", "dist"),
    )
    env = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1", "CHECKPOINT_DISABLE": "1"}
    python = str(tools / "iac-venv" / "bin" / "python")
    synth = subprocess.run([python, "main.py"], cwd=app, env=env, capture_output=True, text=True, timeout=600)
    assert synth.returncode == 0, synth.stderr[-3000:]
    stack_dir = app / "cdktf.out" / "stacks" / "transactions"
    first = (stack_dir / "cdk.tf.json").read_text()
    document = json.loads(first)
    functions = document["resource"]["aws_lambda_function"]
    assert set(functions) == {"validation", "processing", "status", "webhook"}
    manifest = json.loads((app / "dist" / "lambdapack-manifest.json").read_text())["artifacts"]
    for name, resource in functions.items():
        zip_path = (stack_dir / resource["filename"]).resolve()
        assert zip_path.is_file(), resource["filename"]
        assert not Path(resource["filename"]).is_absolute()  # the same on every machine
        assert _b64sha256(zip_path) == resource["source_code_hash"] == manifest[name]["code_sha256"]
        runtime = "nodejs20.x" if name == "webhook" else "python3.11"
        assert resource["architectures"] == ["arm64"] and resource["runtime"] == runtime
        assert manifest[name]["runtime"] == runtime
    assert set(document["resource"]["aws_iam_role"]) == {"role"}

    # The layer: built by lambdapack.build_layer, its zip under python/, its hash and
    # compatibility from the artifact; the processing function (only) uses it.
    (layer_name,) = document["resource"]["aws_lambda_layer_version"]
    layer = document["resource"]["aws_lambda_layer_version"][layer_name]
    layer_entry = json.loads((app / "dist" / "lambdapack-manifest.json").read_text())["layers"]["common"]
    layer_zip = (stack_dir / layer["filename"]).resolve()
    assert layer_zip == app / "dist" / "common.zip" and not Path(layer["filename"]).is_absolute()
    assert _b64sha256(layer_zip) == layer["source_code_hash"] == layer_entry["code_sha256"]
    assert layer["compatible_runtimes"] == layer_entry["compatible_runtimes"] == ["python3.11"]
    assert layer["compatible_architectures"] == layer_entry["compatible_architectures"] == ["arm64"]
    with zipfile.ZipFile(layer_zip) as zf:
        names = zf.namelist()
    assert all(n.startswith("python/") for n in names) and "python/orjson/__init__.py" in names
    assert functions["processing"]["layers"] == [f"${{aws_lambda_layer_version.{layer_name}.arn}}"]
    assert all("layers" not in functions[n] for n in ("validation", "status", "webhook"))
    with zipfile.ZipFile(stack_dir / functions["processing"]["filename"]) as zf:
        assert zf.namelist() == ["processor.py"]  # orjson comes from the layer

    # Started from elsewhere, relative paths still resolve against the project.
    elsewhere = subprocess.run(
        [python, str(app / "main.py")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert elsewhere.returncode == 0, elsewhere.stderr[-3000:]
    shutil.rmtree(tmp_path / "cdktf.out", ignore_errors=True)

    again = subprocess.run([python, "main.py"], cwd=app, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (stack_dir / "cdk.tf.json").read_text() == first  # a second synth changes nothing


@pytest.mark.network
@pytest.mark.parametrize("example", ["transactions", "events"])  # Python functions; Node.js functions
def test_terraform_computes_the_same_hashes_and_reads_the_manifest(
    tools: Path, tmp_path: Path, example: str
) -> None:
    project = shutil.copytree(
        REPO / "examples" / example, tmp_path / "project", ignore=shutil.ignore_patterns("dist")
    )
    built = run_cli("build", cwd=project)
    assert built.returncode == 0, built.stderr
    manifest_path = project / "dist" / "lambdapack-manifest.json"
    manifest = json.loads(manifest_path.read_text())
    names = sorted(manifest["artifacts"])
    expressions = [f'filebase64sha256("{project / manifest["artifacts"][n]["path"]}")' for n in names]
    expressions.append(f'jsonencode(jsondecode(file("{manifest_path}")))')

    lines = [_console(tools, expression, tmp_path) for expression in expressions]
    assert [json.loads(line) for line in lines[: len(names)]] == [
        manifest["artifacts"][n]["code_sha256"] for n in names
    ]
    assert json.loads(json.loads(lines[-1])) == manifest  # Terraform decodes the manifest as written


@pytest.mark.network
def test_terraform_takes_a_layer_from_the_manifest_and_the_external_data_source(
    tools: Path, tmp_path: Path
) -> None:
    """The HCL of docs/iac.md#layers, evaluated by the real Terraform: the manifest's
    `layers` section and a function's `layers`, and `lambdapack terraform`'s answers as the
    external data source hands them over (`result`: the program's JSON object of strings;
    the `external` provider itself is not installed here: it comes from Terraform's registry)."""
    project = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": 'runtime = "python3.12"\narchitecture = "arm64"\n'
            '[layers.common]\nrequirements = "layers/common/requirements.txt"\n'
            '[functions.api]\nsource = "functions/api"\nhandler = "app.handler"\nlayers = ["common"]\n'
            '[functions.status]\nsource = "functions/status"\nhandler = "app.handler"\n',
            "layers/common/requirements.txt": offline_requirements("lpfix-pure"),
            "functions/api/app.py": "import lpfix_pure\n\n"
            "def handler(e, c):\n    return lpfix_pure.double()\n",
            "functions/status/app.py": "def handler(e, c):\n    return 'ok'\n",
        },
    )
    infra = tmp_path / "infra"  # where Terraform runs, and so the data source's program
    infra.mkdir()
    for key, query in [
        ("common", {"layer": "common"}),
        ("api", {"function": "api"}),
        ("status", {"function": "status"}),
    ]:
        answer = run_cli("terraform", cwd=infra, stdin=json.dumps({**query, "project_dir": "../project"}))
        assert answer.returncode == 0, answer.stderr
        (infra / f"{key}.json").write_text(answer.stdout)
    manifest_path = project / "dist" / "lambdapack-manifest.json"
    (infra / "main.tf").write_text(
        "locals {\n"
        f'  manifest = jsondecode(file("{manifest_path}"))\n'
        "  # data.external.NAME.result: the program's answer\n"
        + "".join(f'  {key} = jsondecode(file("{key}.json"))\n' for key in ("common", "api", "status"))
        + "}\n"
    )
    common = "local.manifest.layers.common"
    expression = (
        "jsonencode({"
        f'manifest_hash = filebase64sha256("{project}/${{{common}.path}}"), '
        f"manifest_code_sha256 = {common}.code_sha256, "
        f"manifest_runtimes = {common}.compatible_runtimes, "
        f"manifest_architectures = {common}.compatible_architectures, "
        "api_layers = try(local.manifest.artifacts.api.layers, []), "
        "status_layers = try(local.manifest.artifacts.status.layers, []), "
        "external_hash = filebase64sha256(local.common.path), "
        "external_code_sha256 = local.common.code_sha256, "
        'external_runtimes = split(",", local.common.compatible_runtimes), '
        'external_architectures = split(",", local.common.compatible_architectures), '
        'external_api_layers = compact(split(",", local.api.layers)), '
        'external_status_layers = compact(split(",", local.status.layers)), '
        'status_split = split(",", local.status.layers)'
        "})"
    )
    seen = json.loads(json.loads(_console(tools, expression, infra)))
    layer_zip = project / "dist" / "common.zip"
    assert (
        seen["manifest_hash"]
        == seen["manifest_code_sha256"]
        == seen["external_hash"]
        == seen["external_code_sha256"]
        == _b64sha256(layer_zip)
    )
    assert seen["manifest_runtimes"] == seen["external_runtimes"] == ["python3.12"]
    assert seen["manifest_architectures"] == seen["external_architectures"] == ["arm64"]
    assert seen["api_layers"] == seen["external_api_layers"] == ["common"]
    assert seen["status_layers"] == seen["external_status_layers"] == []
    assert seen["status_split"] == [""]  # why docs/iac.md says compact(split(",", …))
    with zipfile.ZipFile(layer_zip) as zf:
        assert "python/lpfix_pure/__init__.py" in zf.namelist()


def test_external_data_source_protocol(tmp_path: Path) -> None:
    project = shutil.copytree(PROJECTS / "reference", tmp_path / "project")
    query = json.dumps({"function": "reference", "project_dir": str(project)})
    result = run_cli("terraform", cwd=tmp_path, stdin=query)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert all(isinstance(v, str) for v in answer.values())  # the protocol: a flat object of strings
    zip_path = project / "dist" / "reference.zip"
    assert answer["path"] == "project/dist/reference.zip"
    assert answer["code_sha256"] == _b64sha256(zip_path)
    assert answer["sha256"] == hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert answer["size"] == str(zip_path.stat().st_size)
    by_config = run_cli(
        "terraform", cwd=project, stdin=json.dumps({"function": "reference", "config": "lambdapack.toml"})
    )
    assert json.loads(by_config.stdout)["code_sha256"] == answer["code_sha256"]

    for bad, message in [
        ("not json", "terraform query: not JSON"),
        (json.dumps({"function": 1}), "must be a JSON object of strings"),
        (json.dumps({"fn": "reference"}), "unknown key 'fn'"),
        (
            json.dumps({"function": "nope", "project_dir": str(project)}),
            "no function 'nope'; functions: reference",
        ),
    ]:
        failed = run_cli("terraform", cwd=tmp_path, stdin=bad)
        assert failed.returncode == 2 and failed.stdout == "" and message in failed.stderr, failed.stderr


def test_build_check_is_a_ci_gate(make_project: Callable[..., Path]) -> None:
    root = make_project(
        'runtime = "python3.12"\narchitecture = "arm64"\n'
        '[functions.a]\nsource = "a"\nhandler = "app.handler"\n'
        '[functions.b]\nsource = "b"\nhandler = "app.handler"\n',
        {"a/app.py": "def handler(e, c):\n    return 1\n", "b/app.py": "def handler(e, c):\n    return 2\n"},
    )
    assert run_cli("build", "--check", cwd=root).returncode == 4  # nothing built yet
    assert run_cli("build", cwd=root).returncode == 0
    fine = run_cli("build", "--check", cwd=root)
    assert fine.returncode == 0 and "a: up to date" in fine.stderr and "b: up to date" in fine.stderr
    before = {p.name: p.read_bytes() for p in (root / "dist").iterdir()}

    (root / "a" / "app.py").write_text("def handler(e, c):\n    return 3\n")
    stale = run_cli("build", "--check", cwd=root)
    assert stale.returncode == 4
    assert (
        "lambdapack: error: a: dist/a.zip has code_sha256" in stale.stderr and "b: up to date" in stale.stderr
    )
    assert {p.name: p.read_bytes() for p in (root / "dist").iterdir()} == before  # nothing changed
    (root / "a" / "app.py").write_text("def handler(e, c):\n    return 1\n")
    assert run_cli("build", "--check", cwd=root).returncode == 0
