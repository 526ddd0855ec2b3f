"""pynamodb attributes that keep numbers as Decimal (pynamodb's NumberAttribute uses
float), and the conversion between Python values and low-level DynamoDB JSON.

Reading uses Powertools' copy of boto3's TypeDeserializer; writing uses ``to_dynamo``
below, which follows boto3's TypeSerializer rule for rule (a test compares the two).
Neither imports boto3: the functions talk to DynamoDB through pynamodb and botocore, and
``import boto3`` alone would add a tenth to their cold start (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.shared.dynamodb_deserializer import (
    DYNAMODB_CONTEXT,
    TypeDeserializer,
)
from pynamodb.attributes import Attribute
from pynamodb.constants import MAP, NUMBER

_deserializer = TypeDeserializer()


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number read and written as an exact Decimal."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        if not isinstance(value, (Decimal, int)) or isinstance(value, bool):
            raise TypeError(f"DecimalAttribute takes Decimal, not {type(value).__name__}")
        return format(Decimal(value), "f")

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class DocumentAttribute(Attribute[dict]):
    """A free-form map stored as a native DynamoDB map; numbers come back as Decimal,
    and a float is refused on the way in."""

    attr_type = MAP

    def serialize(self, value: dict[str, Any]) -> dict[str, Any]:
        return to_dynamo(value)["M"]

    def deserialize(self, value: dict[str, Any]) -> dict[str, Any]:
        return _deserializer.deserialize({"M": value})


def to_plain(value: Any) -> Any:
    """Low-level DynamoDB JSON (as in a stream record) to Python values with Decimals."""
    return _deserializer.deserialize(value)


def _number(value: int | Decimal) -> str:
    # Inexact, Rounded, Overflow and Underflow trap: a number DynamoDB cannot hold
    # exactly (more than 38 significant digits, out of range) raises, never rounds.
    number = DYNAMODB_CONTEXT.create_decimal(value)
    if not number.is_finite():  # as boto3's serializer (which misses -Infinity and sNaN)
        raise TypeError("Infinity and NaN not supported")
    return str(number)


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def to_dynamo(value: Any) -> dict[str, Any]:
    """A Python value to low-level DynamoDB JSON: the inverse of ``to_plain``.

    None -> NULL, bool -> BOOL, int/Decimal -> N, str -> S, bytes -> B, a mapping -> M,
    a list or tuple -> L, a non-empty set of numbers, strings or bytes -> NS, SS, BS.
    Anything else (a float, an empty or mixed set, an object) raises TypeError.
    """
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {key: to_dynamo(item) for key, item in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_dynamo(item) for item in value]}
    if isinstance(value, (set, frozenset)) and value:
        if all(_is_number(item) for item in value):
            return {"NS": [_number(item) for item in value]}
        if all(isinstance(item, str) for item in value):
            return {"SS": list(value)}
        if all(isinstance(item, (bytes, bytearray)) for item in value):
            return {"BS": [bytes(item) for item in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")
