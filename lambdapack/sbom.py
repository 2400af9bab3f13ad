"""The SBOM of an artifact: ``<output>/<name>.cdx.json`` beside ``<name>.zip``,
a CycloneDX 1.6 JSON document (docs/sbom.md).

It lists the artifact itself (``metadata.component``: its SHA-256, and its
``code_sha256``, runtime, architecture and handler as properties) and every
distribution it ships (``components``: name, version, package URL, the hash
its lock holds of the exact file installed, its licence from its metadata,
and the zip entries it owns as ``evidence.occurrences``), as the function's
ecosystem tells them (``Ecosystem.owners`` and ``Ecosystem.origins``). The
function's own code is the artifact's, not a component.

Determinism: the document is a function of the zip's bytes, the lock and
lambdapack's version, all part of the build plan. The serial number is a
UUID derived from the artifact's name and SHA-256 (version 5, not random);
``metadata.timestamp`` is ``SOURCE_DATE_EPOCH`` when it is set and absent
otherwise (never the clock); components, hashes, occurrences and properties
are sorted, and the JSON is written with sorted keys, two-space indents and
a final newline. Two builds of the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdapack import __version__
from lambdapack.archive import ArchiveEntry

if TYPE_CHECKING:
    from lambdapack.config import FunctionSpec
    from lambdapack.contents import Distribution
    from lambdapack.ecosystem import Ecosystem, Origin

__all__ = ["SPEC_VERSION", "Component", "components", "document", "write_pending"]

SPEC_VERSION = "1.6"
#: The namespace of the serial numbers' UUIDs (uuid5 of lambdapack's SBOM URL namespace).
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://lambdapack/sbom")


@dataclass(frozen=True, kw_only=True, slots=True)
class Component:
    """A shipped distribution: what its ecosystem tells of it and where its files are in the zip."""

    origin: Origin
    version: str
    #: Zip entries it owns (a bundle it was bundled into included), sorted.
    files: tuple[str, ...]


def components(
    ecosystem: Ecosystem,
    *,
    shipped: Sequence[ArchiveEntry],
    installed: Sequence[ArchiveEntry],
    pins: bytes,
    prefix: str = "",
    inlined: Sequence[tuple[str, str]] = (),
) -> tuple[Component, ...]:
    """The distributions of the ``installed`` set that own files of ``shipped``
    (the installed entries that go into the zip, under ``prefix`` there: a
    layer's ``python/``) or that were bundled (``inlined``: installed file,
    zip entry), one component per package URL, sorted by it."""
    from lambdapack.contents import StagedPackage

    package = StagedPackage(installed, label="dependencies", ownership=ecosystem.owners)
    owners = package.owners()
    files: dict[Distribution, set[str]] = {}
    for entry in shipped:
        owner = owners.get(entry.name)
        if owner is not None:
            files.setdefault(owner, set()).add(prefix + entry.name)
    for name, output in inlined:
        owner = owners.get(name)
        if owner is not None:
            files.setdefault(owner, set()).add(output)
    origins = ecosystem.origins(package, pins)
    by_purl: dict[str, tuple[Origin, str, set[str]]] = {}
    for dist in sorted(files, key=lambda d: d.metadata):  # copies of one release: one component
        origin = origins[dist]
        _, _, known = by_purl.setdefault(origin.purl, (origin, dist.version, set()))
        known.update(files[dist])
    return tuple(
        Component(origin=origin, version=version, files=tuple(sorted(found)))
        for _purl, (origin, version, found) in sorted(by_purl.items())
    )


def document(spec: FunctionSpec, sha256: bytes, parts: Sequence[Component], *, epoch: int | None) -> bytes:
    """The SBOM of ``spec``'s zip, whose SHA-256 is ``sha256``, shipping ``parts``."""
    from lambdapack.digest import b64

    role = spec.layer
    facts = {
        "lambdapack:code_sha256": b64(sha256),
        "lambdapack:architecture": spec.target.architecture.name,
    }
    if role is None:
        facts |= {"lambdapack:runtime": spec.target.runtime.name, "lambdapack:handler": spec.handler}
    else:
        facts |= {
            "lambdapack:layer": role.name,
            "lambdapack:compatible_runtimes": ",".join(role.runtimes),
            "lambdapack:compatible_architectures": ",".join(role.architectures),
        }
    metadata: dict[str, object] = {
        "tools": {"components": [{"type": "application", "name": "lambdapack", "version": __version__}]},
        "component": {
            "type": "application" if role is None else "library",
            "bom-ref": f"lambdapack:{spec.kind}:{spec.name}",
            "name": spec.name,
            "hashes": [{"alg": "SHA-256", "content": sha256.hex()}],
            "properties": _properties(facts.items()),
        },
    }
    if epoch is not None:
        metadata["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "serialNumber": f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{spec.name}:{sha256.hex()}')}",
        "metadata": metadata,
        "components": [_component(part) for part in parts],
    }
    return (json.dumps(bom, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _component(part: Component) -> dict[str, object]:
    origin = part.origin
    made: dict[str, object] = {
        "type": "library",
        "bom-ref": origin.purl,
        "name": origin.name,
        "version": part.version,
        "purl": origin.purl,
    }
    if origin.hashes:
        made["hashes"] = [{"alg": alg, "content": digest} for alg, digest in sorted(origin.hashes)]
    if origin.license_expression:
        made["licenses"] = [{"expression": origin.license_expression}]
    elif origin.license_names:
        made["licenses"] = [{"license": {"name": name}} for name in origin.license_names]
    if part.files:
        made["evidence"] = {"occurrences": [{"location": name} for name in part.files]}
    if origin.properties:
        made["properties"] = _properties(origin.properties)
    return made


def _properties(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in sorted(pairs)]


def write_pending(dest: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``dest`` (``.<name>.cdx.json.<pid>.<random>.tmp``,
    removed by the next build if this process dies: lambdapack.archive.stale_temporaries)
    for :func:`lambdapack.manifest.publish` to rename into place with the zip."""
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=".tmp", dir=dest.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(0o644)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary
