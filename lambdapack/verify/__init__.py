"""Prove a package will load on its target before anyone uploads it.

Each check yields :class:`Finding` objects (severity, file, distribution, what
is wrong and how to fix it). Checks read the package only through
:class:`~lambdapack.contents.Package`, so they run on lambdapack's staging tree
during ``build`` and on any zip with ``lambdapack check``. docs/verify.md
lists every check.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.tags import parse_tag

from lambdapack import elf
from lambdapack.contents import Package, PackageFile, top_level
from lambdapack.python.install import tag_loads
from lambdapack.runtimes import SYSTEM_LIBRARIES, Target

#: Lambda's limits, in bytes (docs/verify.md).
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # zipped, uploaded in the API request
API_REQUEST_CAP = 69_905_067  # the request body cap: base64 of a 50 MiB zip
UNZIPPED_LIMIT = 262_144_000  # function code plus all layers
NEAR_LIMIT = 0.8

_EXTENSION_RE = re.compile(r"\.cpython-(\d)(\d+)[dmu]*-([A-Za-z0-9_]+-[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)?)\.so$")
_PYC_TAG_RE = re.compile(r"\.cpython-(\d)(\d+)(?:\.opt-\d+)?\.pyc$")
_PRIVATE_KEY_RE = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_AWS_KEY_RE = re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_SECRET_NAMES = frozenset(
    {".netrc", ".pypirc", ".npmrc", ".git-credentials", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"}
)
_TEST_DIRS = frozenset({"tests", "test"})
_SCAN_LIMIT = 1 << 20
#: bytecode magic numbers (little-endian uint16) by Python minor version.
_PYC_MAGIC = {10: (3430, 3439), 11: (3450, 3495), 12: (3500, 3531), 13: (3550, 3571), 14: (3600, 3699)}


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    severity: str  # "error" | "warning"
    check: str  # architecture, glibc, shared-library, python-abi, wheel-tag, handler, size, hygiene
    message: str
    fix: str
    path: str | None = None
    distribution: str | None = None
    details: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            severity=str(data["severity"]),
            check=str(data["check"]),
            message=str(data["message"]),
            fix=str(data["fix"]),
            path=data.get("path"),
            distribution=data.get("distribution"),
            details=tuple(data.get("details", ())),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "check": self.check,
            "path": self.path,
            "distribution": self.distribution,
            "message": self.message,
            "fix": self.fix,
            "details": list(self.details),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    label: str
    target: Target
    handler: str | None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, object]:
        return {
            "package": self.label,
            "runtime": self.target.runtime.name,
            "architecture": self.target.architecture.name,
            "handler": self.handler,
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_json() for f in self.findings],
        }


def verify(
    package: Package,
    target: Target,
    handler: str | None,
    *,
    checked: frozenset[str] = frozenset(),
    known: Sequence[Finding] = (),
) -> Report:
    """Every check on ``package`` for ``target``; ``handler`` None skips that check.

    ``known`` are the findings of :func:`file_findings` for the files named in
    ``checked`` (a cached dependency set): those files are not read again."""
    files = [f for f in package.files if f.name not in checked] if checked else list(package.files)
    findings = [
        *file_findings(package, target, files),
        *known,
        *(_handler(package, handler) if handler else ()),
        *size_findings(package, package.zipped_size),
    ]
    order = {"error": 0, "warning": 1}
    findings.sort(key=lambda f: (order[f.severity], f.check, f.path or ""))
    return Report(label=package.label, target=target, handler=handler, findings=tuple(findings))


def file_findings(package: Package, target: Target, files: Sequence[PackageFile]) -> list[Finding]:
    """The checks that look at each file on its own (binaries, ABI, wheel tags,
    hygiene): a function of the files and the target, so they can be cached."""
    binaries = list(_binaries(package, target, files))
    wrong_machine = {f.path for f in binaries if f.check == "architecture"}
    return [
        *binaries,
        *(f for f in _python_abi(target, files, package) if f.path not in wrong_machine),
        *_wheel_tags(package, target, files),
        *_hygiene(package, target, files),
    ]


def _owner(package: Package, name: str) -> str | None:
    dist = package.owners().get(name)
    return dist.label() if dist else None


def _binaries(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    want = target.architecture
    system = SYSTEM_LIBRARIES[target.runtime.os]
    bundled = {f.name.rsplit("/", 1)[-1] for f in package.files}
    ceiling = target.runtime.glibc
    for file in files:
        kind = elf.binary_format(package.head(file.name, elf.HEAD_SIZE), file.name)
        if kind is None:
            continue
        owner = _owner(package, file.name)
        rebuild = _rebuild_fix(owner, target)
        if kind != "elf":
            yield Finding(
                severity="error",
                check="architecture",
                path=file.name,
                distribution=owner,
                message=f"{'macOS Mach-O' if kind == 'mach-o' else 'Windows PE'} binary; Lambda runs Linux "
                f"{want.name}",
                fix=rebuild,
            )
            continue
        info = elf.parse(package.read(file.name))
        if (info.bits, info.little_endian, info.machine) != (64, True, want.elf_machine):
            yield Finding(
                severity="error",
                check="architecture",
                path=file.name,
                distribution=owner,
                message=f"ELF for {info.machine_name} ({info.bits}-bit, "
                f"{'little' if info.little_endian else 'big'}-endian); target is {want.name} "
                f"({elf.MACHINES[want.elf_machine]}, 64-bit, little-endian)",
                fix=rebuild,
            )
            continue
        if info.glibc is not None and info.glibc > ceiling:
            yield Finding(
                severity="error",
                check="glibc",
                path=file.name,
                distribution=owner,
                message=f"needs GLIBC_{info.glibc[0]}.{info.glibc[1]}; {target.runtime.name} "
                f"({target.runtime.os}) has glibc {ceiling[0]}.{ceiling[1]}",
                fix=f"use a version of {owner or 'this package'} with a manylinux wheel for glibc <= "
                f"{ceiling[0]}.{ceiling[1]}, or a runtime with a newer glibc (python3.12+ has 2.34)",
            )
        missing = [lib for lib in info.needed if lib not in system and lib not in bundled]
        if missing:
            yield Finding(
                severity="error",
                check="shared-library",
                path=file.name,
                distribution=owner,
                message=f"needs {', '.join(missing)}, which is neither in the package nor in the "
                f"{target.runtime.os} base image",
                fix="bundle the library (auditwheel-repaired manylinux wheels do), or provide it in a layer",
            )


def _rebuild_fix(owner: str | None, target: Target) -> str:
    what = owner or "the package that ships this file"
    return (
        f"install {what} for {target.describe()} (lambdapack build resolves for the target; "
        "other tools need --platform manylinux…_" + target.architecture.machine + ")"
    )


def _python_abi(target: Target, files: Sequence[PackageFile], package: Package) -> Iterator[Finding]:
    major, minor = target.runtime.python
    platform = f"{target.architecture.machine}-linux-gnu"
    for file in files:
        found = _EXTENSION_RE.search(file.name)
        if not found:
            continue
        version = (int(found.group(1)), int(found.group(2)))
        if version == (major, minor) and found.group(3) == platform:
            continue
        yield Finding(
            severity="error",
            check="python-abi",
            path=file.name,
            distribution=_owner(package, file.name),
            message=f"extension module built for CPython {version[0]}.{version[1]} on {found.group(3)}; "
            f"target is cpython-{major}{minor}-{platform}",
            fix=f"install the package for {target.describe()}",
        )


def _wheel_tags(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    for file in files:
        if not file.name.endswith(".dist-info/WHEEL") or file.name.count("/") != 1:
            continue
        text = package.read(file.name).decode("utf-8", errors="replace")
        tags = [t.split(":", 1)[1].strip() for t in text.splitlines() if t.startswith("Tag:")]
        parsed = [tag for t in tags for tag in parse_tag(t)]
        if parsed and not any(tag_loads(tag, target) for tag in parsed):
            dist = package.owners().get(file.name)
            yield Finding(
                severity="error",
                check="wheel-tag",
                path=file.name,
                distribution=dist.label() if dist else None,
                message=f"installed from a wheel tagged {', '.join(tags)}, none of which loads on "
                f"{target.describe()}",
                fix=f"install it for {target.describe()} (cpython {target.python_version}, manylinux glibc "
                f"<= {target.runtime.glibc[0]}.{target.runtime.glibc[1]}, {target.architecture.machine})",
            )


def render(finding: Finding) -> str:
    """One line: severity, check, where, what, and the fix."""
    where = finding.path or ""
    if finding.distribution:
        where = f"{where} [{finding.distribution}]" if where else f"[{finding.distribution}]"
    head = f"{finding.severity} [{finding.check}] " + (f"{where}: " if where else "")
    return f"{head}{finding.message}; fix: {finding.fix}"


def _handler(package: Package, handler: str) -> Iterator[Finding]:
    module, _, function = handler.rpartition(".")
    base = module.replace(".", "/")
    names = {f.name for f in package.files}
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if candidate in names:
            yield from _handler_in_source(package, candidate, handler, function)
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


def _handler_in_source(package: Package, path: str, handler: str, function: str) -> Iterator[Finding]:
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


def size_findings(package: Package, zipped_size: int | None) -> list[Finding]:
    """Sizes against Lambda's limits, with the largest parts when over or near one."""
    return [*unzipped_size_findings(package), *zipped_size_findings(package, zipped_size)]


def unzipped_size_findings(package: Package) -> list[Finding]:
    """Over 262,144,000 bytes unzipped is an error; 80 % of it a warning."""
    findings: list[Finding] = []
    unzipped = sum(f.size for f in package.files)
    if unzipped >= NEAR_LIMIT * UNZIPPED_LIMIT:
        over = unzipped > UNZIPPED_LIMIT
        findings.append(
            Finding(
                severity="error" if over else "warning",
                check="size",
                message=f"unzipped size {unzipped:,} bytes is {_share(unzipped, UNZIPPED_LIMIT)} Lambda's "
                f"limit for function code plus layers ({UNZIPPED_LIMIT:,} bytes)",
                fix="drop dependencies the function does not import, move large ones to a layer or a "
                "container image, or exclude files (exclude, dependency_exclude)",
                details=_breakdown(package),
            )
        )
    return findings


def zipped_size_findings(package: Package, zipped_size: int | None) -> list[Finding]:
    """A zip over 50 MiB cannot be uploaded directly (its base64 exceeds the
    69,905,067-byte request cap): a warning to upload through S3."""
    findings: list[Finding] = []
    if zipped_size is not None and zipped_size >= NEAR_LIMIT * DIRECT_UPLOAD_LIMIT:
        if zipped_size > API_REQUEST_CAP:
            what = f"is over Lambda's API request cap ({API_REQUEST_CAP:,} bytes) even before base64"
        else:
            what = f"is {_share(zipped_size, DIRECT_UPLOAD_LIMIT)} the 50 MB direct-upload limit " + (
                f"({DIRECT_UPLOAD_LIMIT:,} bytes; its base64 request must stay under {API_REQUEST_CAP:,})"
            )
        findings.append(
            Finding(
                severity="warning",
                check="size",
                message=f"zipped size {zipped_size:,} bytes {what}",
                fix="upload through S3 (aws_lambda_function s3_bucket/s3_key), or make the package smaller",
                details=_breakdown(package),
            )
        )
    return findings


def _share(size: int, limit: int) -> str:
    return "over" if size > limit else f"{size / limit:.0%} of"


def _breakdown(package: Package, count: int = 5) -> tuple[str, ...]:
    owners = package.owners()
    by_dist: dict[str, int] = defaultdict(int)
    by_dir: dict[str, int] = defaultdict(int)
    for file in package.files:
        dist = owners.get(file.name)
        by_dist[dist.label() if dist else "(not from a distribution)"] += file.size
        by_dir[top_level(file.name)] += file.size
    lines = ["largest distributions:"]
    lines += [f"  {size:>13,}  {name}" for name, size in _largest(by_dist, count)]
    lines.append("largest top-level entries:")
    lines += [f"  {size:>13,}  {name}" for name, size in _largest(by_dir, count)]
    return tuple(lines)


def _largest(sizes: dict[str, int], count: int) -> list[tuple[str, int]]:
    return sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:count]


def _hygiene(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    owners = package.owners()
    groups: dict[tuple[str, str], list[PackageFile]] = defaultdict(list)
    for file in files:
        base = file.name.rsplit("/", 1)[-1]
        if file.name.endswith(".pyc") and not _pyc_matches(package, file, target):
            groups[("pyc", top_level(file.name))].append(file)
        if file.mode is not None and not file.mode & 0o004:
            groups[("unreadable", top_level(file.name))].append(file)
        owner = owners.get(file.name)
        parts = file.name.split("/")[:-1]
        if owner is not None and _TEST_DIRS.intersection(parts):
            groups[("tests", owner.label())].append(file)
        secret = _secret(package, file, base, owner is None)
        if secret:
            yield Finding(
                severity="warning",
                check="hygiene",
                path=file.name,
                distribution=owner.label() if owner else None,
                message=f"likely secret: {secret}",
                fix=f'remove it, or add "{file.name}" to the function\'s exclude; rotate the credential '
                "if it was ever uploaded",
            )
    for (kind, key), files in sorted(groups.items()):
        yield _hygiene_group(kind, key, files, target)


def _hygiene_group(kind: str, key: str, files: list[PackageFile], target: Target) -> Finding:
    examples = tuple(f.name for f in files[:5]) + (
        (f"… and {len(files) - 5} more",) if len(files) > 5 else ()
    )
    size = sum(f.size for f in files)
    if kind == "pyc":
        return Finding(
            severity="warning",
            check="hygiene",
            path=key,
            message=f"{len(files)} .pyc file(s) compiled for another Python than {target.runtime.name} "
            "(ignored by the runtime, dead weight)",
            fix='add "__pycache__/" and "*.pyc" to exclude (lambdapack excludes them by default)',
            details=examples,
        )
    if kind == "unreadable":
        return Finding(
            severity="warning",
            check="hygiene",
            path=key,
            message=f"{len(files)} file(s) not world-readable; Lambda fails with EACCES or "
            "'No module named …'",
            fix="chmod a+r them before zipping (lambdapack stores 0644/0755)",
            details=examples,
        )
    top = sorted({_test_dir(f.name) for f in files})
    return Finding(
        severity="warning",
        check="hygiene",
        distribution=key,
        path=top[0] + "/",
        message=f"{key} ships {len(top)} test director{'y' if len(top) == 1 else 'ies'} "
        f"({len(files)} files, {size:,} bytes)",
        fix="add " + ", ".join(f'"{t}/"' for t in top[:3]) + " to the function's dependency_exclude",
        details=tuple(t + "/" for t in top[:5]) + ((f"… and {len(top) - 5} more",) if len(top) > 5 else ()),
    )


def _test_dir(name: str) -> str:
    """The outermost test directory in a file's path ("numpy/core/tests")."""
    parts = name.split("/")
    index = next(i for i, part in enumerate(parts[:-1]) if part in _TEST_DIRS)
    return "/".join(parts[: index + 1])


def _pyc_matches(package: Package, file: PackageFile, target: Target) -> bool:
    major, minor = target.runtime.python
    tagged = _PYC_TAG_RE.search(file.name)
    if tagged:
        return (int(tagged.group(1)), int(tagged.group(2))) == (major, minor)
    head = package.head(file.name, 2)
    if len(head) < 2:
        return False
    magic = int.from_bytes(head, "little")
    low, high = _PYC_MAGIC.get(minor, (-1, -1))
    return low <= magic <= high


def _secret(package: Package, file: PackageFile, base: str, own: bool) -> str | None:
    if base == ".env" or base.startswith(".env."):
        return "an environment file (.env)"
    if base in _SECRET_NAMES or file.name.endswith(".aws/credentials"):
        return f"a credentials file ({base})"
    if not own or file.size > _SCAN_LIMIT or file.size == 0:
        return None
    data = package.read(file.name)
    if b"\0" in data[:1024]:
        return None
    if _PRIVATE_KEY_RE.search(data):
        return "a private key"
    if _AWS_KEY_RE.search(data):
        return "an AWS access key id"
    return None


def summarize(findings: Iterable[Finding]) -> str:
    counted = list(findings)
    errors = sum(f.severity == "error" for f in counted)
    warnings = len(counted) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
