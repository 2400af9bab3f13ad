"""Bundled Node.js functions (``bundle = true``) from real npm packages, built
on this x86_64 host for both Lambda architectures and run on each (arm64
under qemu, as tests/test_node_targets.py does): a TypeScript function with
uuid and the AWS SDK's DynamoDB document client (left to the runtime), an ES
module function, and a function that ships sharp installed for the target in
``node_modules/`` beside its bundle. The offline tests of bundling are in
test_offline_bundle.py."""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import cli, write_tree
from noderun import run_handler

pytestmark = [pytest.mark.network, pytest.mark.slow]

ARCHITECTURES = ("arm64", "x86_64")
CPU = {"arm64": "arm64", "x86_64": "x64"}
UUID = "9.0.1"
SHARP = "0.33.5"
#: The AWS SDK the runtime provides (bundles leave @aws-sdk/* to it); a version that
#: runs on the Node.js 18 the arm64 runs use.
AWS_SDK = "3.705.0"

ORDERS_TS = """\
import { v4 as uuidv4, validate } from "uuid";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";

interface OrderEvent {
  item: string;
  quantity: number;
}

const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1" }));

export const handler = async (event: OrderEvent) => {
  const id: string = uuidv4();
  const put = new PutCommand({ TableName: "orders", Item: { id, ...event } });
  return {
    valid: validate(id),
    table: put.input.TableName,
    item: put.input.Item?.item,
    marshalled: typeof documents.send,
  };
};
"""

EVENTS_MTS = """\
import { v5 as uuidv5 } from "uuid";

const NAMESPACE = "6ba7b811-9dad-11d1-80b4-00c04fd430c8";

export const handler = async (event: { name: string }) => ({ id: uuidv5(event.name, NAMESPACE) });
"""

THUMBS_MJS = """\
import sharp from "sharp";
import { validate, v4 as uuidv4 } from "uuid";

export const handler = async (event) => {
  const png = await sharp({
    create: { width: 40, height: 30, channels: 3, background: { r: 255, g: 0, b: 0 } },
  })
    .png()
    .toBuffer();
  const { info } = await sharp(png)
    .resize(event.width, event.height)
    .webp()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, format: info.format, id: validate(uuidv4()) };
};
"""


def _package_json(name: str, dependencies: dict[str, str], **fields: object) -> str:
    manifest = {"name": name, "version": "1.0.0", "private": True, "dependencies": dependencies, **fields}
    return json.dumps(manifest, indent=2) + "\n"


def _function(name: str, source: str, architecture: str, extra: str) -> str:
    return (
        f'[functions.{name}]\nsource = "{source}"\nhandler = "index.handler"\n'
        f'runtime = "nodejs20.x"\narchitecture = "{architecture}"\nbundle = true\n{extra}\n'
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project, six bundled functions (orders, events and thumbs, each for
    arm64 and x86_64), locked and built once for the module."""
    root = tmp_path_factory.mktemp("bundles") / "project"
    extras = {
        "orders": 'entry = "src/index.ts"\nsourcemap = true\n',
        "events": 'entry = "src/index.mts"\n',
        "thumbs": 'node_modules = ["sharp"]\n',
    }
    config = 'output = "dist"\n\n' + "\n".join(
        _function(f"{name}-{arch}", name, arch, extra)
        for name, extra in extras.items()
        for arch in ARCHITECTURES
    )
    sdk = {"@aws-sdk/client-dynamodb": AWS_SDK, "@aws-sdk/lib-dynamodb": AWS_SDK}
    write_tree(
        root,
        {
            "lambdapack.toml": config,
            "orders/package.json": _package_json("orders", {"uuid": UUID, **sdk}),
            "orders/src/index.ts": ORDERS_TS,
            "orders/tsconfig.json": '{"compilerOptions": {"strict": true, "target": "es2022"}}\n',
            "events/package.json": _package_json("events", {"uuid": UUID}, type="module"),
            "events/src/index.mts": EVENTS_MTS,
            "thumbs/package.json": _package_json("thumbs", {"sharp": SHARP, "uuid": UUID}, type="module"),
            "thumbs/index.mjs": THUMBS_MJS,
        },
    )
    # orders again, with its own copy of the AWS SDK bundled in, minified, and the sources in its map
    config += _function(
        "orders-sdk",
        "orders",
        "x86_64",
        'entry = "src/index.ts"\nbundle_aws_sdk = true\nminify = true\nsourcemap = true\n'
        "sources_content = true\n",
    )
    (root / "lambdapack.toml").write_text(config)
    locked = cli("lock", cwd=root)
    assert locked.returncode == 0, locked.stderr
    result = cli("build", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def runtime_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The AWS SDK as the runtime provides it (``/var/runtime/node_modules``):
    found through NODE_PATH, as Lambda's runtime sets it."""
    prefix = tmp_path_factory.mktemp("var-runtime")
    command = [
        "npm",
        "install",
        "--prefix",
        str(prefix),
        "--no-save",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        f"@aws-sdk/client-dynamodb@{AWS_SDK}",
        f"@aws-sdk/lib-dynamodb@{AWS_SDK}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    return prefix / "node_modules"


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


def _packages(names: list[str]) -> set[str]:
    found = set()
    for name in names:
        match = re.search(r"(?:^|/)node_modules/((?:@[^/]+/)?[^/]+)/package\.json$", name)
        if match:
            found.add(match.group(1))
    return found


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_typescript_function_bundles_uuid_and_leaves_the_aws_sdk_to_the_runtime(
    built: Path, runtime_sdk: Path, architecture: str, tmp_path: Path
) -> None:
    zip_path = built / "dist" / f"orders-{architecture}.zip"
    assert sorted(_names(zip_path)) == ["index.js", "index.js.map"]
    with zipfile.ZipFile(zip_path) as zf:
        bundle = zf.read("index.js").decode()
        source_map = json.loads(zf.read("index.js.map"))
    assert 'require("@aws-sdk/lib-dynamodb")' in bundle and 'require("@aws-sdk/client-dynamodb")' in bundle
    assert "node_modules/uuid/" in " ".join(source_map["sources"])  # uuid is in the bundle
    assert not any("@aws-sdk" in source for source in source_map["sources"])
    assert "orders/src/index.ts" in source_map["sources"]
    event = {"item": "book", "quantity": 2}
    result = run_handler(
        zip_path,
        "index.handler",
        event,
        architecture=architecture,
        work=tmp_path,
        env={"NODE_PATH": str(runtime_sdk)},
    )
    assert result == {"valid": True, "table": "orders", "item": "book", "marshalled": "function"}


def test_bundle_aws_sdk_bundles_its_own_sdk_with_relative_source_map_paths(
    built: Path, tmp_path: Path
) -> None:
    zip_path = built / "dist" / "orders-sdk.zip"
    assert sorted(_names(zip_path)) == ["index.js", "index.js.map"]
    with zipfile.ZipFile(zip_path) as zf:
        bundle = zf.read("index.js").decode()
        source_map = json.loads(zf.read("index.js.map"))
    assert 'require("@aws-sdk/' not in bundle  # the SDK is inside
    assert len(bundle) / len(bundle.splitlines()) > 1000  # minified: long lines
    sources = source_map["sources"]
    assert any("node_modules/@aws-sdk/lib-dynamodb/" in s for s in sources)
    assert any("node_modules/@smithy/" in s for s in sources)
    assert len(source_map["sourcesContent"]) == len(sources)
    for source in sources:  # relative to the map, inside the project: no machine's path
        assert not source.startswith("/") and "://" not in source and not source.startswith("../"), source
    for text in (bundle, json.dumps(source_map)):
        assert str(built) not in text and "/tmp/" not in text and "/root/" not in text
    # no NODE_PATH: nothing comes from the runtime
    result = run_handler(
        zip_path, "index.handler", {"item": "pen", "quantity": 1}, architecture="x86_64", work=tmp_path
    )
    assert result == {"valid": True, "table": "orders", "item": "pen", "marshalled": "function"}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_es_module_function_runs_on_the_target(built: Path, architecture: str, tmp_path: Path) -> None:
    zip_path = built / "dist" / f"events-{architecture}.zip"
    assert _names(zip_path) == ["index.mjs"]
    result = run_handler(
        zip_path, "index.handler", {"name": "lambdapack"}, architecture=architecture, work=tmp_path
    )
    assert result == {"id": "20c4c3ef-6a02-5ead-900d-80abe6e1d29a"}  # uuid v5 of the name: the same anywhere


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_sharp_ships_installed_for_the_target_beside_the_bundle(
    built: Path, architecture: str, tmp_path: Path
) -> None:
    zip_path = built / "dist" / f"thumbs-{architecture}.zip"
    names = _names(zip_path)
    cpu, other = CPU[architecture], CPU["x86_64" if architecture == "arm64" else "arm64"]
    packages = _packages(names)
    assert {"sharp", f"@img/sharp-linux-{cpu}", f"@img/sharp-libvips-linux-{cpu}"} <= packages
    assert "uuid" not in packages  # bundled
    assert not [p for p in packages if other in p or "darwin" in p or "musl" in p or "wasm" in p]
    own = [n for n in names if not n.startswith("node_modules/")]
    assert own == ["index.mjs"]
    assert f"node_modules/@img/sharp-linux-{cpu}/lib/sharp-linux-{cpu}.node" in names
    checked = cli("check", str(zip_path), cwd=built)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = run_handler(
        zip_path, "index.handler", {"width": 10, "height": 8}, architecture=architecture, work=tmp_path
    )
    assert result == {"width": 10, "height": 8, "format": "webp", "id": True}


def test_a_native_package_bundled_instead_of_installed_is_an_error_naming_the_key(built: Path) -> None:
    config = (built / "lambdapack.toml").read_text()
    broken = config.replace('node_modules = ["sharp"]\n', "")
    (built / "lambdapack.toml").write_text(broken)
    try:
        result = cli("build", "thumbs-x86_64", cwd=built)
    finally:
        (built / "lambdapack.toml").write_text(config)
    assert result.returncode == 3, result.stderr
    assert "sharp has a native addon" in result.stderr
    assert 'node_modules = ["sharp"]' in result.stderr and "[functions.thumbs-x86_64]" in result.stderr
