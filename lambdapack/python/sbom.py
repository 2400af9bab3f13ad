"""What a Python distribution's SBOM entry says (lambdapack.sbom): its
package URL, the hash of the exact file its lock pins, and its licence from
its ``METADATA``.

The hash is the lock's: a lock lambdapack resolved names one file per pin
(``name==version --hash=sha256:…  # file``), so that hash is the file
installed. A user's hashed requirements file may list several files of a pin
(every wheel of the release) without naming them; which one uv installed is
then not recorded anywhere that survives the install, so the entry gets no
hash and lists the candidates as ``lambdapack:lock_hashes`` instead of
claiming one.
"""

from __future__ import annotations

import re
from email.parser import HeaderParser
from urllib.parse import quote

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from lambdapack.contents import Distribution, Package
from lambdapack.ecosystem import Origin
from lambdapack.python.pins import locked_files

#: The longest ``License`` value taken as a licence's name (longer ones are the licence's text).
_SHORT_LICENSE = 64
_CLASSIFIER = "License :: "


def origins(installed: Package, pins: bytes) -> dict[Distribution, Origin]:
    locked = {
        (name, _version(version)): found
        for (name, version), found in locked_files(pins.decode("utf-8", errors="replace")).items()
    }
    made = {}
    for dist in installed.distributions():
        canonical = canonicalize_name(dist.name)
        metadata = _metadata(installed, dist)
        hashes, filename = locked.get((canonical, _version(dist.version)), ((), ""))
        properties: list[tuple[str, str]] = []
        if filename:
            properties.append(("lambdapack:locked_file", filename))
        if len(hashes) > 1:
            properties.append(("lambdapack:lock_hashes", ",".join(sorted(hashes))))
        expression, names = _licence(metadata)
        made[dist] = Origin(
            name=metadata.get("Name") or dist.name,
            purl=f"pkg:pypi/{quote(canonical, safe='')}@{quote(dist.version, safe='')}",
            hashes=(("SHA-256", hashes[0]),) if len(hashes) == 1 else (),
            license_expression=expression,
            license_names=names,
            properties=tuple(properties),
        )
    return made


def _version(text: str) -> str:
    try:
        return str(Version(text))
    except InvalidVersion:
        return text


class _Metadata:
    """The headers of a ``METADATA`` file (empty when it is missing)."""

    def __init__(self, text: str) -> None:
        self._message = HeaderParser().parsestr(text)

    def get(self, name: str) -> str:
        value = self._message.get(name)
        return str(value).strip() if value is not None else ""

    def get_all(self, name: str) -> list[str]:
        return [str(v).strip() for v in self._message.get_all(name) or ()]


def _metadata(installed: Package, dist: Distribution) -> _Metadata:
    try:
        data = installed.read(f"{dist.metadata}/METADATA")
    except (KeyError, OSError):
        data = b""
    return _Metadata(data.decode("utf-8", errors="replace"))


def _licence(metadata: _Metadata) -> tuple[str | None, tuple[str, ...]]:
    """``License-Expression`` (PEP 639) as the SPDX expression; else a short
    ``License`` value as a licence's name; else the names of the ``License ::``
    classifiers (the last part: ``MIT License``)."""
    expression = metadata.get("License-Expression")
    if expression:
        return expression, ()
    value = metadata.get("License")
    if value and "\n" not in value and len(value) <= _SHORT_LICENSE and value.upper() != "UNKNOWN":
        return None, (value,)
    names = [
        re.split(r"\s*::\s*", classifier)[-1]
        for classifier in metadata.get_all("Classifier")
        if classifier.startswith(_CLASSIFIER)
    ]
    return None, tuple(dict.fromkeys(n for n in names if n and n != "OSI Approved"))
