"""Count the AWS requests the code makes (and the items DynamoDB returns), by wrapping
botocore's one entry point for every API call. Deterministic, so tests may assert it.

A request that fails (a failed conditional write, throttling) is counted too, as AWS
bills it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .intercept import observe_calls

READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@dataclass
class Meter:
    calls: Counter = field(default_factory=Counter)
    items_read: int = 0

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if op in READS)

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if op in WRITES)

    @property
    def dynamodb_requests(self) -> int:
        return self.reads + self.writes


def _items_in(operation: str, response: dict[str, Any]) -> int:
    if operation in ("Query", "Scan"):
        return int(response.get("Count", 0))
    if operation == "BatchGetItem":
        return sum(len(items) for items in response.get("Responses", {}).values())
    if operation == "GetItem":
        return 1 if response.get("Item") else 0
    return 0


@contextmanager
def metered(service: str = "dynamodb") -> Iterator[Meter]:
    """Count ``service`` calls made inside the block."""
    meter = Meter()

    def count(called: str, operation: str, params: dict[str, Any], response: dict) -> None:
        if called == service:
            meter.calls[operation] += 1
            meter.items_read += _items_in(operation, response)

    def count_failed(called: str, operation: str, params: dict[str, Any],
                     error: Exception) -> None:
        if called == service:
            meter.calls[operation] += 1

    with observe_calls(count, count_failed):
        yield meter
