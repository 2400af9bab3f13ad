"""Process validated transactions from the queue: totals per currency.

orjson is not in this function's zip: it comes from the "common" layer
(layers/common/requirements.txt), which Lambda unpacks to /opt/python."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import orjson  # from the layer


def handle(event: dict[str, Any], context: object) -> dict[str, Any]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for record in event.get("Records", []):
        transaction = orjson.loads(record["body"])
        totals[transaction["currency"]] += Decimal(transaction["amount"])
    return {"processed": len(event.get("Records", [])), "totals": {k: str(v) for k, v in totals.items()}}
