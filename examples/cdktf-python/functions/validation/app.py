"""Validate an incoming transaction before it enters the pipeline."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, ValidationError


class Transaction(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    account: str = Field(pattern=r"^[A-Z]{2}\d{2}[A-Z0-9]{8,30}$")
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    try:
        transaction = Transaction.model_validate_json(event.get("body") or "{}")
    except ValidationError as exc:
        return {"statusCode": 400, "body": exc.json()}
    return {"statusCode": 202, "body": json.dumps(transaction.model_dump(mode="json"))}
