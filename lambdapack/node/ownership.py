"""Which files belong to which npm package: everything under
``node_modules/<name>/`` (or ``node_modules/@scope/name/``) is that
package's, except its own nested ``node_modules``."""

from __future__ import annotations

import json

from lambdapack.contents import Distribution, Package


def package_root(name: str) -> str | None:
    """The innermost package directory a zip entry lies in, or None (own code)."""
    parts = name.split("/")
    root: str | None = None
    i = 0
    while i < len(parts) - 1:
        if parts[i] == "node_modules" and i + 1 < len(parts) - 1:
            width = 2 if parts[i + 1].startswith("@") else 1
            if i + width < len(parts):
                root = "/".join(parts[: i + 1 + width])
                i += 1 + width
                continue
        i += 1
    return root


def owners(package: Package) -> dict[str, Distribution]:
    found: dict[str, Distribution] = {}
    dists: dict[str, Distribution | None] = {}
    names = {f.name for f in package.files}
    for file in package.files:
        root = package_root(file.name)
        if root is None:
            continue
        if root not in dists:
            dists[root] = _distribution(package, root, names)
        dist = dists[root]
        if dist is not None:
            found[file.name] = dist
    return found


def _distribution(package: Package, root: str, names: set[str]) -> Distribution | None:
    manifest = f"{root}/package.json"
    if manifest not in names:
        return None
    try:
        data = json.loads(package.read(manifest))
    except (ValueError, UnicodeDecodeError, OSError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    fallback = root.split("node_modules/")[-1]
    name = data.get("name") if isinstance(data.get("name"), str) else fallback
    version = data.get("version") if isinstance(data.get("version"), str) else "?"
    return Distribution(name=str(name), version=str(version), metadata=manifest)
