"""Python's own per-file checks: extension modules and wheel tags for the
target interpreter, bytecode compiled for another Python."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from packaging.tags import Tag, parse_tag

from lambdapack.contents import Package, PackageFile, top_level
from lambdapack.python.target import MAGIC_NUMBERS, built_tag_loads, describe_tags, tag_loads
from lambdapack.runtimes import Target
from lambdapack.verify.model import Finding

_EXTENSION_RE = re.compile(r"\.cpython-(\d)(\d+)[dmu]*-([A-Za-z0-9_]+-[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)?)\.so$")
_PYC_TAG_RE = re.compile(r"\.cpython-(\d)(\d+)(?:\.opt-\d+)?\.pyc$")


def findings(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    yield from _python_abi(target, files, package)
    yield from _wheel_tags(package, target, files)
    yield from _bytecode(package, target, files)


def _owner(package: Package, name: str) -> str | None:
    dist = package.owners().get(name)
    return dist.label() if dist else None


def wheel_tags(text: str) -> list[str]:
    """The ``Tag`` values of a ``WHEEL`` file (an email-header document)."""
    import email.parser  # here: the email package costs a build that checks no wheel 15 ms

    return [t.strip() for t in email.parser.Parser().parsestr(text, headersonly=True).get_all("Tag") or []]


def _python_abi(target: Target, files: Sequence[PackageFile], package: Package) -> Iterator[Finding]:
    major, minor = target.runtime.version
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
        tags = wheel_tags(package.read(file.name).decode("utf-8", errors="replace"))
        parsed = [tag for t in tags for tag in parse_tags(t)]
        if parsed and not any(tag_loads(tag, target) or built_tag_loads(tag, target) for tag in parsed):
            dist = package.owners().get(file.name)
            yield Finding(
                severity="error",
                check="wheel-tag",
                path=file.name,
                distribution=dist.label() if dist else None,
                message=f"installed from a wheel tagged {', '.join(tags)}, none of which loads on "
                f"{target.describe()}",
                fix=f"install it for {target.describe()} ({describe_tags(target)})",
            )


def parse_tags(tag: str) -> frozenset[Tag]:
    try:
        return parse_tag(tag)
    except ValueError:  # not a tag: nothing that could load
        return frozenset()


def _bytecode(package: Package, target: Target, files: Sequence[PackageFile]) -> Iterator[Finding]:
    groups: dict[str, list[PackageFile]] = {}
    for file in files:
        if file.name.endswith(".pyc") and not _pyc_matches(package, file, target):
            groups.setdefault(top_level(file.name), []).append(file)
    for key, grouped in sorted(groups.items()):
        examples = tuple(f.name for f in grouped[:5]) + (
            (f"… and {len(grouped) - 5} more",) if len(grouped) > 5 else ()
        )
        owner = _owner(package, grouped[0].name)
        fix = (
            'remove them from the dependencies with slim = ["pycache"]'
            if owner
            else 'add "__pycache__/" and "*.pyc" to exclude (lambdapack excludes them by default)'
        )
        yield Finding(
            severity="warning",
            check="hygiene",
            path=key,
            distribution=owner,
            message=f"{len(grouped)} .pyc file(s) compiled for another Python than {target.runtime.name} "
            "(ignored by the runtime, dead weight)",
            fix=fix,
            details=examples,
        )


def _pyc_matches(package: Package, file: PackageFile, target: Target) -> bool:
    """Whether the runtime loads the ``.pyc``: its tag (``NAME.cpython-3XY.pyc``)
    names the target's Python, or, untagged (a sourceless ``NAME.pyc``), it
    starts with the magic number of the target's Python release."""
    major, minor = target.runtime.version
    tagged = _PYC_TAG_RE.search(file.name)
    if tagged:
        return (int(tagged.group(1)), int(tagged.group(2))) == (major, minor)
    magic = MAGIC_NUMBERS.get((major, minor))
    return magic is not None and package.head(file.name, 4) == magic.to_bytes(2, "little") + b"\r\n"
