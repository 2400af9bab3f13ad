"""Process validated transactions from the queue: totals per currency."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import orjson


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for record in event.get("Records", []):
        transaction = orjson.loads(record["body"])
        totals[transaction["currency"]] += Decimal(transaction["amount"])
    return {"processed": len(event.get("Records", [])), "totals": {k: str(v) for k, v in totals.items()}}
