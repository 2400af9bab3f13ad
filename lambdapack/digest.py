"""Named hash encodings. Never mix them up:

* :func:`code_sha256` — standard, padded base64 of the SHA-256 digest: what
  Lambda reports as ``CodeSha256`` and Terraform's ``filebase64sha256()``
  computes (not the urlsafe, unpadded form of wheel RECORD files);
* :func:`sha256_hex` — the lowercase hex digest (``sha256sum``).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> bytes:
    """The raw SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.digest()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def code_sha256(path: str | Path) -> str:
    """Standard padded base64 SHA-256 of a file (Lambda's CodeSha256)."""
    return b64(file_sha256(path))


def sha256_hex(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    return file_sha256(path).hex()
