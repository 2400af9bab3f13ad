"""The Node.js handler check: where Lambda looks for the file, how it loads
it (CommonJS or ES module), whether it parses, and whether it exports the
handler."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from lambdapack.contents import Package, PackageFile
from lambdapack.node.handler import findings
from lambdapack.verify.model import Finding

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="no node on PATH")


class MemoryPackage(Package):
    def __init__(self, files: dict[str, str]) -> None:
        self.label = "memory"
        self.zipped_size = None
        self._data = {name: textwrap.dedent(text).encode() for name, text in files.items()}
        self.files = tuple(PackageFile(name=n, size=len(d)) for n, d in sorted(self._data.items()))

    def read(self, name: str) -> bytes:
        return self._data[name]


def check(files: dict[str, str], handler: str = "index.handler", node: str | None = None) -> list[Finding]:
    return list(findings(MemoryPackage(files), handler, Path(node) if node else None))


def only(files: dict[str, str], handler: str = "index.handler", node: str | None = None) -> Finding:
    (finding,) = check(files, handler, node)
    assert finding.check == "handler"
    return finding


# -- found -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "exports.handler = async (event) => ({ statusCode: 200 });",
        "module.exports.handler = async function (event, context) { return 1; };",
        "const handler = async () => 1;\nmodule.exports = { handler };",
        "module.exports = {\n  other: 1,\n  handler: async (event) => event,\n};",
        "module.exports = { async handler(event) { return event; } };",
        'exports["handler"] = () => 1;',
        '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\n'
        "exports.handler = void 0;\nconst handler = async () => 1;\nexports.handler = handler;",
        'Object.defineProperty(exports, "handler", { enumerable: true, get: () => impl.handler });',
        "const app = {};\napp.handler = async () => 1;\nmodule.exports = app;",
        "const app = { handler: async () => 1 };\nmodule.exports = app;",
        "const api = module.exports;\napi.handler = async () => 1;",
        "module.exports = class Api {\n  static async handler(event) { return event; }\n};",
        # callback style is fine
        "exports.handler = function (event, context, callback) {\n  callback(null, 'ok');\n};",
    ],
)
def test_commonjs_exports_found(source: str) -> None:
    assert check({"index.js": source}) == []


@pytest.mark.parametrize(
    "source",
    [
        "export const handler = async (event) => event;",
        "export async function handler(event) { return event; }",
        "export function handler(event, context, callback) { callback(null, 1); }",
        "const main = async () => 1;\nexport { main as handler };",
        "const handler = async () => 1;\nexport { handler };",
        "export { handler } from './impl.mjs';",
        "export const a = 1, handler = async () => a;",
        "const x = 1;\nexport{x as other,x as handler}",
    ],
)
def test_esm_exports_found(source: str) -> None:
    assert check({"index.mjs": source}) == []


def test_js_with_type_module_is_esm() -> None:
    assert (
        check({"index.js": "export const handler = async () => 1;", "package.json": '{"type": "module"}'})
        == []
    )


def test_nearest_package_json_decides() -> None:
    files = {
        "package.json": '{"name": "root"}',
        "src/package.json": '{"type": "module"}',
        "src/app.js": "export const handler = async () => 1;",
    }
    assert check(files, "src/app.handler") == []


def test_package_json_in_node_modules_does_not_count() -> None:
    files = {
        "node_modules/package.json": '{"type": "module"}',
        "node_modules/fn/index.js": "export const handler = 1;",
    }
    finding = only(files, "node_modules/fn/index.handler")
    assert finding.severity == "error"
    assert "loads it as CommonJS" in finding.message


def test_cjs_file() -> None:
    assert check({"index.cjs": "module.exports = { handler: async () => 1 };"}) == []


def test_handler_in_subdirectory_with_dash() -> None:
    assert check({"src/my-fn.js": "exports.handler = async () => 1;"}, "src/my-fn.handler") == []
    assert check({"src/app.js": "exports.main = async () => 1;"}, "./src/app.main") == []


def test_js_comes_before_mjs() -> None:
    files = {"index.js": "exports.other = 1;", "index.mjs": "export const handler = 1;"}
    finding = only(files)
    assert finding.path == "index.js"
    assert finding.severity == "error"


def test_nested_handler_path_checks_the_export() -> None:
    assert check({"index.js": "exports.api = { handler() {} };"}, "index.api.handler") == []


def test_look_alikes_in_comments_strings_and_regexes_do_not_count() -> None:
    source = """\
        // exports.handler = 1
        /* module.exports = { handler } */
        const s = "exports.handler = 1";
        const t = `exports.handler = ${"x"}`;
        const r = /exports.handler = 1/;
        exports.main = () => 1;
        """
    finding = only({"index.js": source})
    assert finding.severity == "error"
    assert "index.js exports no 'handler'" in finding.message
    assert "it exports main" in finding.message


# -- missing ---------------------------------------------------------------------------------------


def test_missing_file() -> None:
    finding = only({"app.js": "exports.handler = 1;"}, "src/index.handler")
    assert finding.severity == "error"
    assert finding.path == "src/index.js"
    assert "src/index.js, src/index.mjs, src/index.cjs" in finding.message
    assert "'handler'" in finding.fix


def test_malformed_handler() -> None:
    finding = only({"index.js": "exports.handler = 1;"}, "index")
    assert finding.severity == "error"
    assert "FILE.EXPORT" in finding.message


def test_missing_export_commonjs() -> None:
    finding = only({"index.js": "exports.main = async () => 1;"})
    assert finding.severity == "error"
    assert finding.path == "index.js"
    assert finding.message.startswith("handler 'index.handler': index.js exports no 'handler' (CommonJS")
    assert "exports.handler = " in finding.fix


def test_missing_export_esm() -> None:
    finding = only({"index.mjs": "export const main = async () => 1;"})
    assert finding.severity == "error"
    assert finding.message.startswith("handler 'index.handler': index.mjs exports no 'handler' (an ES module")
    assert "export const handler" in finding.fix


def test_no_exports_at_all() -> None:
    finding = only({"index.js": "console.log('hi');"})
    assert finding.severity == "error"
    assert "it has no exports" in finding.message


def test_only_default_export() -> None:
    finding = only({"index.mjs": "export default async (event) => event;"})
    assert finding.severity == "error"
    assert "only a default export" in finding.message
    assert "'index.default'" in finding.fix
    assert check({"index.mjs": "export default async (event) => event;"}, "index.default") == []


def test_module_exports_is_the_function_itself() -> None:
    finding = only({"index.js": "async function handler(event) { return 1; }\nmodule.exports = handler;"})
    assert finding.severity == "error"
    assert "module.exports in index.js is the function 'handler' itself" in finding.message
    assert "module.exports = { handler }" in finding.fix
    assert only({"index.js": "module.exports = async (event) => 1;"}).severity == "error"


# -- module type mistakes --------------------------------------------------------------------------


def test_esm_syntax_in_commonjs_js() -> None:
    finding = only({"index.js": "export const handler = async () => 1;"})
    assert finding.severity == "error"
    assert "uses ES module syntax (`export const`)" in finding.message
    assert "loads it as CommonJS" in finding.message
    assert "index.mjs" in finding.fix
    assert '"type": "module"' in finding.fix


def test_esm_syntax_in_js_under_package_json_without_type() -> None:
    files = {"package.json": '{"name": "fn"}', "index.js": "import x from 'y';\nexports.handler = x;"}
    finding = only(files)
    assert finding.severity == "error"
    assert 'package.json has no "type": "module"' in finding.message
    assert 'set "type": "module" in package.json' in finding.fix


@needs_node
def test_esm_syntax_in_commonjs_with_node_is_one_clear_error() -> None:
    finding = only({"index.cjs": "export const handler = async () => 1;"}, node=NODE)
    assert finding.severity == "error"
    assert "uses ES module syntax" in finding.message


def test_esm_syntax_in_cjs() -> None:
    finding = only({"index.cjs": "export const handler = async () => 1;"})
    assert finding.severity == "error"
    assert "(.cjs)" in finding.message
    assert "rename it to index.mjs" in finding.fix


def test_commonjs_exports_in_mjs() -> None:
    finding = only({"index.mjs": "exports.handler = async () => 1;"})
    assert finding.severity == "error"
    assert "do not exist in an ES module" in finding.message
    assert "export const handler" in finding.fix


def test_commonjs_exports_in_type_module_js() -> None:
    files = {"package.json": '{"type": "module"}', "index.js": "module.exports = { handler: () => 1 };"}
    finding = only(files)
    assert finding.severity == "error"
    assert "do not exist in an ES module" in finding.message
    assert 'remove "type": "module" from package.json' in finding.fix


def test_invalid_package_json() -> None:
    finding = only({"package.json": "{not json", "index.js": "exports.handler = 1;"})
    assert finding.severity == "error"
    assert finding.path == "package.json"
    assert "not a valid package.json" in finding.message


# -- undecidable -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"index.js": "module.exports = require('./app');"}, "module.exports = require(…)"),
        ({"index.js": "module.exports = makeHandlers();"}, "module.exports = makeHandlers(…)"),
        ({"index.js": "Object.assign(module.exports, impl);"}, "Object.assign"),
        ({"index.js": "for (const k of names) exports[k] = impl[k];"}, "computed keys"),
        ({"index.js": "module.exports = { ...impl };"}, "spread"),
        ({"index.mjs": "export * from './impl.mjs';"}, "export * from"),
        (
            {"index.js": '"use strict";\n__exportStar(require("./impl"), exports);'},
            "re-export",
        ),
    ],
)
def test_undecidable_is_a_warning(files: dict[str, str], reason: str) -> None:
    finding = only(files)
    assert finding.severity == "warning"
    assert "cannot tell statically whether" in finding.message
    assert reason in finding.message


def test_esbuild_bundle_export_names() -> None:
    source = """\
        var src_exports = {};
        __export(src_exports, {
          handler: () => handler
        });
        module.exports = __toCommonJS(src_exports);
        async function handler(event) { return event; }
        """
    assert check({"index.js": source}) == []


# -- syntax (node --check) -------------------------------------------------------------------------


@needs_node
def test_syntax_error_commonjs() -> None:
    finding = only({"index.js": "exports.handler = async () => {\n  const x = ;\n};"}, node=NODE)
    assert finding.severity == "error"
    assert "index.js does not parse as CommonJS" in finding.message
    assert "SyntaxError: Unexpected token ';'" in finding.message
    assert "(line 2)" in finding.message
    assert any("const x = ;" in line for line in finding.details)


@needs_node
def test_syntax_error_esm() -> None:
    finding = only({"index.mjs": "export const handler = async () => {\n\n  await (;\n};"}, node=NODE)
    assert finding.severity == "error"
    assert "does not parse as an ES module (.mjs)" in finding.message
    assert "(line 3)" in finding.message


@needs_node
def test_valid_files_pass_node_check() -> None:
    assert check({"index.js": "exports.handler = async () => 1;"}, node=NODE) == []
    files = {"package.json": '{"type": "module"}', "index.js": "export const handler = async () => await 1;"}
    assert check(files, node=NODE) == []
    # top-level await is valid in an ES module
    assert (
        check(
            {"index.mjs": "const x = await Promise.resolve(1);\nexport const handler = () => x;"}, node=NODE
        )
        == []
    )


@needs_node
def test_top_level_await_in_commonjs() -> None:
    finding = only({"index.js": "const x = await Promise.resolve(1);\nexports.handler = () => x;"}, node=NODE)
    assert finding.severity == "error"
    assert "does not parse as CommonJS" in finding.message


def test_without_node_no_syntax_check() -> None:
    finding = only({"index.js": "exports.main = () => { const x = ; };"})
    assert "exports no 'handler'" in finding.message  # the export check still runs


def test_node_that_cannot_run(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-node"
    assert check({"index.js": "exports.handler = () => { const x = ; };"}, node=str(missing)) == []
    broken = tmp_path / "node"
    broken.write_text("#!/bin/sh\necho 'node: broken' >&2\nexit 3\n")
    broken.chmod(0o755)
    finding = only({"index.js": "exports.main = 1;"}, node=str(broken))
    assert "exports no 'handler'" in finding.message
