"""pynamodb attributes that keep numbers as Decimal (pynamodb's NumberAttribute uses float)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pynamodb.attributes import Attribute
from pynamodb.constants import MAP, NUMBER

_serializer = TypeSerializer()
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
    and a float is refused on the way in (boto3's serializer rejects it)."""

    attr_type = MAP

    def serialize(self, value: dict[str, Any]) -> dict[str, Any]:
        return _serializer.serialize(value)["M"]

    def deserialize(self, value: dict[str, Any]) -> dict[str, Any]:
        return _deserializer.deserialize({"M": value})


def to_plain(value: Any) -> Any:
    """Low-level DynamoDB JSON (as in a stream record) to Python values with Decimals."""
    return _deserializer.deserialize(value)
