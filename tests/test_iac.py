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
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import PROJECTS, run_cli

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

    def evaluate(expression: str) -> str:
        """One expression per `terraform console` run (it evaluates only the last line it reads)."""
        console = subprocess.run(
            [str(tools / "terraform"), "console"],
            input=expression + "\n",
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "CHECKPOINT_DISABLE": "1"},
        )
        return console.stdout.strip()

    lines = [evaluate(expression) for expression in expressions]
    assert [json.loads(line) for line in lines[: len(names)]] == [
        manifest["artifacts"][n]["code_sha256"] for n in names
    ]
    assert json.loads(json.loads(lines[-1])) == manifest  # Terraform decodes the manifest as written


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
        (json.dumps({"function": "nope", "project_dir": str(project)}), "unknown function 'nope'"),
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
