"""What an npm package's SBOM entry says (lambdapack.sbom): its package URL,
the hash npm's lock holds of its tarball (``integrity``, Subresource Integrity
base64 made hex), and its licence from its ``package.json``.

The lock entry of an installed package is the one at the same
``node_modules/…`` path, else any entry of the same name and version (a
workspace member's closure is laid out from the workspace root). pnpm and
yarn locks give no hash here (the entry then has none).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import quote

from lambdapack.contents import Distribution, Package
from lambdapack.ecosystem import Origin

#: Subresource Integrity algorithms → CycloneDX's names.
_ALGORITHMS = {"sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}
#: A licence field that reads as an SPDX expression ("MIT", "(MIT OR Apache-2.0)").
_EXPRESSION = re.compile(r"^[A-Za-z0-9.+:()\- ]+$")


def origins(installed: Package, lock: bytes) -> dict[Distribution, Origin]:
    entries = _lock_entries(lock)
    by_release: dict[tuple[str, str], dict[str, object]] = {}
    for key, entry in sorted(entries.items()):
        name = entry.get("name") or key.rpartition("node_modules/")[2]
        by_release.setdefault((str(name), str(entry.get("version"))), entry)
    made = {}
    for dist in installed.distributions():
        root = dist.metadata.removesuffix("/package.json")
        entry = entries.get(root) or {}
        if str(entry.get("version")) != dist.version:
            entry = by_release.get((dist.name, dist.version), {})
        manifest = _manifest(installed, dist)
        expression, names = _licence(manifest.get("license"), manifest.get("licenses"))
        if expression is None and not names:  # npm copies the licence into the lock
            expression, names = _licence(entry.get("license"), None)
        made[dist] = Origin(
            name=dist.name,
            purl=purl(dist.name, dist.version),
            hashes=_hashes(entry.get("integrity")),
            license_expression=expression,
            license_names=names,
        )
    return made


def purl(name: str, version: str) -> str:
    """``pkg:npm/name@version``; a scope is the namespace, its ``@`` encoded
    (``pkg:npm/%40scope/name@1.0.0``)."""
    scope, _, bare = name.rpartition("/")
    namespace = f"{quote(scope, safe='')}/" if scope else ""
    return f"pkg:npm/{namespace}{quote(bare, safe='')}@{quote(version, safe='')}"


def _lock_entries(lock: bytes) -> dict[str, dict[str, object]]:
    """The ``packages`` of an npm lock (lockfileVersion 2 or 3), by path; empty for other locks."""
    try:
        data = json.loads(lock)
    except (ValueError, UnicodeDecodeError):
        return {}
    packages = data.get("packages") if isinstance(data, dict) else None
    if not isinstance(packages, dict):
        return {}
    return {k: v for k, v in packages.items() if isinstance(v, dict) and k}


def _hashes(integrity: object) -> tuple[tuple[str, str], ...]:
    """``sha512-<base64> …`` as (CycloneDX algorithm, hex) pairs."""
    found = []
    for item in str(integrity or "").split():
        algorithm, _, digest = item.partition("-")
        name = _ALGORITHMS.get(algorithm.lower())
        if name is None:
            continue
        try:
            found.append((name, base64.b64decode(digest.split("?", 1)[0], validate=True).hex()))
        except (binascii.Error, ValueError):
            continue
    return tuple(sorted(set(found)))


def _manifest(installed: Package, dist: Distribution) -> dict[str, object]:
    try:
        data = json.loads(installed.read(dist.metadata))
    except (KeyError, OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _licence(value: object, legacy: object) -> tuple[str | None, tuple[str, ...]]:
    """``license``: an SPDX expression, else a name ("SEE LICENSE IN …"); the
    old ``{"type": …}`` objects and ``licenses`` lists: names."""
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if _EXPRESSION.match(text) and text.upper() != "UNLICENSED":
            return text, ()
        return None, (text,)
    items = [value] if isinstance(value, dict) else (legacy if isinstance(legacy, list) else [])
    names = [str(i["type"]).strip() for i in items if isinstance(i, dict) and isinstance(i.get("type"), str)]
    return None, tuple(dict.fromkeys(n for n in names if n))
