"""The command line: every class of bad input gives a one-line error naming
the culprit and the documented exit code, without a traceback, and leaves
earlier outputs untouched."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import cli, run_cli
from lambdapack.cli import main

CONFIG = """\
runtime = "python3.12"
architecture = "arm64"

[functions.fn]
source = "fn"
handler = "app.handler"

[functions.other]
source = "other"
handler = "other.handler"
"""

FILES = {
    "fn/app.py": "def handler(e, c):\n    return 1\n",
    "other/other.py": "def handler(e, c):\n    return 2\n",
}


@pytest.fixture
def built(make_project: Callable[..., Path]) -> Path:
    root = make_project(CONFIG, FILES)
    result = run_cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def _outputs(root: Path) -> dict[str, bytes]:
    """The zips and the manifest (the state and plan files are lambdapack's
    own bookkeeping: a failed build may still record file hashes there)."""
    internal = {".lambdapack-state.json", ".lambdapack-plan.json"}
    return {p.name: p.read_bytes() for p in sorted((root / "dist").iterdir()) if p.name not in internal}


BREAKAGES: list[tuple[str, Callable[[Path], None], int, str]] = [
    (
        "unknown key",
        lambda r: (r / "lambdapack.toml").write_text(CONFIG + 'hander = "x.y"\n'),
        2,
        "lambdapack.toml: functions.other.hander: unknown key (did you mean 'handler'?)",
    ),
    (
        "unknown runtime",
        lambda r: (r / "lambdapack.toml").write_text(CONFIG.replace("python3.12", "python3.7")),
        2,
        "'python3.7' is not a supported runtime; supported: python3.10, python3.11, python3.12",
    ),
    (
        "missing source dir",
        lambda r: (r / "lambdapack.toml").write_text(CONFIG.replace('source = "fn"', 'source = "gone"')),
        2,
        "lambdapack.toml: functions.fn.source: directory 'gone' does not exist",
    ),
    (
        "missing handler file",
        lambda r: (r / "fn" / "app.py").rename(r / "fn" / "application.py"),
        3,
        "fn: error [handler] app.py: handler 'app.handler': module 'app' not found",
    ),
]

NETWORK_BREAKAGES: list[tuple[str, Callable[[Path], None], int, str]] = [
    (
        "requirement that does not exist",
        lambda r: (r / "fn" / "requirements.txt").write_text("surely-not-a-real-package-xq7\n"),
        1,
        "fn: package 'surely-not-a-real-package-xq7' (from requirements.txt) was not found",
    ),
    (
        "package without a compatible wheel",
        lambda r: (
            (r / "fn" / "requirements.txt").write_text("orjson==3.9.10\n"),  # no cp314 wheels
            (r / "lambdapack.toml").write_text(
                CONFIG.replace('"app.handler"', '"app.handler"\nruntime = "python3.14"')
            ),
        ),
        1,
        "fn: orjson==3.9.10 has no wheel for python3.14 arm64 and its sdist holds native code "
        '(Cargo.toml); it must be compiled for the target in its build image: set sdists = "container"',
    ),
]


def _assert_clean_failure(root: Path, before: dict[str, bytes], code: int, message: str) -> None:
    result = run_cli("build", cwd=root)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("lambdapack: error: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr  # one line, naming the culprit
    assert _outputs(root) == before


@pytest.mark.parametrize(("case", "breakage", "code", "message"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_bad_input(built: Path, case: str, breakage: Callable[[Path], None], code: int, message: str) -> None:
    before = _outputs(built)
    breakage(built)
    _assert_clean_failure(built, before, code, message)


@pytest.mark.network
@pytest.mark.parametrize(
    ("case", "breakage", "code", "message"), NETWORK_BREAKAGES, ids=[b[0] for b in NETWORK_BREAKAGES]
)
def test_bad_requirements(
    built: Path, case: str, breakage: Callable[[Path], None], code: int, message: str
) -> None:
    before = _outputs(built)
    breakage(built)
    _assert_clean_failure(built, before, code, message)


def test_json_manifest_partial_rebuild_and_hash(built: Path) -> None:
    manifest_file = built / "dist" / "lambdapack-manifest.json"
    document = json.loads(manifest_file.read_text())
    assert set(document["artifacts"]) == {"fn", "other"}
    entry = document["artifacts"]["fn"]
    data = (built / "dist" / "fn.zip").read_bytes()
    assert entry["path"] == "dist/fn.zip"
    assert entry["code_sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["size"] == len(data)
    assert (entry["runtime"], entry["architecture"], entry["handler"]) == (
        "python3.12",
        "arm64",
        "app.handler",
    )

    (built / "other" / "other.py").write_text("def handler(e, c):\n    return 3\n")
    result = run_cli("build", "other", "--json", cwd=built)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads(manifest_file.read_text())
    assert printed["artifacts"]["fn"] == entry  # kept, not rebuilt
    assert printed["artifacts"]["other"]["code_sha256"] != document["artifacts"]["other"]["code_sha256"]
    assert "other" in result.stderr and "fn " not in result.stderr

    hashed = run_cli("hash", "dist/fn.zip", cwd=built)
    assert hashed.stdout.strip() == entry["code_sha256"]
    hexed = run_cli("hash", "--hex", "dist/fn.zip", "dist/other.zip", cwd=built)
    assert hexed.stdout.splitlines()[0] == f"{entry['sha256']}  dist/fn.zip"


def test_source_mode_without_config(tmp_path: Path) -> None:
    fn = tmp_path / "functions" / "api"
    fn.mkdir(parents=True)
    (fn / "app.py").write_text("def lambda_handler(e, c):\n    return 1\n")
    args = [
        "build",
        "-C",
        str(tmp_path),
        "--source",
        "functions/api",
        "--runtime",
        "python3.12",
        "--architecture",
        "arm64",
        "--handler",
        "app.lambda_handler",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "dist" / "lambdapack-manifest.json").read_text())
    assert document["artifacts"]["api"]["path"] == "dist/api.zip"

    missing = CliRunner().invoke(main, ["build", "-C", str(tmp_path), "--source", "functions/api"])
    assert missing.exit_code == 2
    assert "--source needs --handler, --runtime, --architecture" in missing.output


def test_usage_errors(built: Path) -> None:
    result = CliRunner().invoke(main, ["build", "-C", str(built), "nope"])
    assert result.exit_code == 2
    assert "unknown function 'nope'" in result.output
    result = CliRunner().invoke(main, ["build", "-C", str(built / "fn"), "--runtime", "python2.7"])
    assert result.exit_code == 2
    assert "python2.7" in result.output
    empty = built.parent / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["build", "-C", str(empty)])
    assert result.exit_code == 2
    assert "no lambdapack.toml" in result.output


def test_source_builds_take_the_sdists_policy_and_refuse_it_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    base = ["build", "--source", "fn", "--handler", "app.handler", "--runtime", "python3.11"]
    base += ["--architecture"]
    bad = cli(*base, "x86_64", "--sdists", "sometimes", cwd=tmp_path)
    assert bad.returncode == 2 and "'sometimes' is not one of 'never', 'pure', 'container'" in bad.stderr
    built = cli(*base, "x86_64", "--sdists", "never", "--build-image", "x/y:1", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    plan = json.loads((tmp_path / "dist" / ".lambdapack-plan.json").read_text())
    assert "x/y:1" not in json.dumps(plan)  # nothing to build from source: no dependencies, no options
    stray = cli("build", "--sdists", "container", cwd=tmp_path)
    assert stray.returncode == 2 and "--sdists only apply with --source" in stray.stderr
