"""What every measurement shares: the local AWS, stream records in Lambda's shape,
clocks that leave moto's own work out, medians."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any

from local import cfn
from local.intercept import observe_calls
from local.metering import Meter, metered
from local.runtime import REGION, LambdaContext, LocalAws, lambda_record

STREAM_ARN = (
    f"arn:aws:dynamodb:{REGION}:123456789012:table/{{table}}/stream/2026-11-01T00:00:00.000"
)


def local_aws(**kwargs: Any) -> LocalAws:
    """The application on moto in-process, logging warnings only (see __init__)."""
    kwargs.setdefault("log_level", "WARNING")
    return LocalAws(**kwargs)


def load_average() -> list[float] | None:
    """The machine's load averages (1, 5, 15 minutes), where the OS says."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def context(function_logical_id: str) -> LambdaContext:
    return LambdaContext(function_name=cfn.physical_name(function_logical_id))


# ------------------------------------------------------------------ stream records
class Sequence:
    """Increasing stream sequence numbers, as a shard hands them out."""

    def __init__(self, start: int = 1_100_000_000_000_000_000_000) -> None:
        self.value = start

    def next(self) -> str:
        self.value += 100
        return str(self.value)


def stream_record(table_logical_id: str, keys: dict[str, Any], image: dict[str, Any],
                  sequence: str) -> dict[str, Any]:
    """A DynamoDB stream INSERT record as Lambda passes it (NEW_IMAGE view)."""
    return lambda_record({
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime.now(timezone.utc),
            "Keys": keys,
            "NewImage": image,
            "SequenceNumber": sequence,
            "SizeBytes": 300,
            "StreamViewType": "NEW_IMAGE",
        },
    }, STREAM_ARN.format(table=cfn.physical_name(table_logical_id)))


@cache
def _key_names(table_logical_id: str) -> tuple[str, ...]:
    """The key attributes of a table, as the template's KeySchema names them."""
    properties = cfn.resources("AWS::DynamoDB::Table")[table_logical_id]["Properties"]
    return tuple(key["AttributeName"] for key in properties["KeySchema"])


def item_record(item: Any, table_logical_id: str, sequence: str) -> dict[str, Any]:
    """The stream record a pynamodb item's INSERT produces: its serialized image, and
    its key attributes as the template's KeySchema names them."""
    image = item.serialize()
    keys = {name: image[name] for name in _key_names(table_logical_id)}
    return stream_record(table_logical_id, keys, image, sequence)


# -------------------------------------------------------------------------- clocks
@dataclass
class Clock:
    """CPU and wall time of a block, with the part spent inside moto's backend apart:
    on Lambda that part is DynamoDB's (or SES's) own work, not the function's."""

    cpu: float = 0.0
    wall: float = 0.0
    server_cpu: float = 0.0
    server_wall: float = 0.0

    @property
    def handler_cpu(self) -> float:
        return max(0.0, self.cpu - self.server_cpu)

    @property
    def handler_wall(self) -> float:
        return max(0.0, self.wall - self.server_wall)


@contextmanager
def clocked() -> Iterator[Clock]:
    """Time a block; moto's request handling (``BotocoreStubber.__call__``, where
    botocore would send the HTTP request) is measured apart."""
    from moto.core.botocore_stubber import BotocoreStubber

    clock = Clock()
    original = BotocoreStubber.__call__

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            clock.server_cpu += time.process_time() - cpu
            clock.server_wall += time.perf_counter() - wall

    BotocoreStubber.__call__ = timed  # type: ignore[method-assign]
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        yield clock
    finally:
        clock.cpu = time.process_time() - cpu
        clock.wall = time.perf_counter() - wall
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]


@dataclass
class Measured:
    """Requests (per service) and time of one block; the requests that raised (a
    conditional check that failed, say) included, as DynamoDB bills them too."""

    meters: dict[str, Meter] = field(default_factory=dict)
    writes_by_table: Counter = field(default_factory=Counter)  # DynamoDB items written
    reads_by_table: Counter = field(default_factory=Counter)  # DynamoDB items returned
    clock: Clock = field(default_factory=Clock)

    def calls(self, service: str = "dynamodb") -> dict[str, int]:
        counts = Counter(self.meters[service].calls) if service in self.meters else Counter()
        return dict(sorted(counts.items()))

    def requests(self, service: str = "dynamodb") -> int:
        return sum(self.calls(service).values())

    def items_read(self) -> int:
        meter = self.meters.get("dynamodb")
        return meter.items_read if meter else 0


@contextmanager
def measured(*services: str) -> Iterator[Measured]:
    """Count the requests made to each of ``services`` (DynamoDB by default), those that
    failed included, and time the block."""
    result = Measured()
    wanted = list(services or ("dynamodb",))
    with _meters(wanted, result.meters), _by_table(wanted, result):
        with clocked() as clock:
            result.clock = clock
            yield result


@contextmanager
def _meters(services: list[str], into: dict[str, Meter]) -> Iterator[None]:
    if not services:
        yield
        return
    with metered(services[0]) as meter:
        into[services[0]] = meter
        with _meters(services[1:], into):
            yield


def _tables_written(operation: str, params: dict[str, Any]) -> list[str]:
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return [params.get("TableName", "?")]
    if operation == "BatchWriteItem":
        return [table for table, requests in params.get("RequestItems", {}).items()
                for _ in requests]
    if operation == "TransactWriteItems":
        return [next(iter(item.values())).get("TableName", "?")
                for item in params.get("TransactItems", [])]
    return []


def _tables_read(operation: str, params: dict[str, Any],
                 response: dict[str, Any]) -> dict[str, int]:
    if operation in ("Query", "Scan"):
        return {params.get("TableName", "?"): int(response.get("Count", 0))}
    if operation == "GetItem":
        return {params.get("TableName", "?"): 1 if response.get("Item") else 0}
    if operation == "BatchGetItem":
        return {table: len(items) for table, items in response.get("Responses", {}).items()}
    return {}


@contextmanager
def _by_table(services: list[str], into: Measured) -> Iterator[None]:
    """DynamoDB items written (failed writes included) and read, per table."""
    def written(service: str, operation: str, params: dict[str, Any]) -> None:
        if service == "dynamodb":
            into.writes_by_table.update(_tables_written(operation, params))

    def succeeded(service: str, operation: str, params: dict[str, Any],
                  response: dict[str, Any]) -> None:
        written(service, operation, params)
        if service == "dynamodb":
            into.reads_by_table.update(_tables_read(operation, params, response))

    def failed(service: str, operation: str, params: dict[str, Any],
               error: BaseException) -> None:
        written(service, operation, params)

    with observe_calls(succeeded, on_error=failed):
        yield


# ------------------------------------------------------------ moto's read responses
@contextmanager
def plain_json_reads() -> Iterator[None]:
    """Serialize moto's DynamoDB Scan and Query responses with ``json.dumps``.

    moto 5 turns every response into JSON through a generic, model-driven serializer
    that costs milliseconds per item returned; a DynamoDB read response is already
    its wire format (attribute-value maps), so ``json.dumps`` gives the same bytes'
    meaning far faster. Only test-harness time changes: requests, items and what the
    client parses are the same (``check_plain_json_reads`` compares them). Anything
    ``json.dumps`` cannot take goes through moto's serializer as before.
    """
    import json

    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    plain_types = (ActionResult, DynamoResult)

    class PlainJson(ActionResult):
        def execute_result(self, context: Any) -> Any:
            try:
                body = json.dumps(self.result)
            except (TypeError, ValueError):
                return super().execute_result(context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body

    originals = {name: getattr(DynamoHandler, name) for name in ("scan", "query")}

    def plain(method: Any) -> Any:
        def handler(self: Any) -> Any:
            result = method(self)
            return PlainJson(result.result) if type(result) in plain_types else result
        return handler

    for name, method in originals.items():
        setattr(DynamoHandler, name, plain(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(DynamoHandler, name, method)


def check_plain_json_reads(client: Any, operation: str, **params: Any) -> int:
    """Fail unless a Scan or Query parses to the same response with and without the
    fast path; returns the items compared."""
    def call() -> dict[str, Any]:
        response = getattr(client, operation)(**params)
        return {key: value for key, value in response.items() if key != "ResponseMetadata"}

    expected = call()
    with plain_json_reads():
        actual = call()
    if actual != expected:
        raise AssertionError(f"moto {operation} parses differently through json.dumps")
    return len(expected.get("Items", []))
