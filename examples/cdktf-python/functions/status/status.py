"""Status API: is the pipeline up?"""

from __future__ import annotations

import json
import os
from typing import Any


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps({"status": "ok", "region": os.environ.get("AWS_REGION")})}
