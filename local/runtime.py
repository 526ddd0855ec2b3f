"""LocalAws: the whole application on moto, in-process (tests, demo) or against a moto
server (``make serve``).

It creates the tables from template.yaml, polls each DynamoDB stream the way Lambda's
event source mapping does (batch size, INSERT filter, ``batchItemFailures`` -> resume
from the lowest failed sequence number, an exception -> retry the batch, bisecting when
the template says so, bounded retries, then the on-failure destination), fires the
schedule (``scan`` calls the function directly; ``fire_schedule`` invokes it as
EventBridge does, asynchronously: a failure is retried as the function's
``EventInvokeConfig`` says, then sent to its on-failure queue), and turns API calls into
API Gateway proxy events. The handlers run unchanged.

Fault options (see local/faults.py for the botocore-level faults): ``redeliver`` re-sends
every batch that succeeded once more; ``split_batches`` cuts every batch at a random
point (``seed`` makes it repeatable); a ``FunctionCrash`` raised anywhere inside a handler
is a process that died mid-invocation, which Lambda retries like any function error. A
batch that exhausts its retries goes to the mapping's on-failure queue as the message
Lambda sends (``DDBStreamBatchInfo``), so the operator tools can be run against it.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import boto3

from . import cfn
from .apigw import ApiResponse, proxy_event

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


class FunctionCrash(BaseException):
    """The function's process died mid-invocation (killed, timed out, out of memory).

    A BaseException, so no ``except Exception`` in the handler or in Powertools can turn
    it into a handled failure: like a real crash, nothing after it runs, and Lambda sees a
    function error."""


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Delivery:
    """One invocation of a stream handler, kept for tests and the demo's trace."""

    function: str
    sequence_numbers: list[int]
    failed: list[int]
    error: str | None = None


def _failed_sequences(response: Any, sequence: list[int]) -> list[int]:
    """The sequence numbers a ReportBatchItemFailures response names. As Lambda does, an
    identifier that is missing, null, empty or not one of the batch's counts as a failure
    of the whole batch (retried from its first record)."""
    items = response.get("batchItemFailures", []) if isinstance(response, dict) else []
    failures = []
    for item in items if isinstance(items, list) else [None]:
        value = item.get("itemIdentifier") if isinstance(item, dict) else None
        try:
            number = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return [sequence[0]]
        if number not in sequence:
            return [sequence[0]]
        failures.append(number)
    return failures


@dataclass
class _Poller:
    mapping: cfn.StreamMapping
    stream_arn: str
    position: int | None = None  # next sequence number to deliver (None: trim horizon)
    shard_id: str | None = None
    attempts: int = 0
    limit: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    failed_batches: list[dict[str, Any]] = field(default_factory=list)


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record in the shape Lambda passes to the function (the runtime's
    pollers and the operator's replay both build events with it)."""
    data = dict(record["dynamodb"])
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        data["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion") or REGION,
        "dynamodb": data,
        "eventSourceARN": stream_arn,
    }


class LocalAws:
    """Run the application locally. Use as a context manager."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        verified_senders: tuple[str, ...] = (),
        redeliver: bool = False,
        batch_size: int | None = None,
        log_level: str | None = None,
        split_batches: bool = False,
        seed: int | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.verified_senders = verified_senders
        self.redeliver = redeliver
        self.batch_size = batch_size
        self.split_batches = split_batches
        self.random = random.Random(seed)
        self.queue_urls: dict[str, str] = {}
        self._invoking: list[str] = []
        self._clients: dict[str, Any] = {}
        self.log_level = log_level or os.environ.get("BALANCE_ALERTS_LOG_LEVEL")
        self.hooks: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._pollers: list[_Poller] = []
        self.async_failures: list[dict[str, Any]] = []  # invocations that exhausted retries

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalAws:
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": os.environ.get("POWERTOOLS_DEV", "false"),
            **cfn.function_env(),  # tables, WATCH_SHARDS, CURSOR_SECRET=LOCAL_CURSOR_SECRET
        }
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.log_level:
            env["POWERTOOLS_LOG_LEVEL"] = self.log_level
        for name, value in env.items():
            self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        if not self.endpoint_url:
            from moto import mock_aws

            self._mock = mock_aws()
            self._mock.start()
        self._create_resources()
        reset_warm_state()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._mock is not None:
            self._mock.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_warm_state()

    def client(self, service: str) -> Any:
        """A boto3 client for the local services (one per service, reused)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, region_name=REGION, endpoint_url=self.endpoint_url)
        return self._clients[service]

    def _create_resources(self) -> None:
        dynamodb = self.client("dynamodb")
        existing = set(dynamodb.list_tables()["TableNames"])
        arns = {}
        for logical_id, request in cfn.create_table_requests().items():
            if request["TableName"] not in existing:
                dynamodb.create_table(**request)
            described = dynamodb.describe_table(TableName=request["TableName"])["Table"]
            arns[logical_id] = described.get("LatestStreamArn")
        for sender in self.verified_senders:
            self.verify_sender(sender)
        for logical_id in cfn.resources("AWS::SQS::Queue"):
            if logical_id not in self.queue_urls:
                self.queue_urls[logical_id] = self.client("sqs").create_queue(
                    QueueName=cfn.physical_name(logical_id))["QueueUrl"]
        self._pollers = []
        for mapping in cfn.stream_mappings():
            poller = _Poller(mapping=mapping, stream_arn=arns[mapping.table])
            poller.limit = self.batch_size or mapping.batch_size
            self._pollers.append(poller)

    def verify_sender(self, address: str) -> None:
        """Make an address a verified SES identity (SES refuses unverified senders)."""
        self.client("ses").verify_email_identity(EmailAddress=address)

    # -------------------------------------------------------------------- handlers
    def handler(self, function_logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
        module = importlib.import_module(cfn.handler_module(function_logical_id))
        return module.lambda_handler

    def invoke(self, function_logical_id: str, event: dict[str, Any]) -> Any:
        context = LambdaContext(function_name=cfn.physical_name(function_logical_id))
        self._invoking.append(function_logical_id)
        try:
            return self.handler(function_logical_id)(event, context)
        finally:
            self._invoking.pop()

    @property
    def current_function(self) -> str | None:
        """The function whose invocation is running now (the innermost, when a fault runs
        one invocation inside another), else None."""
        return self._invoking[-1] if self._invoking else None

    def api(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        tenant: str | None = "t1",
        role: str | None = "admin",
        account_id: str | None = None,
        query: dict[str, str] | None = None,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        """Call ApiFunction as API Gateway would, with the Cognito claims of the caller."""
        claims: dict[str, str] = {}
        if tenant is not None:
            claims["custom:tenant_id"] = tenant
        if role is not None:
            claims["custom:role"] = role
        if account_id is not None:
            claims["custom:account_id"] = account_id
        event = proxy_event(
            method, path, body=body, raw_body=raw_body, claims=claims, query=query,
            headers=headers,
        )
        return ApiResponse.from_proxy(self.invoke("ApiFunction", event))

    def scan(self, at: datetime | None = None) -> Any:
        """Run the scan for the schedule at ``at``: the function called directly with the
        scheduled event (its report returned, its errors raised)."""
        return self.invoke("PeriodicScanFunction", scheduled_event(at))

    def fire_schedule(self, at: datetime | None = None) -> Any:
        """Fire the schedule as EventBridge does: an asynchronous invocation. Returns the
        scan's report, or None when every attempt failed (the event is then in the
        function's on-failure queue)."""
        return self.invoke_async("PeriodicScanFunction", scheduled_event(at))

    def invoke_async(self, function_logical_id: str, event: dict[str, Any]) -> Any:
        """Invoke as Lambda does for an asynchronous caller: a function error is retried
        up to the ``EventInvokeConfig``'s ``MaximumRetryAttempts``, then the invocation
        record (with the event as ``requestPayload``) goes to its on-failure destination.
        Returns the response, or None when every attempt failed."""
        config = cfn.async_invoke_config(function_logical_id)
        attempts = 0
        while True:
            attempts += 1
            try:
                return self.invoke(function_logical_id, event)
            except (Exception, FunctionCrash) as error:  # noqa: BLE001 - any error
                if attempts <= config.maximum_retry_attempts:
                    continue
                self.async_failures.append({"function": function_logical_id,
                                            "event": event, "error": repr(error)})
                if config.on_failure in self.queue_urls:
                    self.client("sqs").send_message(
                        QueueUrl=self.queue_urls[config.on_failure],
                        MessageBody=json.dumps(_async_failure_record(
                            function_logical_id, event, error, attempts)))
                return None

    # --------------------------------------------------------------------- streams
    def pump(self, max_invocations: int = 10_000) -> int:
        """Deliver stream records to their handlers until every stream is drained.
        Returns the number of invocations made."""
        invocations = 0
        progress = True
        while progress and invocations < max_invocations:
            progress = False
            for poller in self._pollers:
                if self._poll_once(poller):
                    invocations += 1
                    progress = True
        return invocations

    def deliveries(self, function_logical_id: str) -> list[Delivery]:
        return [d for p in self._pollers if p.mapping.function == function_logical_id
                for d in p.deliveries]

    def failed_batches(self, function_logical_id: str) -> list[dict[str, Any]]:
        """What went to the mapping's on-failure destination (``message`` is the body
        Lambda sends to the queue)."""
        return [b for p in self._pollers if p.mapping.function == function_logical_id
                for b in p.failed_batches]

    def rewind_streams(self) -> None:
        """Start every stream poller again from the trim horizon, forgetting what it
        delivered (for streams that were emptied: local/faults.py reset_tables)."""
        for poller in self._pollers:
            poller.position = None
            poller.attempts = 0
            poller.limit = self.batch_size or poller.mapping.batch_size
            poller.deliveries.clear()
            poller.failed_batches.clear()

    def failure_queue_url(self, function_logical_id: str) -> str:
        """The URL of the on-failure queue of the function's stream mapping."""
        for poller in self._pollers:
            if poller.mapping.function == function_logical_id and poller.mapping.on_failure:
                return self.queue_urls[poller.mapping.on_failure]
        raise KeyError(f"{function_logical_id} has no on-failure queue")

    def stream_arn(self, table_logical_id: str) -> str:
        for poller in self._pollers:
            if poller.mapping.table == table_logical_id:
                return poller.stream_arn
        raise KeyError(f"no stream mapping reads {table_logical_id}")

    def _read(self, poller: _Poller, limit: int) -> list[dict[str, Any]]:
        streams = self.client("dynamodbstreams")
        if poller.shard_id is None:
            poller.shard_id = streams.describe_stream(StreamArn=poller.stream_arn)[
                "StreamDescription"]["Shards"][0]["ShardId"]
        shard = {"ShardId": poller.shard_id}
        if poller.position is None:
            iterator = streams.get_shard_iterator(
                StreamArn=poller.stream_arn, ShardId=shard["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]
        else:
            iterator = streams.get_shard_iterator(
                StreamArn=poller.stream_arn, ShardId=shard["ShardId"],
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=str(poller.position),
            )["ShardIterator"]
        return streams.get_records(ShardIterator=iterator, Limit=limit)["Records"]

    def _poll_once(self, poller: _Poller) -> bool:
        limit = poller.limit
        if self.split_batches and limit > 1:
            limit = self.random.randint(1, limit)  # fault: the batch is cut anywhere
        raw = self._read(poller, limit)
        if not raw:
            return False
        records = [lambda_record(record, poller.stream_arn) for record in raw]
        after_batch = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
        wanted = [r for r in records if r["eventName"] in poller.mapping.event_names]
        if not wanted:  # filtered out: the mapping never invokes the function
            poller.position = after_batch
            return True
        sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in wanted]
        hook = self.hooks.get(poller.mapping.function)
        try:
            if hook:
                hook({"Records": wanted})
            response = self.invoke(poller.mapping.function, {"Records": wanted})
        except (Exception, FunctionCrash) as error:  # noqa: BLE001 - Lambda retries any error
            poller.deliveries.append(Delivery(poller.mapping.function, sequence, sequence,
                                              repr(error)))
            self._retry(poller, records, from_sequence=sequence[0], whole=True)
            return True
        failures = ([] if not poller.mapping.report_batch_item_failures
                    else _failed_sequences(response, sequence))
        poller.deliveries.append(Delivery(poller.mapping.function, sequence, failures))
        if failures:
            self._retry(poller, records, from_sequence=min(failures), whole=False)
            return True
        if self.redeliver and poller.attempts == 0:
            # Fault: the platform re-sends a batch that succeeded.
            poller.attempts = -1
            poller.position = sequence[0]
            return True
        poller.position = after_batch
        poller.attempts = 0
        poller.limit = self.batch_size or poller.mapping.batch_size
        return True

    def _retry(self, poller: _Poller, records: list[dict[str, Any]], *, from_sequence: int,
               whole: bool) -> None:
        poller.attempts = max(poller.attempts, 0) + 1
        poller.position = from_sequence
        limit_retries = poller.mapping.maximum_retry_attempts
        if whole and poller.mapping.bisect and poller.limit > 1:
            poller.limit = max(1, poller.limit // 2)
        if limit_retries >= 0 and poller.attempts > limit_retries:
            message = self._on_failure_message(poller, records, from_sequence)
            poller.failed_batches.append({
                "function": poller.mapping.function,
                "first_sequence_number": str(from_sequence),
                "last_sequence_number": records[-1]["dynamodb"]["SequenceNumber"],
                "batch_size": len(records),
                "message": message,
            })
            if poller.mapping.on_failure in self.queue_urls:
                self.client("sqs").send_message(
                    QueueUrl=self.queue_urls[poller.mapping.on_failure],
                    MessageBody=json.dumps(message))
            poller.position = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
            poller.attempts = 0
            poller.limit = self.batch_size or poller.mapping.batch_size

    def _on_failure_message(self, poller: _Poller, records: list[dict[str, Any]],
                            from_sequence: int) -> dict[str, Any]:
        """The invocation record Lambda sends to an on-failure destination for a stream."""
        failed = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= from_sequence]
        arrivals = [r["dynamodb"].get("ApproximateCreationDateTime") for r in failed]

        def stamp(seconds: Any) -> str:
            moment = (datetime.fromtimestamp(seconds, timezone.utc)
                      if isinstance(seconds, (int, float)) else datetime.now(timezone.utc))
            return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")

        function = cfn.physical_name(poller.mapping.function)
        return {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": poller.attempts,
            },
            "responseContext": {
                "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": stamp(None),
            "DDBStreamBatchInfo": {
                "shardId": poller.shard_id,
                "startSequenceNumber": str(from_sequence),
                "endSequenceNumber": failed[-1]["dynamodb"]["SequenceNumber"] if failed
                else str(from_sequence),
                "approximateArrivalOfFirstRecord": stamp(arrivals[0] if arrivals else None),
                "approximateArrivalOfLastRecord": stamp(arrivals[-1] if arrivals else None),
                "batchSize": len(failed),
                "streamArn": poller.stream_arn,
            },
        }


    # -------------------------------------------------------------------- outputs
    def sent_emails(self) -> list[Any]:
        """Messages SES accepted (moto's record of them)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def scheduled_event(at: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends for a schedule firing at ``at`` (default now)."""
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/balance-alerts-scan"],
        "detail": {},
    }


def _async_failure_record(function_logical_id: str, event: dict[str, Any],
                          error: BaseException, attempts: int) -> dict[str, Any]:
    """The invocation record Lambda sends to an asynchronous invocation's on-failure
    destination."""
    function = cfn.physical_name(function_logical_id)
    return {
        "version": "1.0",
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled",
        },
        "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
    }


def reset_warm_state() -> None:
    """Forget what warm Lambda containers cache (config, clients), as a cold start would."""
    for name, module in list(sys.modules.items()):
        if name.startswith(("functions.", "balance_alerts")) and hasattr(module, "reset_cache"):
            module.reset_cache()


@contextmanager
def local_aws(**kwargs: Any) -> Iterator[LocalAws]:
    with LocalAws(**kwargs) as aws:
        yield aws


def dumps(value: Any) -> str:
    return json.dumps(value, default=str, indent=2)
