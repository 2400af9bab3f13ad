"""Sign processed transactions so downstream consumers can verify them."""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes, hmac


def _key() -> bytes:
    return os.environ.get("SIGNING_KEY", "dev-only-key").encode()


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    signed = []
    for record in event.get("Records", []):
        payload = orjson.dumps(record.get("body", {}), option=orjson.OPT_SORT_KEYS)
        mac = hmac.HMAC(_key(), hashes.SHA256())
        mac.update(payload)
        signed.append({"payload": payload.decode(), "signature": base64.b64encode(mac.finalize()).decode()})
    return {"signed": signed}
