"""``replay``: re-run the stream records named in an on-failure queue message.

When a batch exhausts its retries, Lambda drops it from the stream mapping and sends a
message to the mapping's on-failure queue. The message holds no records, only where they
are (``DDBStreamBatchInfo``: stream ARN, shard id, first and last sequence numbers). This
reads them again from the stream (``GetShardIterator`` AT_SEQUENCE_NUMBER, ``GetRecords``;
possible within the stream's 24-hour retention), keeps what the mapping's filter keeps
(INSERT), and invokes the mapping's function with them in the event shape Lambda uses.

Idempotent: on_usage skips entries it already applied (their ids stay on the account for
48 h) and send_notice acts on a notice's current status, so replaying a message twice,
or one whose records partly succeeded, changes nothing twice. A message is deleted only
when every record went through; otherwise it stays for the next attempt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from local.runtime import _failed_sequences, lambda_record

from .stack import Stack, stream_functions

EXPIRED_ERRORS = {"TrimmedDataAccessException", "ExpiredIteratorException",
                  "ResourceNotFoundException"}
MAX_EMPTY_PAGES = 5  # a shard may answer empty pages before its next records


class RecordsExpired(RuntimeError):
    """The records are past the stream's retention (24 h): they cannot be re-read."""


@dataclass(frozen=True)
class BatchInfo:
    stream_arn: str
    shard_id: str
    start: int
    end: int
    batch_size: int | None = None

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> BatchInfo:
        info = message.get("DDBStreamBatchInfo")
        if not isinstance(info, dict):
            raise ValueError("not a DynamoDB stream on-failure message (no DDBStreamBatchInfo)")
        return cls(stream_arn=info["streamArn"], shard_id=info["shardId"],
                   start=int(info["startSequenceNumber"]), end=int(info["endSequenceNumber"]),
                   batch_size=info.get("batchSize"))


@dataclass
class Replayed:
    """What one message led to."""

    function: str
    records: int = 0
    skipped: int = 0  # filtered out (not INSERT), as the mapping does
    invocations: int = 0
    failed: list[str] = field(default_factory=list)  # sequence numbers still failing
    error: str | None = None
    deleted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {"function": self.function, "records": self.records, "skipped": self.skipped,
                "invocations": self.invocations, "failed": self.failed, "error": self.error,
                "deleted": self.deleted}


def read_records(stack: Stack, info: BatchInfo) -> list[dict[str, Any]]:
    """The records from ``start`` to ``end`` (inclusive) of the shard, as GetRecords
    returns them. Sequence numbers are compared as integers, within this shard only."""
    streams = stack.client("dynamodbstreams")
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=info.stream_arn, ShardId=info.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=str(info.start),
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        empty = 0
        while iterator and empty < MAX_EMPTY_PAGES:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            iterator = page.get("NextShardIterator")
            if not page["Records"]:
                empty += 1
                continue
            empty = 0
            for record in page["Records"]:
                sequence = int(record["dynamodb"]["SequenceNumber"])
                if sequence > info.end:
                    return records
                if sequence >= info.start:
                    records.append(record)
        return records
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in EXPIRED_ERRORS:
            raise RecordsExpired(
                f"records {info.start}..{info.end} of {info.shard_id} are no longer in the "
                "stream (24-hour retention); see docs/runbook.md, 'replay'") from error
        raise


def replay_message(stack: Stack, message: dict[str, Any], *, attempts: int = 3,
                   dry_run: bool = False) -> Replayed:
    info = BatchInfo.from_message(message)
    mapping = stream_functions()[stack.table_of_stream(info.stream_arn)]
    result = Replayed(function=mapping.function)
    try:
        raw = read_records(stack, info)
    except RecordsExpired as expired:
        result.error = str(expired)
        return result
    wanted = [lambda_record(r, info.stream_arn) for r in raw
              if r["eventName"] in mapping.event_names]
    result.records, result.skipped = len(wanted), len(raw) - len(wanted)
    if dry_run:
        return result
    pending = wanted
    for _ in range(max(1, attempts)):
        failed: list[str] = []
        for offset in range(0, len(pending), mapping.batch_size):
            batch = pending[offset: offset + mapping.batch_size]
            response = stack.invoke(mapping.function, {"Records": batch})
            result.invocations += 1
            reported = _failed_sequences(
                response, [int(r["dynamodb"]["SequenceNumber"]) for r in batch])
            if reported:  # as Lambda does: resume from the lowest failed record
                lowest = min(reported)
                failed += [r["dynamodb"]["SequenceNumber"] for r in batch
                           if int(r["dynamodb"]["SequenceNumber"]) >= lowest]
        if not failed:
            result.failed = []
            return result
        keep = set(failed)
        pending = [r for r in pending if r["dynamodb"]["SequenceNumber"] in keep]
        result.failed = failed
    return result


def replay_queue(stack: Stack, queue: str, *, max_messages: int = 100, attempts: int = 3,
                 dry_run: bool = False) -> list[Replayed]:
    """Replay every message of an on-failure queue (up to ``max_messages``); delete each
    one whose records all went through."""
    sqs = stack.client("sqs")
    url = stack.queue(queue)
    results: list[Replayed] = []
    while len(results) < max_messages:
        received = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(10, max_messages - len(results)),
            VisibilityTimeout=300, WaitTimeSeconds=0).get("Messages", [])
        if not received:
            break
        for message in received:
            try:
                body = json.loads(message["Body"])
                result = replay_message(stack, body, attempts=attempts, dry_run=dry_run)
            except (ValueError, KeyError, LookupError) as error:
                result = Replayed(function="?", error=f"unreadable message: {error}")
            if result.ok and not dry_run:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                result.deleted = True
            elif dry_run:  # make it visible again at once
                sqs.change_message_visibility(QueueUrl=url,
                                              ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
            results.append(result)
        if dry_run:
            break
    return results
