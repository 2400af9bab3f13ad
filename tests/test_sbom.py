"""SBOMs (``sbom = true`` / ``--sbom``, docs/sbom.md), offline: a CycloneDX 1.6
document beside each zip, valid against the official schema (the strict
validator of cyclonedx-python-lib, which vendors the schemas), byte-identical
across builds in different directories, listing every distribution in the zip
with its version and the hash of the file its lock pins (the wheelhouse's
wheel, the loopback registry's tarball), for a Python function, a Python
layer, a Node.js function and a bundled Node.js function; the manifest's
``sbom`` field, no-op builds and ``SOURCE_DATE_EPOCH``."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from npm_registry import (  # noqa: F401 - the fixtures
    npm_registry_fixture,
    registry_env_fixture,
    use_registry_fixture,
)

from conftest import WHEELHOUSE, Tripwire, cli, offline_environment, offline_requirements, write_tree
from lambdapack.contents import StagedPackage
from lambdapack.node.sbom import purl
from lambdapack.python.ecosystem import PythonEcosystem

if TYPE_CHECKING:
    from cyclonedx.validation.json import JsonStrictValidator

PY_CONFIG = """\
sbom = true
runtime = "python3.12"
architecture = "arm64"
exclude = ["requirements*"]

[layers.common]
requirements = "layers/common/requirements.txt"
source = "layers/common/python"

[functions.api]
source = "functions/api"
handler = "app.handler"
requirements = "functions/api/requirements.txt"
"""
PY_FILES = {
    "lambdapack.toml": PY_CONFIG,
    "layers/common/requirements.txt": offline_requirements("lpfix-pure"),
    "layers/common/python/shared/__init__.py": 'NAME = "shared"\n',
    "functions/api/app.py": "import lpfix_speedup\n\n\ndef handler(event, context):\n    return 1\n",
    "functions/api/requirements.txt": offline_requirements("lpfix-speedup"),
}
NODE_CONFIG = """\
sbom = true
[functions.plain]
source = "fn"
handler = "index.handler"
runtime = "nodejs20.x"
architecture = "x86_64"

[functions.bundled]
source = "fn"
handler = "native.handler"
runtime = "nodejs22.x"
architecture = "x86_64"
bundle = true
node_modules = ["lpfix-native"]
"""
NODE_FILES = {
    "lambdapack.toml": NODE_CONFIG,
    "fn/package.json": json.dumps(
        {
            "name": "fn",
            "version": "1.0.0",
            "private": True,
            "dependencies": {"lpfix-util": "1.0.0", "lpfix-native": "1.0.0"},
        },
        indent=2,
    )
    + "\n",
    "fn/index.js": '"use strict";\nconst { double } = require("lpfix-util");\n'
    "exports.handler = async (event) => double(event.x);\n",
    "fn/native.js": '"use strict";\nconst { double } = require("lpfix-util");\n'
    "exports.handler = async (event) =>\n"
    '  ({ doubled: double(event.x), native: typeof require("lpfix-native") });\n',
}


@functools.cache
def _validator() -> JsonStrictValidator:
    """CycloneDX 1.6's strict JSON schema validator (loaded on first use: its import takes
    seconds, which every offline worker would pay while collecting)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    return JsonStrictValidator(SchemaVersion.V1_6)


def _ok(*args: str, cwd: Path, env: Mapping[str, str | None] | None = None) -> str:
    result = cli(*args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stderr


def _sbom(root: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((root / "dist" / f"{name}.cdx.json").read_text("utf-8"))
    return document


def _valid(path: Path) -> None:
    errors = _validator().validate_str(path.read_text("utf-8"))
    assert errors is None, errors


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return [n for n in zf.namelist() if not n.endswith("/")]


def _by_name(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["components"]}


def _locations(component: Mapping[str, Any]) -> list[str]:
    return [o["location"] for o in component["evidence"]["occurrences"]]


def _properties(item: Mapping[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in item.get("properties", [])}


@pytest.fixture(scope="module")
def env(
    tmp_path_factory: pytest.TempPathFactory, tripwire: Tripwire, registry_env: dict[str, str]
) -> dict[str, str | None]:
    """The offline guard's variables (the module's builds run before it), no SOURCE_DATE_EPOCH."""
    made: dict[str, str | None] = {
        **offline_environment(tripwire, tmp_path_factory.mktemp("uv")),
        **registry_env,
    }
    made["SOURCE_DATE_EPOCH"] = None
    return made


@pytest.fixture(scope="module")
def python_built(tmp_path_factory: pytest.TempPathFactory, tripwire: Tripwire, env: Any) -> tuple[Path, Path]:
    """PY_FILES built in two directories at different depths."""
    first = write_tree(tmp_path_factory.mktemp("sbom-py") / "project", PY_FILES)
    second = write_tree(tmp_path_factory.mktemp("sbom-py-elsewhere") / "deeper" / "copy", PY_FILES)
    tripwire.take()
    for root in (first, second):
        _ok("build", cwd=root, env=env)
    assert tripwire.take() == []
    return first, second


@pytest.fixture(scope="module")
def node_built(tmp_path_factory: pytest.TempPathFactory, tripwire: Tripwire, env: Any) -> tuple[Path, Path]:
    """NODE_FILES locked, then copied elsewhere, and both built."""
    first = write_tree(tmp_path_factory.mktemp("sbom-node") / "project", NODE_FILES)
    tripwire.take()
    _ok("lock", "plain", cwd=first, env=env)
    second = tmp_path_factory.mktemp("sbom-node-elsewhere") / "deeper" / "copy"
    shutil.copytree(first, second)
    for root in (first, second):
        _ok("build", cwd=root, env=env)
    assert tripwire.take() == []
    return first, second


# -- Python -----------------------------------------------------------------------------------------


def test_python_sboms_are_schema_valid_and_byte_identical_across_directories(
    python_built: tuple[Path, Path],
) -> None:
    first, second = python_built
    for name in ("api", "common"):
        path = first / "dist" / f"{name}.cdx.json"
        _valid(path)
        assert path.read_bytes() == (second / "dist" / f"{name}.cdx.json").read_bytes()
        assert (first / "dist" / f"{name}.zip").read_bytes() == (second / "dist" / f"{name}.zip").read_bytes()
        assert path.read_text("utf-8").endswith("}\n")


def test_python_function_lists_every_shipped_wheel_with_its_lock_hash(
    python_built: tuple[Path, Path],
) -> None:
    root = python_built[0]
    zip_path = root / "dist" / "api.zip"
    document = _sbom(root, "api")
    shipped = {
        tuple(n.split("/")[0][: -len(".dist-info")].split("-", 1))
        for n in _names(zip_path)
        if ".dist-info/" in n
    }
    components = _by_name(document)
    assert {(c["name"].replace("-", "_"), c["version"]) for c in components.values()} == shipped
    owned: set[str] = set()
    for component in components.values():
        canonical = component["name"].replace("_", "-").lower()
        assert component["purl"] == component["bom-ref"] == f"pkg:pypi/{canonical}@{component['version']}"
        assert component["type"] == "library"
        wheel = WHEELHOUSE / _properties(component)["lambdapack:locked_file"]
        assert wheel.name.startswith(f"{component['name'].replace('-', '_')}-{component['version']}-")
        assert component["hashes"] == [
            {"alg": "SHA-256", "content": hashlib.sha256(wheel.read_bytes()).hexdigest()}
        ]
        assert component["licenses"] == [{"license": {"name": "MIT"}}]  # the wheels' `License: MIT`
        locations = _locations(component)
        assert locations == sorted(locations)
        owned.update(locations)
    # every file of the zip belongs to one distribution, but the function's own code
    assert set(_names(zip_path)) - owned == {"app.py"}
    assert "lpfix_speedup/__init__.py" in _locations(components["lpfix-speedup"])


def test_python_artifact_is_the_documents_subject(python_built: tuple[Path, Path]) -> None:
    root = python_built[0]
    document = _sbom(root, "api")
    manifest = json.loads((root / "dist" / "lambdapack-manifest.json").read_text())["artifacts"]["api"]
    data = (root / "dist" / "api.zip").read_bytes()
    assert (document["bomFormat"], document["specVersion"], document["version"]) == ("CycloneDX", "1.6", 1)
    assert re.fullmatch(
        r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        document["serialNumber"],
    )
    assert "timestamp" not in document["metadata"]  # no SOURCE_DATE_EPOCH: no time at all
    (tool,) = document["metadata"]["tools"]["components"]
    assert tool["name"] == "lambdapack"
    subject = document["metadata"]["component"]
    assert (subject["type"], subject["name"]) == ("application", "api")
    assert subject["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(data).hexdigest()}]
    assert _properties(subject) == {
        "lambdapack:code_sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
        "lambdapack:runtime": "python3.12",
        "lambdapack:architecture": "arm64",
        "lambdapack:handler": "app.handler",
    }
    assert manifest["sbom"] == "dist/api.cdx.json"
    assert manifest["code_sha256"] == _properties(subject)["lambdapack:code_sha256"]


def test_python_layer_lists_its_files_where_they_are_in_its_zip(python_built: tuple[Path, Path]) -> None:
    root = python_built[0]
    document = _sbom(root, "common")
    subject = document["metadata"]["component"]
    assert (subject["type"], subject["name"]) == ("library", "common")
    assert _properties(subject)["lambdapack:compatible_runtimes"] == "python3.12"
    assert sorted(_by_name(document)) == ["lpfix-base", "lpfix-pure"]
    names = set(_names(root / "dist" / "common.zip"))
    owned = {location for c in document["components"] for location in _locations(c)}
    assert owned <= names and all(location.startswith("python/") for location in owned)
    assert names - owned == {"python/shared/__init__.py"}
    layer = json.loads((root / "dist" / "lambdapack-manifest.json").read_text())["layers"]["common"]
    assert layer["sbom"] == "dist/common.cdx.json"


def test_sbom_only_when_asked_no_op_keeps_it_and_a_missing_one_is_made_again(
    tmp_path: Path, env: Any
) -> None:
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": '[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
            'runtime = "python3.13"\narchitecture = "x86_64"\n',
            "fn/app.py": "def handler(event, context):\n    return 1\n",
        },
    )
    dist = root / "dist"
    _ok("build", cwd=root, env=env)
    plain = (dist / "lambdapack-manifest.json").read_bytes()
    assert "sbom" not in json.loads(plain)["artifacts"]["fn"]
    assert not (dist / "fn.cdx.json").exists()

    _ok("build", "--sbom", cwd=root, env=env)  # turned on: built again, once
    made = (dist / "fn.cdx.json").read_bytes()
    assert (
        json.loads((dist / "lambdapack-manifest.json").read_text())["artifacts"]["fn"]["sbom"]
        == "dist/fn.cdx.json"
    )
    assert json.loads(made)["components"] == []  # no dependencies: the artifact alone
    _valid(dist / "fn.cdx.json")
    stat = (dist / "fn.cdx.json").stat()
    zip_stat = (dist / "fn.zip").stat()
    _ok("build", "--sbom", cwd=root, env=env)  # a no-op
    assert (dist / "fn.cdx.json").stat().st_mtime_ns == stat.st_mtime_ns
    assert (dist / "fn.zip").stat().st_mtime_ns == zip_stat.st_mtime_ns

    (dist / "fn.cdx.json").unlink()
    _ok("build", "--sbom", cwd=root, env=env)
    assert (dist / "fn.cdx.json").read_bytes() == made

    _ok("build", cwd=root, env=env)  # off again: the SBOM of the earlier zip goes
    assert not (dist / "fn.cdx.json").exists()
    assert (dist / "lambdapack-manifest.json").read_bytes() == plain
    assert not [p.name for p in dist.iterdir() if p.name.endswith(".tmp")]


def test_source_date_epoch_is_the_timestamp(tmp_path: Path, env: Any) -> None:
    root = write_tree(
        tmp_path / "project",
        {
            "lambdapack.toml": 'sbom = true\n[functions.fn]\nsource = "fn"\nhandler = "app.handler"\n'
            'runtime = "python3.13"\narchitecture = "x86_64"\n',
            "fn/app.py": "def handler(event, context):\n    return 1\n",
        },
    )
    _ok("build", cwd=root, env={**env, "SOURCE_DATE_EPOCH": "1700000000"})
    assert _sbom(root, "fn")["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    _valid(root / "dist" / "fn.cdx.json")


def test_python_licences_and_hashes_from_metadata_and_lock(tmp_path: Path) -> None:
    """License-Expression wins; classifiers name the licence when License is
    long text; a pin with several hashes (a user's file) gets none but lists them."""
    site = write_tree(
        tmp_path,
        {
            "a-1.0.dist-info/METADATA": "Name: a\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\n"
            "License: MIT\n",
            "a-1.0.dist-info/RECORD": "a.py,,\na-1.0.dist-info/METADATA,,\n",
            "a.py": "",
            "b_c-2.0+local.dist-info/METADATA": "Name: B.C\nVersion: 2.0+local\nLicense: "
            + "x" * 100
            + "\nClassifier: License :: OSI Approved :: BSD License\n",
            "b_c-2.0+local.dist-info/RECORD": "b.py,,\n",
            "b.py": "",
        },
    )
    from lambdapack.archive import ArchiveEntry

    entries = [
        ArchiveEntry(name=p.relative_to(site).as_posix(), path=p, executable=False)
        for p in sorted(site.rglob("*"))
        if p.is_file()
    ]
    ecosystem = PythonEcosystem(environ={})
    package = StagedPackage(entries, label="t", ownership=ecosystem.owners)
    pins = (
        f"a==1.0 --hash=sha256:{'1' * 64}  # a-1.0-py3-none-any.whl\n"
        f"b-c==2.0+local \\\n    --hash=sha256:{'3' * 64} \\\n    --hash=sha256:{'2' * 64}\n"
    ).encode()
    origins = {d.name: o for d, o in ecosystem.origins(package, pins).items()}
    assert origins["a"].license_expression == "MIT OR Apache-2.0"
    assert origins["a"].hashes == (("SHA-256", "1" * 64),)
    assert origins["b_c"].name == "B.C"
    assert origins["b_c"].purl == "pkg:pypi/b-c@2.0%2Blocal"
    assert origins["b_c"].license_names == ("BSD License",)
    assert origins["b_c"].hashes == ()
    assert dict(origins["b_c"].properties) == {"lambdapack:lock_hashes": f"{'2' * 64},{'3' * 64}"}


# -- Node.js ----------------------------------------------------------------------------------------


def _lock_integrity(root: Path) -> dict[tuple[str, str], str]:
    packages = json.loads((root / "fn" / "package-lock.json").read_text())["packages"]
    return {
        (key.rpartition("node_modules/")[2], entry["version"]): base64.b64decode(
            entry["integrity"].removeprefix("sha512-")
        ).hex()
        for key, entry in packages.items()
        if key and "integrity" in entry
    }


def test_node_sboms_are_schema_valid_and_byte_identical_across_directories(
    node_built: tuple[Path, Path],
) -> None:
    first, second = node_built
    for name in ("plain", "bundled"):
        _valid(first / "dist" / f"{name}.cdx.json")
        assert (first / "dist" / f"{name}.cdx.json").read_bytes() == (
            second / "dist" / f"{name}.cdx.json"
        ).read_bytes()


def test_node_function_lists_every_installed_package_with_its_lock_integrity(
    node_built: tuple[Path, Path],
) -> None:
    root = node_built[0]
    document = _sbom(root, "plain")
    names = _names(root / "dist" / "plain.zip")
    shipped = {
        m.group(1)
        for n in names
        if (m := re.search(r"(?:^|/)node_modules/((?:@[^/]+/)?[^/]+)/package\.json$", n))
    }
    components = _by_name(document)
    assert set(components) == shipped
    assert {"lpfix-util", "@lpfix/scoped", "lpfix-native", "lpfix-native-linux-x64-gnu"} <= shipped
    integrity = _lock_integrity(root)
    for name, component in components.items():
        assert component["hashes"] == [{"alg": "SHA-512", "content": integrity[(name, component["version"])]}]
        assert all(location.startswith(f"node_modules/{name}/") for location in _locations(component))
    assert components["@lpfix/scoped"]["purl"] == "pkg:npm/%40lpfix/scoped@1.0.0"
    assert components["lpfix-native-linux-x64-gnu"]["licenses"] == [{"expression": "MIT"}]
    owned = {location for c in components.values() for location in _locations(c)}
    assert set(names) - owned == {"index.js", "native.js", "package.json"}


def test_bundled_node_function_lists_what_esbuild_bundled_and_what_ships_installed(
    node_built: tuple[Path, Path],
) -> None:
    root = node_built[0]
    components = _by_name(_sbom(root, "bundled"))
    assert _locations(components["lpfix-util"]) == ["native.js"]  # bundled into the handler's file
    assert _locations(components["@lpfix/scoped"]) == ["native.js"]
    assert all(
        location.startswith("node_modules/lpfix-native/")
        for location in _locations(components["lpfix-native"])
    )
    integrity = _lock_integrity(root)
    assert components["lpfix-util"]["hashes"] == [
        {"alg": "SHA-512", "content": integrity[("lpfix-util", "1.0.0")]}
    ]


def test_npm_purls_encode_the_scope() -> None:
    assert purl("@aws-sdk/client-s3", "3.0.0") == "pkg:npm/%40aws-sdk/client-s3@3.0.0"
    assert purl("uuid", "9.0.1") == "pkg:npm/uuid@9.0.1"


# -- real packages from PyPI and npm ----------------------------------------------------------------


@pytest.mark.network
@pytest.mark.slow
def test_the_example_projects_sboms_name_real_wheels_and_tarballs(
    tmp_path: Path, registry_env: dict[str, str]
) -> None:
    """examples/transactions (its api function locked afresh by `lambdapack lock`, which names
    one file per pin) and examples/events built with --sbom: every SBOM is schema-valid; each
    of api's components carries the one hash and file name its lock pins, and orjson its
    License-Expression; worker's hand-hashed requirements list several wheels per pin, so its
    components claim none and list the candidates; each npm component's hash is its
    package-lock.json integrity."""
    repo = Path(__file__).resolve().parent.parent
    transactions = shutil.copytree(repo / "examples" / "transactions", tmp_path / "transactions")
    events = shutil.copytree(
        repo / "examples" / "events",
        tmp_path / "events",
        ignore=shutil.ignore_patterns("dist", "node_modules"),
    )
    real_npm = {name: None for name in registry_env}  # the npm registry, not this module's loopback one
    # (the committed lock predates one-file-per-pin locks: write it afresh)
    (transactions / "functions" / "api" / "requirements.python3.12-arm64.lock.txt").unlink()
    locked = cli("lock", "api", cwd=transactions)
    assert locked.returncode == 0, locked.stderr
    for project in (transactions, events):
        shutil.rmtree(project / "dist", ignore_errors=True)
        built = cli("build", "--sbom", "--locked", cwd=project, env=real_npm)
        assert built.returncode == 0, built.stderr
        for document in sorted((project / "dist").glob("*.cdx.json")):
            _valid(document)

    def pins(lock: Path) -> dict[str, tuple[str, set[str], str]]:
        found = {}
        for line in lock.read_text().replace("\\\n", " ").splitlines():
            pin = re.match(
                r"^([A-Za-z0-9_.-]+)==(\S+)\s+((?:--hash=sha256:[0-9a-f]{64}\s*)+)(?:#\s*(\S+))?", line
            )
            if pin:
                name = re.sub(r"[-_.]+", "-", pin.group(1)).lower()
                found[name] = (
                    pin.group(2),
                    set(re.findall(r"sha256:([0-9a-f]{64})", line)),
                    pin.group(4) or "",
                )
        return found

    def components(document: Path) -> dict[str, dict[str, Any]]:
        # names as the wheels' METADATA spells them (pydantic_core); purls normalized (PEP 503)
        sbom = json.loads(document.read_text())
        return {re.sub(r"[-_.]+", "-", c["name"]).lower(): c for c in sbom["components"]}

    def properties(component: dict[str, Any]) -> dict[str, str]:
        return {p["name"]: p["value"] for p in component.get("properties", [])}

    api_pins = pins(transactions / "functions" / "api" / "requirements.python3.12-arm64.lock.txt")
    api = components(transactions / "dist" / "api.cdx.json")
    assert set(api) == set(api_pins) and "orjson" in api
    for name, (version, hashes, filename) in api_pins.items():
        component = api[name]
        assert component["version"] == version and component["purl"] == f"pkg:pypi/{name}@{version}"
        assert [h["content"] for h in component["hashes"]] == sorted(hashes) and len(hashes) == 1
        assert properties(component)["lambdapack:locked_file"] == filename
    with zipfile.ZipFile(transactions / "dist" / "api.zip") as zf:
        (metadata,) = [n for n in zf.namelist() if re.fullmatch(r"orjson-[^/]+\.dist-info/METADATA", n)]
        expression = re.search(r"^License-Expression: (.+)$", zf.read(metadata).decode(), re.M)
    assert expression is not None  # orjson declares one (PEP 639)
    assert api["orjson"]["licenses"] == [{"expression": expression.group(1).strip()}]

    worker_pins = pins(transactions / "functions" / "worker" / "requirements.txt")
    worker = components(transactions / "dist" / "worker.cdx.json")
    assert set(worker) == set(worker_pins)
    for name, (version, hashes, _file) in worker_pins.items():
        assert worker[name]["version"] == version
        if len(hashes) > 1:  # which wheel uv took is not recorded: no claim, the candidates
            assert "hashes" not in worker[name]
            assert set(properties(worker[name])["lambdapack:lock_hashes"].split(",")) == hashes

    status = json.loads((events / "dist" / "status.cdx.json").read_text())
    package_lock = json.loads((events / "functions" / "status" / "package-lock.json").read_text())["packages"]
    integrity = {
        (entry.get("name") or path.rsplit("node_modules/", 1)[-1], entry["version"]): entry["integrity"]
        for path, entry in package_lock.items()
        if path and "integrity" in entry
    }
    assert status["components"]
    for component in status["components"]:
        algorithm, _, encoded = integrity[(component["name"], component["version"])].partition("-")
        (digest,) = [h["content"] for h in component["hashes"]]
        assert algorithm == "sha512" and digest == base64.b64decode(encoded).hex()
