"""The command line without the network: exit codes (README "Exit codes"),
config errors, `hash`, `terraform`, `build --check` with dependencies, the
manifest's failure modes."""

from __future__ import annotations

import base64
import hashlib
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import lambdapack
from conftest import cli, offline_requirements, run_cli, write_tree

APP = "import lpfix_pure\n\n\ndef handler(event, context):\n    return lpfix_pure.double()\n"
CONFIG = (
    'runtime = "python3.12"\narchitecture = "x86_64"\n'
    '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\nexclude = ["requirements*"]\n'
)


def _project(root: Path) -> Path:
    return write_tree(
        root,
        {
            "lambdapack.toml": CONFIG,
            "fn/app.py": APP,
            "fn/requirements.txt": offline_requirements("lpfix-pure"),
        },
    )


def _errors(stderr: str) -> list[str]:
    return [line.removeprefix("lambdapack: error: ") for line in stderr.splitlines() if "error: " in line]


def test_every_config_problem_at_once_with_exit_code_2(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path,
        {
            "lambdapack.toml": 'runtime = "python3.8"\narchitecure = "arm64"\noutput = ""\n'
            'dependency_exclude = "tests/"\nexclude_runtime_packages = "yes"\n'
            '[functions.api]\nsource = "api"\nrequirments = "requirements.txt"\narchitecture = "x86_64"\n'
            '[functions.worker]\nsource = "worker"\nhandler = "worker"\narchitecture = "arm"\n'
            '[functions."bad name"]\nsource = "api"\nhandler = "app.handler"\n',
            "api/app.py": "",
        },
    )
    result = run_cli("build", cwd=root)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert sorted(_errors(result.stderr)) == sorted(
        [
            "lambdapack.toml: architecure: unknown key (did you mean 'architecture'?)",
            "lambdapack.toml: runtime: 'python3.8' is not a supported runtime; supported: python3.10, "
            "python3.11, python3.12, python3.13, python3.14, nodejs18.x, nodejs20.x, nodejs22.x, nodejs24.x",
            "lambdapack.toml: output: must be a non-empty string, not ''",
            "lambdapack.toml: dependency_exclude: must be a list of gitignore-style patterns (strings), "
            "not 'tests/'",
            "lambdapack.toml: exclude_runtime_packages: must be true or false, not 'yes'",
            "lambdapack.toml: functions.api.requirments: unknown key (did you mean 'requirements'?)",
            'lambdapack.toml: functions.api.handler: missing; e.g. handler = "app.lambda_handler"',
            "lambdapack.toml: functions.worker.architecture: 'arm' is not a supported architecture; "
            "supported: x86_64, arm64",
            "lambdapack.toml: functions.worker.source: directory 'worker' does not exist",
            "lambdapack.toml: functions.worker.handler: 'worker' is not MODULE.FUNCTION "
            "(e.g. 'app.lambda_handler')",
            "lambdapack.toml: functions.bad name: function names may hold only letters, digits, "
            "'.', '_' and '-'",
            # the top-level architecture is misspelt, so nothing gives this function one
            "lambdapack.toml: functions.bad name.architecture: missing; set it here or at the top level "
            "(one of x86_64, arm64)",
        ]
    )
    assert not (root / "dist").exists()

    (root / "lambdapack.toml").write_text("runtime = [\n")
    invalid = cli("build", cwd=root)
    assert invalid.returncode == 2 and _errors(invalid.stderr)[0].startswith(
        "lambdapack.toml: not valid TOML: "
    )
    (root / "lambdapack.toml").write_text('runtime = "python3.12"\n')
    empty = cli("lock", cwd=root)
    assert empty.returncode == 2
    assert _errors(empty.stderr) == [
        "lambdapack.toml: functions: no functions defined; add a [functions.NAME] table"
    ]


def test_usage_errors_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path / "p")
    for args, message in [
        (("build", "fnn"), "unknown function 'fnn' (did you mean 'fn'?); functions in "),
        (("build", "--handler", "app.handler"), "--handler only apply with --source"),
        (("build", "fn", "--source", "fn"), "give either function NAMES or --source, not both"),
        (("build", "--source", "fn", "--runtime", "python3.12"), "--source needs --handler, --architecture"),
        (("check", "fn", "dist/fn.zip"), "give either ZIP files or function names, not both"),
        (
            ("check", "fn", "--runtime", "python3.12"),
            "--runtime, --architecture, --handler and --layer apply to ZIP files",
        ),
        (("lock", "nope"), "unknown function 'nope'"),
    ]:
        result = cli(*args, cwd=root)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    for args in (("build", "--jobs", "0"), ("build", "--runtime", "python2.7"), ("frobnicate",)):
        assert cli(*args, cwd=root).returncode == 2, args  # click's own usage errors
    bad_epoch = cli("build", cwd=root, env={"SOURCE_DATE_EPOCH": "-1"})
    assert (
        bad_epoch.returncode == 2
        and "SOURCE_DATE_EPOCH: '-1' is not a whole number of seconds" in bad_epoch.stderr
    )
    assert not (root / "dist").exists()

    monkeypatch.setattr(sys, "argv", ["lambdapack", "--version"])  # python -m lambdapack, in this process
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("lambdapack", run_name="__main__")
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"lambdapack, version {lambdapack.__version__}\n"
    helped = subprocess.run(
        [sys.executable, "-m", "lambdapack", "--help"], capture_output=True, text=True, check=False, cwd=root
    )
    assert helped.returncode == 0
    assert {"build", "check", "inspect", "lock", "cache", "hash", "terraform"} <= set(helped.stdout.split())


def test_hash_prints_lambdas_code_sha256(tmp_path: Path) -> None:
    one, two = tmp_path / "one.zip", tmp_path / "two.bin"
    one.write_bytes(b"PK\x05\x06" + bytes(18))
    two.write_bytes(bytes(range(256)) * 100)
    digests = {p: hashlib.sha256(p.read_bytes()).digest() for p in (one, two)}
    single = cli("hash", "one.zip", cwd=tmp_path)
    assert single.returncode == 0 and single.stdout == base64.b64encode(digests[one]).decode() + "\n"
    many = cli("hash", "one.zip", str(two), cwd=tmp_path)
    assert many.stdout.splitlines() == [
        f"{base64.b64encode(digests[one]).decode()}  one.zip",
        f"{base64.b64encode(digests[two]).decode()}  {two}",
    ]
    hexed = cli("hash", "--hex", "two.bin", cwd=tmp_path)
    assert hexed.stdout == digests[two].hex() + "\n"
    missing = cli("hash", "one.zip", "gone.zip", cwd=tmp_path)
    assert missing.returncode == 2 and "gone.zip: No such file or directory" in missing.stderr
    assert cli("hash", cwd=tmp_path).returncode == 2  # FILE... is required


def test_build_check_gate_with_dependencies(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    assert cli("build", "--check", cwd=root).returncode == 4  # nothing built yet
    built = cli("build", "-q", "--json", cwd=root)
    assert built.returncode == 0 and built.stderr == ""
    document = json.loads(built.stdout)
    assert document == json.loads((root / "dist" / "lambdapack-manifest.json").read_text())
    good = document["artifacts"]["fn"]["code_sha256"]
    before = {p.name: p.read_bytes() for p in (root / "dist").iterdir()}
    fine = cli("build", "--check", cwd=root)
    assert fine.returncode == 0 and fine.stderr == "fn: up to date\n"

    # a dependency changes (a pin to the older lpfix-base): the zip is stale
    (root / "fn" / "requirements.txt").write_text(offline_requirements("lpfix-pure", "lpfix-base==1.0.0"))
    stale = cli("build", "--check", cwd=root)
    assert stale.returncode == 4
    (error,) = _errors(stale.stderr)
    assert error.startswith(f"fn: dist/fn.zip has code_sha256 {good}; a fresh build gives ")
    assert {p.name: p.read_bytes() for p in (root / "dist").iterdir()} == before  # nothing changed
    (root / "fn" / "requirements.txt").write_text(offline_requirements("lpfix-pure"))

    manifest = root / "dist" / "lambdapack-manifest.json"
    manifest.write_text(manifest.read_text().replace(good, "AAAA"))
    recorded = cli("build", "--check", cwd=root)
    assert (
        recorded.returncode == 4
        and "fn: the manifest records AAAA; a fresh build gives " + good in recorded.stderr
    )
    (root / "dist" / "fn.zip").unlink()
    gone = cli("build", "--check", cwd=root)
    assert gone.returncode == 4 and "fn: dist/fn.zip is missing" in gone.stderr


def test_an_unusable_manifest_fails_the_build_with_exit_1(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    manifest = root / "dist" / "lambdapack-manifest.json"
    manifest.parent.mkdir()
    for text, message in [
        ("{not json", "not valid JSON"),
        ('{"version": 2, "artifacts": {}}', "not a version 1 lambdapack manifest"),
        ('{"version": 1, "artifacts": []}', "'artifacts' must be an object"),
    ]:
        manifest.write_text(text)
        result = cli("build", cwd=root)
        assert result.returncode == 1, result.stderr
        assert message in result.stderr and "delete it to start afresh" in result.stderr
        assert manifest.read_text() == text


def test_output_directory_and_terraform_with_dependencies(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    built = cli("build", "-C", str(root), "-o", "out", cwd=elsewhere)  # -o: relative to where we stand
    assert built.returncode == 0, built.stderr
    zip_path = elsewhere / "out" / "fn.zip"
    entry = json.loads((elsewhere / "out" / "lambdapack-manifest.json").read_text())["artifacts"]["fn"]
    assert entry["path"] == "../elsewhere/out/fn.zip"
    assert entry["code_sha256"] == base64.b64encode(hashlib.sha256(zip_path.read_bytes()).digest()).decode()

    query = json.dumps({"function": "fn", "project_dir": "p"})
    answer = cli("terraform", cwd=tmp_path, stdin=query)
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert all(isinstance(v, str) for v in result.values())
    assert result["path"] == "p/dist/fn.zip" and result["absolute_path"] == str(root / "dist" / "fn.zip")
    assert result["code_sha256"] == entry["code_sha256"]  # the same package, wherever it was written
    assert (result["runtime"], result["architecture"], result["handler"]) == (
        "python3.12",
        "x86_64",
        "app.handler",
    )
    for bad, message in [
        ("{}", "give 'function' or 'layer'"),
        (json.dumps({"function": "fn", "config": "p/fn/app.py"}), "is not the config found for"),
    ]:
        failed = cli("terraform", cwd=tmp_path, stdin=bad)
        assert failed.returncode == 2 and failed.stdout == "" and message in failed.stderr, failed.stderr
