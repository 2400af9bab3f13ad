"""``lambdapack build --explain``: why each function was built again, read from
the build plan recorded by the last build (lambdapack.explanation), for each
kind of input: the function's files (edited, added, removed, made executable),
the dependency input, the lock file, index settings, the target, the handler,
options (slim, SOURCE_DATE_EPOCH, checks), lambdapack's and the tools'
versions, the zip itself; and "up to date". Offline: the wheelhouse's wheels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lambdapack.plan
from conftest import cli, offline_requirements, write_tree
from lambdapack.usecases.build import run
from lambdapack.usecases.project import load

CONFIG = """\
output = "dist"

[functions.api]
source = "api"
handler = "app.handler"
runtime = "python3.12"
architecture = "arm64"
requirements = "api/requirements.txt"
exclude = ["requirements*"]

[functions.status]
source = "status"
handler = "app.handler"
runtime = "python3.12"
architecture = "arm64"
"""
APP = "import lpfix_pure\n\n\ndef handler(event, context):\n    return lpfix_pure.double()\n"
STATUS = "def handler(event, context):\n    return 'ok'\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": CONFIG,
            "api/app.py": APP,
            "api/requirements.txt": offline_requirements("lpfix-pure"),
            "status/app.py": STATUS,
        },
    )
    first = cli("build", "--explain", cwd=root)
    assert first.returncode == 0, first.stderr
    lines = _explained(first.stderr)
    assert lines == {
        "api": "rebuilt: first build: no build of it is recorded in the output directory",
        "status": "rebuilt: first build: no build of it is recorded in the output directory",
    }
    return root


def _explained(stderr: str) -> dict[str, str]:
    """The explanation lines of ``build --explain``: name -> what it says."""
    found = {}
    for line in stderr.splitlines():
        name, _, rest = line.partition("  ")
        rest = rest.strip()
        if name in ("api", "status") and (rest.startswith("rebuilt: ") or rest == "up to date"):
            found[name] = rest
    return found


def _build(root: Path, *args: str, env: dict[str, str | None] | None = None) -> dict[str, str]:
    result = cli("build", "--explain", *args, cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    return _explained(result.stderr)


def test_up_to_date_and_the_zip_itself(project: Path) -> None:
    assert _build(project) == {"api": "up to date", "status": "up to date"}
    (project / "dist" / "status.zip").unlink()
    assert _build(project)["status"] == "rebuilt: status.zip is missing"
    zip_path = project / "dist" / "api.zip"
    zip_path.write_bytes(zip_path.read_bytes())  # the same bytes, but not the file lambdapack wrote
    said = _build(project)
    assert said["api"] == "rebuilt: api.zip is not the file lambdapack wrote (its size, time or inode differ)"
    assert said["status"] == "up to date"
    refreshed = _build(project, "--refresh", "status")
    assert refreshed == {"status": "rebuilt: --refresh resolves and builds again"}


def test_the_functions_own_files(project: Path) -> None:
    (project / "api" / "app.py").write_text(APP + "# edited\n")
    (project / "api" / "util.py").write_text("X = 1\n")
    assert _build(project) == {
        "api": "rebuilt: 1 source file changed: app.py; 1 source file added: util.py",
        "status": "up to date",
    }
    (project / "api" / "util.py").unlink()
    for n in range(7):
        (project / "status" / f"m{n}.py").write_text(f"N = {n}\n")
    assert _build(project) == {
        "api": "rebuilt: 1 source file removed: util.py",
        "status": "rebuilt: 7 source files added: m0.py, m1.py, m2.py, m3.py, m4.py (+2 more)",
    }
    (project / "status" / "app.py").chmod(0o755)
    assert _build(project)["status"] == "rebuilt: 1 source file mode changed: app.py"


def test_dependencies_lock_and_index(project: Path) -> None:
    requirements = project / "api" / "requirements.txt"
    requirements.write_text(offline_requirements("lpfix-pure", "lpfix-base==1.0.0"))
    assert _build(project)["api"] == "rebuilt: api/requirements.txt changed"
    locked = cli("lock", "api", cwd=project)
    assert locked.returncode == 0, locked.stderr
    (lock,) = (project / "api").glob("requirements.*.lock.txt")
    assert _build(project)["api"] == f"rebuilt: lock api/{lock.name} written"
    lock.write_text(lock.read_text() + "\n")
    assert _build(project)["api"] == f"rebuilt: lock api/{lock.name} changed"
    config = project / "lambdapack.toml"
    config.write_text(
        CONFIG.replace(
            'exclude = ["requirements*"]',
            'exclude = ["requirements*"]\nindex_url = "http://127.0.0.1:9/simple"',
        )
    )
    said = _build(project)["api"]
    assert said.startswith("rebuilt: index settings changed (") and "recorded as hashes" in said
    assert "127.0.0.1" not in said  # index settings are recorded as hashes only


def test_target_handler_and_options(project: Path) -> None:
    said = _build(project, "--architecture", "x86_64")
    assert said["api"] == "rebuilt: target python3.12 arm64 -> python3.12 x86_64"
    assert _build(project)["status"] == "rebuilt: target python3.12 x86_64 -> python3.12 arm64"
    config = project / "lambdapack.toml"
    config.write_text(
        CONFIG.replace('handler = "app.handler"\nruntime', 'handler = "app.main"\nruntime', 1).replace(
            'source = "status"', 'source = "status"\nslim = ["tests"]'
        )
    )
    (project / "api" / "app.py").write_text(APP + "\n\ndef main(event, context):\n    return 1\n")
    said = _build(project)
    assert said["api"] == "rebuilt: handler app.handler -> app.main; 1 source file changed: app.py"
    assert said["status"] == 'rebuilt: option slim: unset -> ["tests"]'
    said = _build(project, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert said["status"] == "rebuilt: SOURCE_DATE_EPOCH: unset -> 1700000000"
    said = _build(project, "--no-verify", env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert said["status"] == "rebuilt: checks (--no-verify turns them off): true -> false"


def test_lambdapacks_own_version(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = lambdapack.plan.__version__
    monkeypatch.setattr(lambdapack.plan, "__version__", "99.0.0")
    said = _build(project)
    assert said == {
        "api": f"rebuilt: engine lambdapack: {before} -> 99.0.0",
        "status": f"rebuilt: engine lambdapack: {before} -> 99.0.0",
    }


def test_verbose_explains_too_and_the_api_returns_structured_changes(project: Path) -> None:
    (project / "status" / "app.py").write_text(STATUS + "# v2\n")
    verbose = cli("build", "-v", cwd=project)
    assert verbose.returncode == 0, verbose.stderr
    assert _explained(verbose.stderr) == {
        "api": "up to date",
        "status": "rebuilt: 1 source file changed: app.py",
    }
    quiet = cli("build", cwd=project)
    assert _explained(quiet.stderr) == {}  # only when asked
    (project / "status" / "app.py").write_text(STATUS + "# v3\n")
    result = run(load(project), [], explain=True)
    status = result.explanations["status"]
    assert status.rebuilt and [c.kind for c in status.changes] == ["sources"]
    assert status.changes[0].names == ("app.py",)
    assert json.loads(json.dumps(status.to_json())) == {
        "name": "status",
        "rebuilt": True,
        "summary": "1 source file changed: app.py",
        "changes": [{"kind": "sources", "detail": "1 source file changed: app.py", "names": ["app.py"]}],
    }
    assert result.explanations["api"].to_json()["summary"] == "up to date"
    assert run(load(project), []).explanations == {}  # not asked: no plans read


def test_a_missing_sbom_is_named(project: Path) -> None:
    said = _build(project, "--sbom")
    assert said == {
        "api": "rebuilt: option sbom: unset -> true",
        "status": "rebuilt: option sbom: unset -> true",
    }
    (project / "dist" / "status.cdx.json").unlink()
    assert _build(project, "--sbom") == {"api": "up to date", "status": "rebuilt: status.cdx.json is missing"}
