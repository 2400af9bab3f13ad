"""The Node.js handler harness (tests/noderun.py) on hand-made zips: CommonJS,
ESM (.mjs and "type": "module" .js) and callback-style handlers, on the host's
node and on arm64 Node.js under qemu-user; the task directory is read-only."""

from __future__ import annotations

import textwrap
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from noderun import run_handler

ARCHITECTURES = [
    "x86_64",
    # prepare-arm64-node.sh fetches Debian packages; Node.js under qemu starts in seconds
    pytest.param("arm64", marks=[pytest.mark.network, pytest.mark.slow]),
]
#: process.arch as the handler sees it
NODE_ARCH = {"x86_64": "x64", "arm64": "arm64"}


def _zip(path: Path, files: Mapping[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, textwrap.dedent(content))
    return path


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_commonjs_async_handler(tmp_path: Path, architecture: str) -> None:
    function = _zip(
        tmp_path / "cjs.zip",
        {
            "index.js": """\
                const { twice } = require("./lib/util");
                exports.handler = async (event, context) => {
                  console.log("log lines do not disturb the result");
                  return {
                    doubled: twice(event.n),
                    arch: process.arch,
                    greeting: process.env.GREETING,
                    requestId: typeof context.awsRequestId,
                    cwd: process.cwd() === process.env.LAMBDA_TASK_ROOT,
                  };
                };
            """,
            "lib/util.js": "exports.twice = (n) => 2 * n;\n",
        },
    )
    result = run_handler(
        function,
        "index.handler",
        {"n": 21},
        architecture=architecture,
        work=tmp_path / "work",
        env={"GREETING": "hello"},
    )
    assert result == {
        "doubled": 42,
        "arch": NODE_ARCH[architecture],
        "greeting": "hello",
        "requestId": "string",
        "cwd": True,
    }


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_mjs_handler_with_top_level_await_and_a_commonjs_dependency(
    tmp_path: Path, architecture: str
) -> None:
    function = _zip(
        tmp_path / "esm.zip",
        {
            "src/app.mjs": """\
                import { name } from "dep";
                const prefix = await Promise.resolve("esm");
                export const handler = async (event) => ({
                  value: `${prefix}:${name}:${event.x}`,
                  arch: process.arch,
                });
            """,
            "src/node_modules/dep/package.json": '{"name": "dep", "main": "index.js"}\n',
            "src/node_modules/dep/index.js": 'exports.name = "dep";\n',
        },
    )
    result = run_handler(
        function, "src/app.handler", {"x": 1}, architecture=architecture, work=tmp_path / "work"
    )
    assert result == {"value": "esm:dep:1", "arch": NODE_ARCH[architecture]}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_js_below_a_type_module_package_json_is_esm(tmp_path: Path, architecture: str) -> None:
    function = _zip(
        tmp_path / "module.zip",
        {
            "package.json": '{"name": "fn", "type": "module"}\n',
            "handlers/api.js": """\
                export async function main(event) {
                  return { esm: typeof require === "undefined", arch: process.arch, echo: event };
                }
            """,
        },
    )
    result = run_handler(
        function, "handlers/api.main", ["a", 1], architecture=architecture, work=tmp_path / "work"
    )
    assert result == {"esm": True, "arch": NODE_ARCH[architecture], "echo": ["a", 1]}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_callback_handler(tmp_path: Path, architecture: str) -> None:
    function = _zip(
        tmp_path / "callback.zip",
        {
            "handler.cjs": """\
                exports.handler = function (event, context, callback) {
                  setTimeout(() => callback(null, { arch: process.arch, sum: event.a + event.b }), 10);
                };
            """,
        },
    )
    result = run_handler(
        function, "handler.handler", {"a": 1, "b": 2}, architecture=architecture, work=tmp_path / "work"
    )
    assert result == {"arch": NODE_ARCH[architecture], "sum": 3}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_task_directory_is_read_only(tmp_path: Path, architecture: str) -> None:
    function = _zip(
        tmp_path / "writer.zip",
        {
            "index.js": """\
                const fs = require("node:fs");
                const os = require("node:os");
                const path = require("node:path");
                exports.handler = async () => {
                  fs.writeFileSync(path.join(os.tmpdir(), "scratch.txt"), "fine");  // /tmp is writable
                  fs.writeFileSync(path.join(__dirname, "state.json"), "{}");
                  return "wrote";
                };
            """,
        },
    )
    with pytest.raises(AssertionError, match="EACCES"):
        run_handler(function, "index.handler", {}, architecture=architecture, work=tmp_path / "work")
    assert not (tmp_path / "work" / "task" / "state.json").exists()


def test_lambda_resolution_order_and_results(tmp_path: Path) -> None:
    """file.js before file.mjs before file.cjs; nested export paths; undefined and no answer are null;
    rerunning in the same work directory replaces the read-only task directory."""
    work = tmp_path / "work"
    files = {
        "app.js": "exports.handler = async () => 'js';\n",
        "app.mjs": "export const handler = async () => 'mjs';\n",
        "app.cjs": "exports.handler = async () => 'cjs';\n",
    }
    assert (
        run_handler(_zip(tmp_path / "1.zip", files), "app.handler", {}, architecture="x86_64", work=work)
        == "js"
    )
    del files["app.js"]
    assert (
        run_handler(_zip(tmp_path / "2.zip", files), "app.handler", {}, architecture="x86_64", work=work)
        == "mjs"
    )
    del files["app.mjs"]
    assert (
        run_handler(_zip(tmp_path / "3.zip", files), "app.handler", {}, architecture="x86_64", work=work)
        == "cjs"
    )
    other = _zip(
        tmp_path / "4.zip",
        {
            "app.js": "exports.nested = { inner: async () => undefined };\n",
            # neither a promise nor a callback
            "plain.js": "exports.handler = () => { setTimeout(() => {}, 10); };\n",
        },
    )
    assert run_handler(other, "app.nested.inner", {}, architecture="x86_64", work=work) is None
    assert run_handler(other, "plain.handler", {}, architecture="x86_64", work=work) is None


def test_failures_raise_assertion_error_with_stderr(tmp_path: Path) -> None:
    function = _zip(
        tmp_path / "broken.zip",
        {
            "index.js": "exports.handler = async () => { throw new Error('boom from handler'); };\n",
            "cb.js": "exports.handler = (event, context, cb) => cb(new Error('callback error'));\n",
        },
    )
    work = tmp_path / "work"
    with pytest.raises(AssertionError, match="boom from handler"):
        run_handler(function, "index.handler", {}, architecture="x86_64", work=work)
    with pytest.raises(AssertionError, match="callback error"):
        run_handler(function, "cb.handler", {}, architecture="x86_64", work=work)
    with pytest.raises(AssertionError, match="Cannot find module 'missing'"):
        run_handler(function, "missing.handler", {}, architecture="x86_64", work=work)
    with pytest.raises(AssertionError, match=r"index\.nothing is undefined"):
        run_handler(function, "index.nothing", {}, architecture="x86_64", work=work)
