"""The handler check for Node.js: the file exists where Lambda looks, parses
(``node --check``, when a node is at hand) as the module type Lambda loads it
as, and exports the function (found by reading the source, never by running it).

Lambda's runtime splits a handler ``dir/file.rest`` at the first "." of its
last path component: it loads ``dir/file`` as ``file.js``, ``file.mjs`` or
``file.cjs`` (in that order) and looks ``rest`` up on the module's exports, a
dotted ``rest`` being a nested property (``index.api.handler``). Only the
first property, the export itself, is checked here.
"""

from __future__ import annotations

import json
import posixpath
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambdapack import processes
from lambdapack.contents import Package, PackageFile
from lambdapack.verify.model import Finding

#: The files Lambda tries for a handler's module, in its order.
EXTENSIONS = (".js", ".mjs", ".cjs")
#: How long ``node --check`` may take on one file.
SYNTAX_TIMEOUT = 30.0

_IDENT = r"[A-Za-z_$][\w$]*"
_IDENT_RE = re.compile(_IDENT)
_LIT = "?"  # what a string literal that is not identifier-like becomes after _strip


def findings(package: Package, handler: str, node: Path | None) -> Iterator[Finding]:
    """Whether ``handler`` (FILE.EXPORT) is a file Lambda finds, loads and
    takes the export from; ``node`` (an executable) enables the syntax check."""
    split = _split(handler)
    if split is None:
        yield Finding(
            severity="error",
            check="handler",
            message=f"handler {handler!r} is not FILE.EXPORT (a path relative to the zip root without "
            "the extension, a '.', the exported function's name)",
            fix="set 'handler' like 'index.handler' or 'src/app.handler'",
        )
        return
    base, name = split
    files = {f.name: f for f in package.files}
    path = next((base + ext for ext in EXTENSIONS if base + ext in files), None)
    if path is None:
        yield Finding(
            severity="error",
            check="handler",
            path=f"{base}.js",
            message=f"handler {handler!r}: none of {', '.join(base + ext for ext in EXTENSIONS)} "
            "is in the package",
            fix=f"set 'handler' to FILE.EXPORT with FILE relative to the zip root and without its "
            f"extension (src/app.{name} for src/app.js), or fix 'source'",
        )
        return
    data = package.read(path)
    if not data and files[path].size:
        return  # unreadable (a corrupt zip member): the archive checks report it
    module = _module_type(package, path, files)
    if isinstance(module, Finding):
        yield module
        return
    code = _strip(data.decode("utf-8", errors="replace").removeprefix("\ufeff"))
    esm_syntax = _esm_syntax(code)
    if esm_syntax and not module.esm:
        yield _esm_in_commonjs(handler, path, name, module, esm_syntax)
        return
    if node is not None:
        error = _syntax_error(node, data, path, module.esm)
        if error is not None:
            yield _syntax_finding(handler, path, name, module, error)
            return
    yield from _export_findings(code, handler, path, name, module)


# -- where Lambda looks, and how it loads it ---------------------------------------------------------


def _split(handler: str) -> tuple[str, str] | None:
    """The module's path without extension and the export's name, as Lambda's
    runtime splits them (None: malformed)."""
    root, _, last = handler.rpartition("/")
    module, dot, rest = last.partition(".")
    name = rest.split(".")[0]
    if not (module and dot and name) or ".." in handler or handler.startswith("/"):
        return None
    root = posixpath.normpath(root) if root else ""
    base = f"{root}/{module}" if root not in ("", ".") else module
    return base, name


@dataclass(frozen=True, kw_only=True, slots=True)
class _ModuleType:
    esm: bool
    why: str  # what decides it, for messages: ".mjs", '"type": "module" in package.json' …
    package_json: str | None = None  # the nearest package.json (for .js)

    @property
    def kind(self) -> str:
        return "an ES module" if self.esm else "CommonJS"


def _module_type(package: Package, path: str, files: Mapping[str, PackageFile]) -> _ModuleType | Finding:
    """How Node.js loads ``path``: .mjs as ESM, .cjs as CommonJS, .js as the
    nearest package.json's "type" says (CommonJS without one)."""
    if path.endswith(".mjs"):
        return _ModuleType(esm=True, why=".mjs")
    if path.endswith(".cjs"):
        return _ModuleType(esm=False, why=".cjs")
    manifest = _nearest_package_json(path, files)
    if manifest is None:
        return _ModuleType(esm=False, why="a .js file with no package.json above it")
    try:
        declared = json.loads(package.read(manifest).decode("utf-8", errors="replace"))
        problem = None if isinstance(declared, dict) else "not a JSON object"
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:
        return Finding(
            severity="error",
            check="handler",
            path=manifest,
            message=f"{manifest} is not a valid package.json ({problem}); Node.js refuses to load {path} "
            "below it",
            fix=f"fix {manifest} (or remove it)",
        )
    if declared.get("type") == "module":
        return _ModuleType(esm=True, why=f'"type": "module" in {manifest}', package_json=manifest)
    return _ModuleType(
        esm=False, why=f'a .js file; {manifest} has no "type": "module"', package_json=manifest
    )


def _nearest_package_json(path: str, files: Mapping[str, PackageFile]) -> str | None:
    """The package.json Node.js reads for ``path``: the nearest one above it,
    never looking past a node_modules directory."""
    directory = posixpath.dirname(path)
    while True:
        if posixpath.basename(directory) == "node_modules":
            return None
        candidate = f"{directory}/package.json" if directory else "package.json"
        if candidate in files:
            return candidate
        if not directory:
            return None
        directory = posixpath.dirname(directory)


# -- reading JavaScript without running it -----------------------------------------------------------

#: Words after which a "/" starts a regular expression, not a division.
_REGEX_AFTER_WORDS = frozenset(
    {
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    }
)
_REGEX_AFTER_PUNCT = frozenset("(,=:[!&|?{};+-*%<>~^")


def _strip(source: str) -> str:
    """``source`` with comments blanked, template literals and regular
    expressions replaced by placeholders, and string literals kept only when
    they read as an identifier (``"handler"``; others become ``"?"``): what
    the export patterns below read, free of look-alikes inside text."""
    out: list[str] = []
    i, n = 0, len(source)
    if source.startswith("#!"):
        i = source.find("\n") if "\n" in source else n
    last = ""  # the last significant token: a word or a punctuation character
    braces = 0
    templates: list[int] = []  # brace depth at each open template's `${`
    while i < n:
        c = source[i]
        if c == "/" and source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "/" and source.startswith("/*", i):
            end = source.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("\n" if "\n" in source[i:end] else " ")
            i = end
            continue
        if c in "'\"":
            j = i + 1
            while j < n and source[j] != c and source[j] != "\n":
                j += 2 if source[j] == "\\" else 1
            text = source[i + 1 : min(j, n)]
            out.append(f'"{text}"' if _IDENT_RE.fullmatch(text) else f'"{_LIT}"')
            i, last = j + 1, '"'
            continue
        if c == "`" or (c == "}" and templates and templates[-1] == braces):
            if c == "}":
                templates.pop()
                braces -= 1
            else:
                out.append(f' "{_LIT}" ')
            i = _template_end(source, i + 1, n)
            if source.startswith("${", i):
                braces += 1
                templates.append(braces)
                i += 2
                last = "("
            else:
                i, last = i + 1, '"'
            continue
        if c == "/" and (not last or last in _REGEX_AFTER_PUNCT or last in _REGEX_AFTER_WORDS):
            regex_end = _regex_end(source, i + 1, n)
            if regex_end is not None:
                out.append(" null ")
                i, last = regex_end, "null"
                continue
        if c.isalnum() or c in "_$":
            j = i + 1
            while j < n and (source[j].isalnum() or source[j] in "_$"):
                j += 1
            last = source[i:j]
            out.append(last)
            i = j
            continue
        if c == "{":
            braces += 1
        elif c == "}":
            braces -= 1
        if not c.isspace():
            last = c
        out.append(c)
        i += 1
    return "".join(out)


def _template_end(source: str, i: int, n: int) -> int:
    """Where the template text from ``i`` ends: at its closing "`" or a "${"."""
    while i < n and source[i] != "`" and not source.startswith("${", i):
        i += 2 if source[i] == "\\" else 1
    return min(i, n)


def _regex_end(source: str, i: int, n: int) -> int | None:
    """The end (after its flags) of a regular expression literal whose body
    starts at ``i``; None when the line ends first (then "/" divides)."""
    in_class = False
    while i < n:
        c = source[i]
        if c == "\n":
            return None
        if c == "\\":
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "/" and not in_class:
            i += 1
            while i < n and (source[i].isalnum() or source[i] in "_$"):
                i += 1
            return i
        i += 1
    return None


_NOT_AFTER = r"(?<![\w$.])"
_ESM_EXPORT_RE = re.compile(
    _NOT_AFTER + r"export\s*(?:\{|\*|default\b|const\b|let\b|var\b|function\b|async\s+function\b|class\b)"
)
_ESM_IMPORT_RE = re.compile(_NOT_AFTER + r"import(?:\s*[{*\"]|\s+[\w$]+\s*(?:,|\bfrom\b)|\s*\.\s*meta\b)")


def _esm_syntax(code: str) -> str | None:
    """The first ES module declaration in ``code`` (``export …``, ``import …
    from``, ``import.meta``), or None."""
    for pattern in (_ESM_EXPORT_RE, _ESM_IMPORT_RE):
        if match := pattern.search(code):
            return " ".join(match.group(0).split()).rstrip("{*\"' ,")
    return None


# -- what the module exports ------------------------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class _Exports:
    names: set[str] = field(default_factory=set)
    #: Why the other exports cannot be told statically.
    unknown: list[str] = field(default_factory=list)
    #: module.exports is replaced by a function or class: its description.
    whole: str | None = None


_EXPORT_LIST_RE = re.compile(_NOT_AFTER + r"export\s*\{([^{}]*)\}")
_EXPORT_DECLARATION_RE = re.compile(
    _NOT_AFTER
    + r"export\s+(?:(?:async\s+)?function\b\s*\*?\s*|class\s+|(?:const|let|var)\s+)("
    + _IDENT
    + ")"
)
_EXPORT_PATTERN_RE = re.compile(_NOT_AFTER + r"export\s+(?:const|let|var)\s*([{\[][^=;]*)=")
_EXPORT_MORE_RE = re.compile(_NOT_AFTER + r"export\s+(?:const|let|var)\s[^;]*?,\s*(" + _IDENT + r")\s*=(?!=)")
_EXPORT_NAMESPACE_RE = re.compile(_NOT_AFTER + r"export\s*\*\s*as\s+(" + _IDENT + r"|\"" + _IDENT + '")')
_EXPORT_STAR_RE = re.compile(_NOT_AFTER + r"export\s*\*\s*from\b")
_EXPORT_DEFAULT_RE = re.compile(_NOT_AFTER + r"export\s+default\b")


def _esm_exports(code: str) -> _Exports:
    found = _Exports()
    for match in _EXPORT_LIST_RE.finditer(code):
        for spec in match.group(1).split(","):
            words = spec.split()
            if words:
                found.names.add(words[-1].strip('"'))
    found.names.update(m.group(1) for m in _EXPORT_DECLARATION_RE.finditer(code))
    for match in _EXPORT_PATTERN_RE.finditer(code):
        found.names.update(_IDENT_RE.findall(match.group(1)))
    found.names.update(m.group(1) for m in _EXPORT_MORE_RE.finditer(code))
    found.names.update(m.group(1).strip('"') for m in _EXPORT_NAMESPACE_RE.finditer(code))
    if _EXPORT_DEFAULT_RE.search(code):
        found.names.add("default")
    if _EXPORT_STAR_RE.search(code):
        found.unknown.append("`export * from` another module")
    return found


_EXPORTS = _NOT_AFTER + r"(?:module\s*\.\s*)?exports"
_CJS_PROPERTY_RE = re.compile(
    _EXPORTS + r"\s*(?:\.\s*(" + _IDENT + r')|\[\s*"(' + _IDENT + r')"\s*\])\s*=(?!=)'
)
_CJS_DEFINE_RE = re.compile(r"Object\s*\.\s*defineProperty\s*\(\s*" + _EXPORTS + r'\s*,\s*"(' + _IDENT + ')"')
_CJS_ANY_RE = re.compile(_EXPORTS + r"\b")
_CJS_REPLACE_RE = re.compile(_NOT_AFTER + r"module\s*\.\s*exports\s*=(?!=)\s*(?:exports\s*=(?!=)\s*)?")
#: ``const cmd = module.exports`` (then ``cmd.name = …``).
_CJS_ALIAS_RE = re.compile(
    _NOT_AFTER + r"(?:const|let|var)\s+(" + _IDENT + r")\s*=(?!=)\s*" + _EXPORTS + r"\s*(?:;|\n|,|$)"
)
_CJS_DYNAMIC_RE = re.compile(_EXPORTS + r'\s*\[(?!\s*"' + _IDENT + r'"\s*\])')
_CJS_ASSIGN_RE = re.compile(
    r"Object\s*\.\s*(?:assign|defineProperties)\s*\(\s*" + _EXPORTS + r"\b"
    r"|Object\s*\.\s*defineProperty\s*\(\s*" + _EXPORTS + r'\s*,(?!\s*"' + _IDENT + '")'
)
#: TypeScript's and Babel's re-exports of another module (``export * from``).
_CJS_STAR_RE = re.compile(r"__exportStar\s*\(|__export\s*\(\s*require\s*\(")
_ESBUILD_EXPORT_RE = re.compile(_NOT_AFTER + r"__export\s*\(\s*[\w$]+\s*,\s*\{")
_FUNCTION_START_RE = re.compile(r"(?:async\s+)?function\b|(?:async\s*)?(?:\([^()]*\)|[\w$]+)\s*=>")
#: A line this long is minified code, whose exports this reading may miss.
_MINIFIED_LINE = 10_000
_BUNDLE_RE = re.compile(r"__webpack_require__|__webpack_exports__|\bdefine\s*\.\s*amd\b|typeof\s+exports\b")


def _cjs_exports(code: str) -> _Exports:
    found = _Exports()
    for match in _CJS_PROPERTY_RE.finditer(code):
        found.names.add(match.group(1) or match.group(2))
    found.names.update(m.group(1) for m in _CJS_DEFINE_RE.finditer(code))
    found.names.discard("__esModule")
    for match in _ESBUILD_EXPORT_RE.finditer(code):
        _object_keys(code, match.end() - 1, found)
    for match in _CJS_REPLACE_RE.finditer(code):
        _replaced(code, match.end(), found)
    for match in _CJS_ALIAS_RE.finditer(code):
        found.names.update(_properties_set(code, match.group(1)))
    if _CJS_DYNAMIC_RE.search(code):
        found.unknown.append("exports set under computed keys")
    if _CJS_ASSIGN_RE.search(code):
        found.unknown.append("Object.assign/defineProperty with computed names on the exports")
    if _CJS_STAR_RE.search(code):
        found.unknown.append("a re-export of another module (`export * from` compiled)")
    if _BUNDLE_RE.search(code) or any(len(line) > _MINIFIED_LINE for line in code.splitlines()):
        found.unknown.append("a bundled or minified file")
    return found


def _replaced(code: str, at: int, found: _Exports) -> None:
    """What ``module.exports = …`` at ``at`` makes the exports."""
    rest = code[at:]
    if rest.startswith("{"):
        _object_keys(code, at, found)
    elif _FUNCTION_START_RE.match(rest):
        found.whole = found.whole or "a function"
    elif rest.startswith("class"):
        _class_statics(code, at, "a class", found)
    elif ident := re.match(r"(" + _IDENT + r")\s*(?:;|\n|$|\)|,)", rest):
        _replaced_by_name(code, ident.group(1), found)
    else:
        call = re.match(r"(" + _IDENT + r")\s*\(", rest)
        found.unknown.append(
            f"module.exports = {call.group(1)}(…)" if call else "module.exports = an expression"
        )


def _replaced_by_name(code: str, name: str, found: _Exports) -> None:
    """What ``module.exports = name`` makes the exports, from how ``name`` is bound."""
    word = re.escape(name)
    found.names.update(_properties_set(code, name))
    if variable := re.search(_NOT_AFTER + r"(?:const|let|var)\s+" + word + r"\s*=(?!=)\s*", code):
        value = code[variable.end() :]
        if value.startswith("{"):
            _object_keys(code, variable.end(), found)
        elif value.startswith("class"):
            _class_statics(code, variable.end(), f"the class {name!r}", found)
        elif _FUNCTION_START_RE.match(value):
            found.whole = found.whole or f"the function {name!r}"
        else:
            found.unknown.append(f"module.exports = {name}, a computed value")
    elif re.search(_NOT_AFTER + r"(?:async\s+)?function\s*\*?\s*" + word + r"\s*\(", code):
        found.whole = found.whole or f"the function {name!r}"
    elif declared := re.search(_NOT_AFTER + r"class\s+" + word + r"\b", code):
        _class_statics(code, declared.start(), f"the class {name!r}", found)
    else:
        found.unknown.append(f"module.exports = {name}, not bound in this file")


def _properties_set(code: str, name: str) -> set[str]:
    """The properties assigned on ``name`` (``name.prop = …``)."""
    pattern = _NOT_AFTER + re.escape(name) + r"\s*\.\s*(" + _IDENT + r")\s*=(?!=)"
    return {m.group(1) for m in re.finditer(pattern, code)}


def _class_statics(code: str, at: int, what: str, found: _Exports) -> None:
    brace = code.find("{", at)
    body = code[brace : _matching(code, brace)] if brace >= 0 else ""
    statics = re.findall(r"(?<![\w$])static\s+(?:async\s+)?\*?\s*(" + _IDENT + ")", body)
    found.names.update(statics)
    if not statics:
        found.whole = found.whole or what


def _object_keys(code: str, brace: int, found: _Exports) -> None:
    """The keys of the object literal whose "{" is at ``brace``."""
    body = code[brace + 1 : _matching(code, brace) - 1]
    for member in _top_level_split(body):
        member = member.strip()
        if member.startswith("..."):
            found.unknown.append(f"spread {member}")
        elif member.startswith("["):
            found.unknown.append("a computed key")
        elif key := re.match(r'(?:(?:async|get|set)\s+(?=[\w$"]))?\*?\s*"?(' + _IDENT + ")", member):
            found.names.add(key.group(1))


def _matching(code: str, brace: int) -> int:
    """The index after the bracket that closes the one at ``brace``."""
    depth = 0
    for i in range(brace, len(code)):
        if code[i] in "{([":
            depth += 1
        elif code[i] in "})]":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(code)


def _top_level_split(body: str) -> Iterator[str]:
    depth, start = 0, 0
    for i, c in enumerate(body):
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif c == "," and depth == 0:
            yield body[start:i]
            start = i + 1
    yield body[start:]


# -- findings --------------------------------------------------------------------------------------


def _export_findings(code: str, handler: str, path: str, name: str, module: _ModuleType) -> Iterator[Finding]:
    exports = _esm_exports(code) if module.esm else _cjs_exports(code)
    if name in exports.names:
        return
    head = f"handler {handler!r}: "
    if module.esm and not exports.names and not exports.unknown and _CJS_ANY_RE.search(code):
        undo = (
            f'remove "type": "module" from {module.package_json}'
            if module.package_json
            else f"rename it to {_stem(path)}.cjs"
        )
        yield Finding(
            severity="error",
            check="handler",
            path=path,
            message=f"{head}{path} is an ES module ({module.why}) but sets module.exports/exports, which "
            "do not exist in an ES module, and has no `export`",
            fix=f"write `export const {name} = async (event, context) => {{ … }}`, or {undo}",
        )
        return
    if exports.unknown:
        yield Finding(
            severity="warning",
            check="handler",
            path=path,
            message=f"{head}cannot tell statically whether {path} ({module.kind}) exports {name!r}: "
            + "; ".join(dict.fromkeys(exports.unknown)),
            fix=f"check it in the unzipped package: {_probe(path, name, module)} should print function",
        )
        return
    if exports.whole is not None:
        yield Finding(
            severity="error",
            check="handler",
            path=path,
            message=f"{head}module.exports in {path} is {exports.whole} itself, so it has no {name!r} "
            "property for Lambda to call",
            fix=f"write `module.exports = {{ {name} }}` or `exports.{name} = …`, or fix 'handler'",
        )
        return
    others = sorted(exports.names - {"default"})
    if others:
        has = f"it exports {', '.join(others)}"
    elif "default" in exports.names:
        has = "it has only a default export"
    else:
        has = "it has no exports"
    if module.esm:
        fix = f"add `export const {name} = async (event, context) => {{ … }}` to {path}"
        if "default" in exports.names:
            fix += f", or set 'handler' to '{_stem(path)}.default'"
    else:
        fix = f"add `exports.{name} = async (event, context) => {{ … }}` to {path}"
    yield Finding(
        severity="error",
        check="handler",
        path=path,
        message=f"{head}{path} exports no {name!r} ({module.kind}; {has})",
        fix=f"{fix}, or fix 'handler'",
    )


def _esm_in_commonjs(handler: str, path: str, name: str, module: _ModuleType, syntax: str) -> Finding:
    if path.endswith(".cjs"):
        fix = f"rename it to {_stem(path)}.mjs, or use `exports.{name} = …` instead of ES module syntax"
    else:
        where = module.package_json or "a package.json at the zip root"
        fix = (
            f'rename it to {_stem(path)}.mjs, or set "type": "module" in {where}, '
            f"or compile it to CommonJS (`exports.{name} = …`)"
        )
    return Finding(
        severity="error",
        check="handler",
        path=path,
        message=f"handler {handler!r}: {path} uses ES module syntax (`{syntax}`) but Node.js loads it "
        f"as CommonJS ({module.why}), so it fails to load",
        fix=fix,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class _SyntaxError:
    message: str  # "SyntaxError: Unexpected token ';'"
    line: int | None
    excerpt: tuple[str, ...]  # the source line and node's caret under it


def _syntax_finding(handler: str, path: str, name: str, module: _ModuleType, error: _SyntaxError) -> Finding:
    if not module.esm and re.search(
        r"Unexpected token 'export'|import statement outside a module", error.message
    ):
        return _esm_in_commonjs(handler, path, name, module, error.message)
    where = f" (line {error.line})" if error.line else ""
    return Finding(
        severity="error",
        check="handler",
        path=path,
        message=f"handler {handler!r}: {path} does not parse as {module.kind} ({module.why}): "
        f"{error.message}{where}",
        fix=f"fix the syntax error (`node --check {path}` shows it)",
        details=error.excerpt,
    )


def _syntax_error(node: Path, data: bytes, path: str, esm: bool) -> _SyntaxError | None:
    """What ``node --check`` says is wrong with the file, loaded as Lambda
    loads it; None when it parses or node cannot run."""
    if processes.stopping():
        return None
    filename = posixpath.basename(path)
    with tempfile.TemporaryDirectory(prefix="lambdapack-node-check-") as tmp:
        directory = Path(tmp)
        (directory / filename).write_bytes(data)
        # An explicit "type", so no package.json above the temporary directory counts.
        (directory / "package.json").write_text(json.dumps({"type": "module" if esm else "commonjs"}))
        try:
            result = subprocess.run(
                [str(node), "--check", filename],
                cwd=directory,
                env={},  # no NODE_OPTIONS (--require hooks) of the caller
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=SYNTAX_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
    if result.returncode == 0:
        return None
    return _parse_node_error(result.stderr, filename)


def _parse_node_error(stderr: str, filename: str) -> _SyntaxError | None:
    lines = stderr.splitlines()
    message = next((ln.strip() for ln in lines if re.match(r"\s*SyntaxError\b", ln)), None)
    if message is None:
        return None  # not a syntax error: node itself failed
    line: int | None = None
    excerpt: tuple[str, ...] = ()
    for i, text in enumerate(lines):
        if location := re.search(re.escape(filename) + r":(\d+)\s*$", text):
            line = int(location.group(1))
            excerpt = tuple(ln for ln in lines[i + 1 : i + 3] if ln.strip())
            break
    return _SyntaxError(message=message, line=line, excerpt=excerpt)


def _probe(path: str, name: str, module: _ModuleType) -> str:
    """A node command that prints the type of the handler's export."""
    if module.esm:
        return f"`node -e \"import('./{path}').then(m => console.log(typeof m.{name}))\"`"
    return f"`node -p \"typeof require('./{path}').{name}\"`"


def _stem(path: str) -> str:
    return path.rsplit(".", 1)[0]
