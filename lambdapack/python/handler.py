"""The handler check for Python: the module exists in the package and binds
the function at module level (found by parsing, never by importing)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Sequence

from lambdapack.contents import Package
from lambdapack.verify.model import Finding

#: What Python runtimes provide besides the standard library (in /var/runtime).
RUNTIME_MODULES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3", "awslambdaric", "bootstrap"}
    # and what the older runtimes' site-packages hold besides
    | {"pip", "setuptools", "pkg_resources", "_distutils_hack"}
)


def findings(package: Package, handler: str, provided: frozenset[str] = frozenset()) -> Iterator[Finding]:
    """Whether `handler` (MODULE.FUNCTION) is defined where Lambda will look,
    and whether the modules it imports at module level can be found there: in
    the package, in ``provided`` (the files its layers put on the path) or in
    the runtime."""
    module, _, function = handler.rpartition(".")
    base = module.replace(".", "/")
    names = {f.name for f in package.files}
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if candidate in names:
            yield from _handler_in_source(package, candidate, handler, function, names | provided)
            return
    if any(n.startswith(base + ".") and n.endswith(".so") and "/" not in n[len(base) :] for n in names):
        return  # a compiled module: its names cannot be checked statically
    yield Finding(
        severity="error",
        check="handler",
        path=f"{base}.py",
        message=f"handler {handler!r}: module {module!r} not found ({base}.py or {base}/__init__.py)",
        fix="set 'handler' to MODULE.FUNCTION, the module path relative to the zip root, or fix 'source'",
    )


def _handler_in_source(
    package: Package, path: str, handler: str, function: str, names: set[str] | frozenset[str]
) -> Iterator[Finding]:
    try:
        tree = ast.parse(package.read(path), filename=path)
    except SyntaxError as exc:
        yield Finding(
            severity="error",
            check="handler",
            path=path,
            message=f"handler module does not parse: {exc.msg} (line {exc.lineno})",
            fix="fix the syntax error",
        )
        return
    yield from _missing_imports(tree, path, _importable(names))
    kind = _binding(tree.body, function)
    if kind in ("def", "assign", "import"):
        return
    if kind == "async":
        yield Finding(
            severity="warning",
            check="handler",
            path=path,
            message=f"handler {handler!r} is an async function; the Python runtime calls it without "
            "awaiting, so it returns a coroutine",
            fix="make it a plain function that runs the coroutine (asyncio.run)",
        )
        return
    if kind == "main-guard":
        message = f'{function!r} is defined only under `if __name__ == "__main__":`, which Lambda never runs'
    elif kind == "nested":
        message = f"{function!r} is defined only inside another function or class, not at module level"
    else:
        message = f"{path} defines no {function!r} at module level"
    yield Finding(
        severity="error",
        check="handler",
        path=path,
        message=f"handler {handler!r}: {message}",
        fix=f"define `def {function}(event, context):` at module level in {path}, or fix 'handler'",
    )


def _binding(body: Sequence[ast.stmt], name: str) -> str | None:
    """How ``name`` is bound at module level: def/async/assign/import, or why not."""
    fallback: str | None = None
    for node in body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return "def"
        if isinstance(node, ast.AsyncFunctionDef) and node.name == name:
            return "async"
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return "assign"
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name.split(".")[0]) == name for a in node.names
        ):
            return "import"
        if isinstance(node, ast.If) and _is_main_guard(node.test):
            if _binding(node.body, name) is not None:
                fallback = fallback or "main-guard"
            inner = _binding(node.orelse, name)
            if inner in ("def", "async", "assign", "import"):
                return inner
            continue
        for block in _blocks(node):
            inner = _binding(block, name)
            if inner in ("def", "async", "assign", "import"):
                return inner
            fallback = fallback or inner
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and any(
            isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in ast.walk(node)
        ):
            fallback = fallback or "nested"
    return fallback


def _blocks(node: ast.stmt) -> Iterator[list[ast.stmt]]:
    """Statement lists that run at import time inside a module-level statement."""
    if isinstance(node, (ast.If, ast.For, ast.While)):
        yield node.body
        yield node.orelse
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        yield node.body
    elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
        yield node.body  # type: ignore[attr-defined]
        yield node.orelse  # type: ignore[attr-defined]
        yield node.finalbody  # type: ignore[attr-defined]
        for handler in node.handlers:  # type: ignore[attr-defined]
            yield handler.body


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _missing_imports(tree: ast.Module, path: str, importable: set[str]) -> Iterator[Finding]:
    """Modules the handler module imports unconditionally at module level that
    nothing on Lambda's path provides: the import fails at every cold start."""
    for node in tree.body:
        if _changes_path(node):  # sys.path.insert(0, "vendor") …: later imports may come from anywhere
            return
        if isinstance(node, ast.Import):
            wanted = [(a.name.split(".")[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            wanted = [(node.module.split(".")[0], node.lineno)]
        else:
            continue
        for name, line in wanted:
            if name in importable or name in sys.stdlib_module_names or name in RUNTIME_MODULES:
                continue
            yield Finding(
                severity="error",
                check="imports",
                path=path,
                message=f"imports {name!r} (line {line}), which is neither in the package, nor in its "
                "layers, nor in the runtime: 'No module named' at every cold start",
                fix=f"add the distribution that provides {name!r} to the requirements (or to a layer the "
                "function uses)",
            )
            importable.add(name)  # once per module


def _changes_path(node: ast.stmt) -> bool:
    """Whether a statement touches ``sys.path`` or calls ``site.addsitedir``."""
    return any(
        isinstance(inner, ast.Attribute)
        and isinstance(inner.value, ast.Name)
        and (inner.value.id, inner.attr) in (("sys", "path"), ("site", "addsitedir"))
        for inner in ast.walk(node)
    )


def _importable(names: set[str] | frozenset[str]) -> set[str]:
    """Top-level module names the files ``names`` (relative to a path entry) provide."""
    found = set()
    for name in names:
        first, slash, _rest = name.partition("/")
        if slash:
            found.add(first)  # a package (regular or namespace)
        elif first.endswith((".py", ".pyc", ".so", ".pyd")):
            found.add(first.split(".", 1)[0])
    return found
