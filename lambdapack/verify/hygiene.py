"""Hygiene warnings that hold for every language: files Lambda cannot read,
likely secrets, dependencies' test directories."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence

from lambdapack.contents import Package, PackageFile, top_level
from lambdapack.runtimes import Target
from lambdapack.verify.model import Finding

_PRIVATE_KEY_RE = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_AWS_KEY_RE = re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_SECRET_NAMES = frozenset(
    {".netrc", ".pypirc", ".npmrc", ".git-credentials", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"}
)
_TEST_DIRS = frozenset({"tests", "test"})
_SCAN_LIMIT = 1 << 20


def findings(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    """Unreadable files, likely secrets and dependencies' test directories."""
    owners = package.owners()
    groups: dict[tuple[str, str], list[PackageFile]] = defaultdict(list)
    for file in files:
        base = file.name.rsplit("/", 1)[-1]
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
    for (kind, key), grouped in sorted(groups.items()):
        yield _group(kind, key, grouped)


def _group(kind: str, key: str, files: list[PackageFile]) -> Finding:
    examples = tuple(f.name for f in files[:5]) + (
        (f"… and {len(files) - 5} more",) if len(files) > 5 else ()
    )
    size = sum(f.size for f in files)
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
    top = sorted({test_dir(f.name) for f in files})
    return Finding(
        severity="warning",
        check="hygiene",
        distribution=key,
        path=top[0] + "/",
        message=f"{key} ships {len(top)} test director{'y' if len(top) == 1 else 'ies'} "
        f"({len(files)} files, {size:,} bytes)",
        fix='set slim = ["tests"], or add '
        + ", ".join(f'"{t}/"' for t in top)
        + " to the function's dependency_exclude",
        details=tuple(t + "/" for t in top[:5]) + ((f"… and {len(top) - 5} more",) if len(top) > 5 else ()),
    )


def test_dir(name: str) -> str:
    """The outermost test directory in a file's path ("numpy/core/tests")."""
    parts = name.split("/")
    index = next(i for i, part in enumerate(parts[:-1]) if part in _TEST_DIRS)
    return "/".join(parts[: index + 1])


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
