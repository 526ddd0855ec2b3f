"""Fault injection for the local runtime, at the level of botocore calls.

The product code is never mocked: every fault is something AWS or the Lambda platform
can do to it, injected where the SDK meets the service (``BaseClient._make_api_call``,
the one entry point of every AWS call, as in ``local/intercept.py``):

- ``throttle`` / ``fail``: the service answers with a throttling (transient) or a
  permanent error, after the SDK's own retries gave up;
- ``crash_after`` / ``crash_before``: the Lambda process dies right after (or before) a
  call - e.g. after the DynamoDB write that committed, before the handler returns - so
  Lambda retries the batch (``FunctionCrash``, see local/runtime.py);
- ``lose_response``: the request took effect but the response never arrived (a read
  timeout), so the caller sees an error for a write that happened;
- ``send_twice``: the SDK re-sent a request whose first response was lost: the service
  executes it twice and the caller sees the second answer;
- ``interleave``: another invocation runs between this call and the next one of the
  caller - e.g. two invocations for one account that both read, then both write.

Rules match calls made inside a function invocation of a LocalAws (by default any
function; ``function=`` narrows it), so the test's own setup and checks are never
faulted. ``observe`` records what the services really did (including calls a fault
then hid from the caller). Everything random comes from one seeded ``random.Random``.

Also here: ``reset_tables`` (empty every table between generated histories without
recreating them) and ``fast_moto_serializer`` (moto's response serializer walks every
DynamoDB attribute value through the service model; DynamoDB JSON needs no such walk).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError, ReadTimeoutError

from . import cfn
from .runtime import FunctionCrash, LocalAws

ANY = "*"

#: What each service answers when it throttles (code, HTTP status).
THROTTLING = {
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "dynamodbstreams": ("LimitExceededException", 400),
    "sesv2": ("TooManyRequestsException", 429),
    "events": ("ThrottlingException", 400),
    "sqs": ("RequestThrottled", 403),
}


def client_error(operation: str, code: str, message: str = "", status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message or code},
         "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@dataclass
class Call:
    """One botocore call as a fault rule sees it."""

    service: str
    operation: str
    params: dict[str, Any]
    function: str | None

    def tables(self) -> set[str]:
        """Logical ids of the tables the call reads or writes."""
        names = set()
        if "TableName" in self.params:
            names.add(self.params["TableName"])
        names.update(self.params.get("RequestItems") or {})
        for item in self.params.get("TransactItems") or []:
            for operation in item.values():
                names.add(operation.get("TableName"))
        prefix = f"{cfn.STACK}-"
        return {name[len(prefix):] for name in names if name and name.startswith(prefix)}

    def touches(self, table_logical_id: str) -> bool:
        return table_logical_id in self.tables()

    def accounts(self) -> set[str]:
        """``tenant#account`` of every item key or item the call names."""
        found: set[str] = set()

        def look(image: dict[str, Any] | None) -> None:
            if not image:
                return
            if "account_key" in image and "S" in image["account_key"]:
                found.add(image["account_key"]["S"])
            elif "tenant_id" in image and "account_id" in image:
                found.add(f"{image['tenant_id'].get('S')}#{image['account_id'].get('S')}")

        look(self.params.get("Key"))
        look(self.params.get("Item"))
        for request in (self.params.get("RequestItems") or {}).values():
            for key in request.get("Keys", []) if isinstance(request, dict) else []:
                look(key)
        for item in self.params.get("TransactItems") or []:
            for operation in item.values():
                look(operation.get("Key"))
                look(operation.get("Item"))
        return found

    def about(self, tenant_id: str, account_id: str) -> bool:
        return f"{tenant_id}#{account_id}" in self.accounts()


@dataclass
class Injected:
    """One fault that happened, for assertions and for the failure report."""

    kind: str
    service: str
    operation: str
    function: str | None
    detail: str = ""


@dataclass
class Rule:
    kind: str
    service: str
    operations: frozenset[str]
    function: str | None  # ANY: any function; None: also calls outside invocations
    when: Callable[[Call], bool] | None
    times: int | None
    probability: float
    before: Callable[[Call], None] | None = None
    after: Callable[[Call, Any, Callable[[], Any]], Any] | None = None
    if_response: Callable[[Any], bool] | None = None  # after-rules: fire only on these
    fired: int = 0
    busy: bool = False

    def matches(self, call: Call) -> bool:
        if self.busy or (self.times is not None and self.fired >= self.times):
            return False
        if call.service != self.service or (
                self.operations and call.operation not in self.operations):
            return False
        if self.function == ANY and call.function is None:
            return False
        if self.function not in (ANY, None) and call.function != self.function:
            return False
        return self.when is None or bool(self.when(call))

    def cancel(self) -> None:
        self.times = self.fired


class Faults:
    """Install fault rules on botocore for the duration of a ``with`` block."""

    def __init__(self, aws: LocalAws | None = None, *, seed: int | None = 0) -> None:
        self.aws = aws
        self.random = random.Random(seed)
        self.rules: list[Rule] = []
        self.injected: list[Injected] = []
        self.observers: list[Callable[[Call, Any], None]] = []
        self.active = True
        self._original: Any = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Faults:
        self._original = BaseClient._make_api_call
        faults = self

        def faulty(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            return faults._call(client, operation, params)

        BaseClient._make_api_call = faulty  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        BaseClient._make_api_call = self._original  # type: ignore[method-assign]

    def stop(self) -> None:
        """The faults stop (observers keep recording)."""
        self.active = False

    def resume(self) -> None:
        self.active = True

    def clear(self) -> None:
        """Forget every rule and what was injected (between generated histories)."""
        self.rules.clear()
        self.injected.clear()
        self.active = True

    def count(self, kind: str, service: str | None = None, operation: str | None = None) -> int:
        return sum(1 for i in self.injected if i.kind == kind
                   and (service is None or i.service == service)
                   and (operation is None or i.operation == operation))

    # ------------------------------------------------------------------ the hook
    def _call(self, client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        original = self._original
        call = Call(client.meta.service_model.service_name, operation, params,
                    self.aws.current_function if self.aws else None)
        rule = self._firing_rule(call) if self.active else None

        def execute() -> Any:
            response = original(client, operation, params)
            for observer in self.observers:
                observer(call, response)
            return response

        if rule is not None and rule.before is not None:
            self._record(rule, call)
            rule.before(call)
        response = execute()
        if rule is not None and rule.after is not None:
            if rule.if_response is not None and not rule.if_response(response):
                rule.fired -= 1  # not this one: the rule waits for a matching answer
                return response
            self._record(rule, call)
            rule.busy = True
            try:
                return rule.after(call, response, execute)
            finally:
                rule.busy = False
        return response

    def _firing_rule(self, call: Call) -> Rule | None:
        for rule in self.rules:
            if rule.matches(call) and (rule.probability >= 1
                                       or self.random.random() < rule.probability):
                rule.fired += 1
                return rule
        return None

    def _record(self, rule: Rule, call: Call) -> None:
        self.injected.append(Injected(rule.kind, call.service, call.operation, call.function,
                                      ",".join(sorted(call.accounts()))))

    # ------------------------------------------------------------------ rules
    def _rule(self, kind: str, service: str, operation: str | tuple[str, ...], *,
              function: str | None = ANY, when: Callable[[Call], bool] | None = None,
              times: int | None = None, probability: float = 1.0, **hooks: Any) -> Rule:
        operations = frozenset((operation,) if isinstance(operation, str) else operation)
        rule = Rule(kind, service, operations, function, when, times, probability, **hooks)
        self.rules.append(rule)
        return rule

    def throttle(self, service: str, operation: str | tuple[str, ...] = (), **match: Any) -> Rule:
        """The service throttles the call (a transient error, the SDK's retries used up)."""
        code, status = THROTTLING.get(service, ("ThrottlingException", 400))

        def before(call: Call) -> None:
            raise client_error(call.operation, code, "Rate exceeded (injected)", status)

        return self._rule("throttle", service, operation, before=before, **match)

    def fail(self, service: str, operation: str | tuple[str, ...], code: str, *,
             message: str = "", status: int = 400, **match: Any) -> Rule:
        """The service refuses the call with ``code`` (e.g. SES MessageRejected)."""

        def before(call: Call) -> None:
            raise client_error(call.operation, code, message or f"{code} (injected)", status)

        return self._rule(f"fail:{code}", service, operation, before=before, **match)

    def crash_before(self, service: str, operation: str | tuple[str, ...] = (),
                     **match: Any) -> Rule:
        def before(call: Call) -> None:
            raise FunctionCrash(f"crashed before {call.service}.{call.operation}")

        return self._rule("crash_before", service, operation, before=before, **match)

    def crash_after(self, service: str, operation: str | tuple[str, ...] = (),
                    **match: Any) -> Rule:
        """The call takes effect, then the process dies before the handler returns."""

        def after(call: Call, response: Any, again: Callable[[], Any]) -> Any:
            raise FunctionCrash(f"crashed after {call.service}.{call.operation}")

        return self._rule("crash_after", service, operation, after=after, **match)

    def lose_response(self, service: str, operation: str | tuple[str, ...] = (),
                      **match: Any) -> Rule:
        """The call takes effect; the caller gets a read timeout instead of the answer."""

        def after(call: Call, response: Any, again: Callable[[], Any]) -> Any:
            raise ReadTimeoutError(endpoint_url=f"https://{call.service}.local (injected)")

        return self._rule("lose_response", service, operation, after=after, **match)

    def send_twice(self, service: str, operation: str | tuple[str, ...] = (),
                   **match: Any) -> Rule:
        """The first response was lost and the SDK retried: the request runs twice and
        the caller sees the second outcome (often a failed condition)."""

        def after(call: Call, response: Any, again: Callable[[], Any]) -> Any:
            return again()

        return self._rule("send_twice", service, operation, after=after, **match)

    def interleave(self, service: str, operation: str | tuple[str, ...],
                   action: Callable[[], Any], **match: Any) -> Rule:
        """After the matching call, ``action`` (another invocation) runs to completion
        before the caller goes on: e.g. it read an account, the other one reads and
        writes it, then the caller writes on what it read. ``if_response`` restricts it
        to calls whose answer matches (e.g. a query that returned items)."""

        def after(call: Call, response: Any, again: Callable[[], Any]) -> Any:
            action()
            return response

        return self._rule("interleave", service, operation, after=after,
                          **{"times": 1, **match})

    def observe(self, observer: Callable[[Call, Any], None]) -> None:
        """``observer(call, response)`` after every call the service executed."""
        self.observers.append(observer)


# ---------------------------------------------------------------- what really happened
@dataclass
class Ledger:
    """What the services really did during a history, whatever the callers saw:
    notices created (per key) and the emails SES accepted (message ids)."""

    created: dict[tuple[str, str], int] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)

    def __call__(self, call: Call, response: Any) -> None:
        notices = cfn.physical_name("NoticesTable")
        if call.service == "dynamodb" and call.operation == "PutItem" and call.params.get(
                "TableName") == notices and _is_create(call.params):
            self._created(call.params["Item"])
        elif call.service == "dynamodb" and call.operation == "TransactWriteItems":
            for item in call.params.get("TransactItems") or []:
                put = item.get("Put")
                if put and put.get("TableName") == notices and _is_create(put):
                    self._created(put["Item"])
        elif call.service == "sesv2" and call.operation == "SendEmail":
            self.accepted.append(response["MessageId"])

    def _created(self, item: dict[str, Any]) -> None:
        key = (item["account_key"]["S"], item["notice_key"]["S"])
        self.created[key] = self.created.get(key, 0) + 1

    def clear(self) -> None:
        self.created.clear()
        self.accepted.clear()


def _is_create(request: dict[str, Any]) -> bool:
    return "attribute_not_exists" in (request.get("ConditionExpression") or "")


# ------------------------------------------------------------------ scenarios
def fire_schedule(aws: LocalAws, at: datetime, *, times: int = 1) -> list[dict[str, Any]]:
    """The schedule fires ``times`` times for the same scheduled time (EventBridge may
    deliver a scheduled event more than once)."""
    return [aws.scan(at) for _ in range(times)]


def fire_schedule_concurrently(aws: LocalAws, faults: Faults, at: datetime) -> list[Any]:
    """Two scans for the same time at once: the second starts once the first has read
    watched accounts, and runs to completion before the first writes any of them."""
    reports: list[Any] = []
    faults.interleave("dynamodb", "Query", lambda: reports.append(aws.scan(at)),
                      function="PeriodicScanFunction",
                      when=lambda call: call.params.get("IndexName") == "WatchIndex",
                      if_response=lambda response: response.get("Count", 0) > 0)
    reports.insert(0, aws.scan(at))
    return reports


# ------------------------------------------------------------------ moto helpers
def reset_tables(aws: LocalAws, *, keep: tuple[str, ...] = ("ConfigTable",)) -> None:
    """Empty every table (and its stream) except ``keep``, and rewind the stream pollers,
    without recreating anything: a fresh start for the next generated history. In-process
    moto only (it reaches into moto's backend; a moto server has its own reset)."""
    if aws.endpoint_url:
        raise RuntimeError("reset_tables works on the in-process moto only")
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    from .runtime import REGION

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    for logical_id in cfn.resources("AWS::DynamoDB::Table"):
        if logical_id in keep:
            continue
        table = backend.tables[cfn.physical_name(logical_id)]
        table.items.clear()
        if table.stream_shard is not None:
            table.stream_shard.items.clear()
    dynamodbstreams_backends[DEFAULT_ACCOUNT_ID][REGION].shard_iterators.clear()
    aws.rewind_streams()
    from moto.sqs.models import sqs_backends

    queues = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues
    for logical_id in aws.queue_urls:  # PurgeQueue is allowed once a minute: empty them
        queue = queues[cfn.physical_name(logical_id)]
        queue._messages.clear()  # noqa: SLF001
        queue._pending_messages.clear()  # noqa: SLF001


_ATTRIBUTE_VALUE_MEMBERS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})


def _plain_attribute_value(value: Any) -> bool:
    """DynamoDB JSON that is already what goes on the wire (binary needs encoding)."""
    if not isinstance(value, dict) or not value.keys() <= _ATTRIBUTE_VALUE_MEMBERS:
        return False
    if "B" in value or "BS" in value:
        return False
    if "M" in value:
        return all(_plain_attribute_value(v) for v in value["M"].values())
    if "L" in value:
        return all(_plain_attribute_value(v) for v in value["L"])
    return True


@contextmanager
def fast_moto_serializer() -> Iterator[None]:
    """Serialize DynamoDB attribute values (already DynamoDB JSON inside moto) as they are,
    instead of walking each one through the service model: the same bytes, several times
    faster (tests/faults/test_harness.py compares both)."""
    from moto.core import serialize

    original = serialize.BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and _plain_attribute_value(value):
            serialized[key] = value
            return
        original(self, serialized, value, shape, key)

    serialize.BaseJSONSerializer._serialize_type_structure = serialize_structure
    try:
        yield
    finally:
        serialize.BaseJSONSerializer._serialize_type_structure = original
