"""Validate an incoming transaction and answer with its normalised form."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel, Field, ValidationError


class Transaction(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    account: str = Field(pattern=r"^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$")
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    try:
        body = json.loads(event.get("body") or "{}")
        tx = Transaction.model_validate(body)
    except (ValueError, ValidationError) as exc:
        return {"statusCode": 400, "body": orjson.dumps({"error": str(exc)}).decode()}
    return {"statusCode": 200, "body": orjson.dumps(tx.model_dump(mode="json")).decode()}
