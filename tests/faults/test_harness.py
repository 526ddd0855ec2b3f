"""The fault harness itself: its shortcuts change nothing but speed, and its faults land
where they are aimed."""

from __future__ import annotations

import pytest
from pynamodb.exceptions import PutError

from local.faults import Faults, fast_moto_serializer, reset_tables
from local.runtime import FunctionCrash, LocalAws, _failed_sequences
from tests import builders as given

from .conftest import SENDERS


def _responses(aws: LocalAws) -> list:
    dynamodb, streams = aws.client("dynamodb"), aws.client("dynamodbstreams")
    key = {"tenant_id": {"S": "t1"}, "account_id": {"S": "a1"}}
    arn = aws.stream_arn("LedgerTable")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    responses = [
        dynamodb.get_item(TableName="balance-alerts-AccountsTable", Key=key),
        dynamodb.query(TableName="balance-alerts-LedgerTable",
                       KeyConditionExpression="account_key = :k",
                       ExpressionAttributeValues={":k": {"S": "t1#a1"}}),
        dynamodb.batch_get_item(RequestItems={"balance-alerts-AccountsTable": {"Keys": [key]}}),
        dynamodb.update_item(TableName="balance-alerts-AccountsTable", Key=key,
                             UpdateExpression="SET probe = :v", ReturnValues="ALL_NEW",
                             ExpressionAttributeValues={":v": {"M": {"l": {"L": [
                                 {"N": "1.50"}, {"NULL": True}, {"BOOL": False},
                                 {"SS": ["x"]}, {"B": b"\x00\x01"}]}}}}),
        [{k: v for k, v in r.items() if k != "eventID"} for r in records],
    ]
    for response in responses[:4]:
        response.pop("ResponseMetadata")
    return responses


@pytest.mark.local_aws(fast=False)
def test_the_fast_serializer_returns_exactly_what_moto_returns(harness):
    given.tenant()
    given.account()
    given.entry("e1", "credit", "12.345")
    harness.aws.pump()
    _responses(harness.aws)  # the probe attribute exists from here on
    plain = _responses(harness.aws)
    with fast_moto_serializer():
        fast = _responses(harness.aws)
    assert fast == plain


def test_reset_tables_empties_the_tables_and_rewinds_the_streams(harness):
    given.tenant()
    given.account()
    given.entry("e1", "charge", "5")
    harness.aws.pump()
    reset_tables(harness.aws)
    assert harness.aws.client("dynamodb").scan(
        TableName="balance-alerts-NoticesTable")["Count"] == 0
    given.account()
    given.entry("e1", "credit", "70")  # the same ids again, in a fresh history
    harness.aws.pump()
    assert given.balance() == 70
    assert [n.notice_key for n in given.notices()] == []  # config kept, no low balance


def _batch_sizes(seed: int) -> list[int]:
    with LocalAws(verified_senders=SENDERS, log_level="CRITICAL", split_batches=True,
                  seed=seed, batch_size=5) as aws:
        given.tenant()
        given.account()
        for number in range(12):
            given.entry(f"e{number}", "credit", "2")
        aws.pump()
        assert given.balance() == 24
        return [len(d.sequence_numbers) for d in aws.deliveries("OnUsageFunction")]


def test_random_batch_cuts_are_repeatable_with_a_seed():
    first = _batch_sizes(7)
    assert first == _batch_sizes(7)
    assert len(first) > 1


def test_faults_hit_only_calls_made_inside_invocations_unless_told(harness):
    harness.faults.throttle("dynamodb", "PutItem")
    given.tenant()  # the test's own setup is not faulted
    harness.faults.fail("dynamodb", "PutItem", "ValidationException", function=None, times=1)
    with pytest.raises(PutError, match="injected"):
        given.tenant()


def test_a_crash_cannot_be_caught_as_an_ordinary_exception():
    with pytest.raises(FunctionCrash):
        try:
            raise FunctionCrash("killed")
        except Exception:  # noqa: BLE001 - what handler code would do
            pytest.fail("a crash was handled")


def test_faults_are_removed_on_exit():
    from botocore.client import BaseClient

    before = BaseClient._make_api_call
    with Faults():
        assert BaseClient._make_api_call is not before
    assert BaseClient._make_api_call is before


@pytest.mark.parametrize("response, failed", [
    ({"batchItemFailures": []}, []),
    ({"batchItemFailures": [{"itemIdentifier": "12"}, {"itemIdentifier": "11"}]}, [12, 11]),
    # What Lambda treats as a failure of the whole batch: retried from its first record.
    ({"batchItemFailures": [{"itemIdentifier": None}]}, [10]),
    ({"batchItemFailures": [{"itemIdentifier": ""}]}, [10]),
    ({"batchItemFailures": [{"id": "11"}]}, [10]),
    ({"batchItemFailures": [{"itemIdentifier": "99"}]}, [10]),
    (None, []),
])
def test_the_poller_reads_batch_item_failures_as_lambda_does(response, failed):
    assert _failed_sequences(response, [10, 11, 12]) == failed
