"""Report the service status; no third-party dependencies."""

from __future__ import annotations

import os
from typing import Any


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return {"statusCode": 200, "body": '{"status": "ok", "region": "%s"}' % os.environ.get("AWS_REGION", "")}
