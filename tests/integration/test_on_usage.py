"""on_usage against moto: real LedgerTable stream records, delivered the way Lambda does."""

from __future__ import annotations

from decimal import Decimal

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from local.metering import metered
from local.runtime import LocalAws
from tests import builders as given


@pytest.fixture
def redelivering():
    """Every batch is delivered twice, as the stream is allowed to do."""
    with LocalAws(redeliver=True, batch_size=7) as local:
        yield local


def _types(notices):
    return [(n.type, n.rule_id, n.episode) for n in notices]


def test_balance_is_the_exact_sum_of_entries_when_every_batch_is_redelivered(redelivering):
    # Given an account and a stream of entries with awkward decimals
    given.tenant()
    given.account()
    amounts = [("credit", "100.10"), ("charge", "0.1"), ("charge", "0.2"), ("refund", "3.33"),
               ("adjustment", "-0.07"), ("credit", "0.01")] * 5
    for index, (kind, amount) in enumerate(amounts):
        given.entry(f"e{index}", kind, amount)
    # When every batch is delivered twice
    redelivering.pump()
    # Then each entry counted exactly once
    expected = Decimal(0)
    for kind, amount in amounts:
        expected += Decimal(amount) if kind in ("credit", "adjustment") else -Decimal(amount)
    assert given.balance() == expected
    assert isinstance(given.balance(), Decimal)
    deliveries = redelivering.deliveries("OnUsageFunction")
    assert sum(len(d.sequence_numbers) for d in deliveries) == 2 * len(amounts)


def test_a_batch_with_one_failing_account_is_resumed_without_double_counting(aws, monkeypatch):
    # Given two accounts whose entries share a batch
    given.tenant()
    given.account(account_id="a1")
    given.account(account_id="a2")
    for index in range(6):
        given.entry(f"x{index}", "credit", "10", account_id="a1" if index % 2 else "a2")
    # And DynamoDB throttles the first write to a2 (a transient fault)
    original = BaseClient._make_api_call
    state = {"throttled": 0}

    def throttle_first_a2_write(self, operation, params):
        updates = [item["Update"] for item in params.get("TransactItems", []) if "Update" in item]
        key = params.get("Key") or (updates[0]["Key"] if updates else {})
        if (operation in ("UpdateItem", "TransactWriteItems")
                and key.get("account_id") == {"S": "a2"}
                and state["throttled"] == 0):
            state["throttled"] += 1
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "slow down"}}, operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", throttle_first_a2_write)
    # When the stream is drained
    aws.pump()
    # Then the failed account's records were reported and redelivered, and both balances
    # count every entry once
    deliveries = aws.deliveries("OnUsageFunction")
    assert deliveries[0].failed, "the throttled account's first record is reported"
    assert len(deliveries) >= 2
    assert given.balance(account_id="a1") == Decimal(30)
    assert given.balance(account_id="a2") == Decimal(30)


def test_one_balance_low_per_level_per_episode_and_recovery_rearms(aws):
    given.tenant()
    given.account()
    given.entry("top", "credit", "50")
    given.entry("c1", "charge", "35")  # 15: below 20 -> low
    given.entry("c2", "charge", "1")  # 14: still below, same episode: nothing new
    given.entry("c3", "charge", "4")  # 10: nothing new
    aws.pump()
    assert _types(given.notices()) == [("balance_low", "low", 1)]

    given.entry("refill", "credit", "30")  # 40: episode ends -> recovered
    given.entry("c4", "charge", "25")  # 15: a new episode -> low again
    aws.pump()
    assert _types(given.notices()) == [
        ("balance_low", "low", 1),
        ("balance_recovered", "low", 1),
        ("balance_low", "low", 2),
    ]
    assert given.notices()[0].variables["balance"] == "15"


def test_a_change_across_several_levels_sends_only_the_lowest(aws):
    given.tenant()
    given.account()
    given.entry("top", "credit", "30")
    given.entry("big", "charge", "40")  # 30 -> -10 crosses 20 and 0
    given.entry("small", "charge", "1")
    aws.pump()
    assert [(n.rule_id, n.level) for n in given.notices()] == [("empty", "0")]
    # and the higher level counts as sent: refilling above 20 recovers it (the customer
    # was told the balance was below 20 when told it was below 0)
    given.entry("refill", "credit", "100")
    aws.pump()
    assert [(n.type, n.rule_id) for n in given.notices()] == [
        ("balance_low", "empty"), ("balance_recovered", "low")]


def test_first_credit_is_not_a_recovery(aws):
    given.tenant()
    given.account()
    given.entry("first", "credit", "100")
    aws.pump()
    assert given.notices() == []


@pytest.mark.parametrize(
    "fields",
    [{"billing": "postpaid"}, {"status": "inactive"}, {"status": "suspended"},
     {"status": "closed"}],
    ids=["postpaid", "inactive", "suspended", "closed"],
)
def test_postpaid_and_non_active_accounts_get_no_money_notices(aws, fields):
    given.tenant()
    given.account(**fields)
    given.entry("c1", "charge", "50")
    given.entry("r1", "credit", "100")
    given.entry("c2", "charge", "95")
    aws.pump()
    assert given.balance() == Decimal(-45)
    assert given.notices() == []


def test_void_reverses_the_voided_charge(aws):
    given.tenant()
    given.account()
    given.entry("top", "credit", "50")
    given.entry("oops", "charge", "40")
    given.entry("undo", "void", None, voids="oops", void_delta=Decimal("40"),
                voided_kind="charge")
    aws.pump()
    assert given.balance() == Decimal(50)


def test_a_poison_record_is_recorded_and_skipped_without_blocking_its_shard(aws):
    # Given a ledger item written around the API with an impossible amount and kind
    given.tenant()
    given.account()
    given.entry("ok1", "credit", "10")
    dynamodb = aws.client("dynamodb")
    ledger = "balance-alerts-LedgerTable"
    dynamodb.put_item(TableName=ledger, Item={
        "account_key": {"S": "t1#a1"}, "entry_id": {"S": "bad-amount"},
        "recorded_seq": {"S": "x"}, "tenant_id": {"S": "t1"}, "account_id": {"S": "a1"},
        "kind": {"S": "charge"}, "amount": {"S": "lots"},
        "recorded_at": {"S": "2026-11-02T10:00:00+00:00"}, "occurred_at": {"S": "x"},
        "body_hash": {"S": "x"}})
    dynamodb.put_item(TableName=ledger, Item={
        "account_key": {"S": "t1#a1"}, "entry_id": {"S": "bad-kind"},
        "recorded_seq": {"S": "y"}, "tenant_id": {"S": "t1"}, "account_id": {"S": "a1"},
        "kind": {"S": "gift"}, "amount": {"N": "5"},
        "recorded_at": {"S": "2026-11-02T10:00:00+00:00"}, "body_hash": {"S": "x"}})
    dynamodb.put_item(TableName=ledger, Item={"account_key": {"S": "t1#zz"},
                                              "entry_id": {"S": "no-fields"}})
    given.entry("ok2", "credit", "5")
    # When the stream is drained
    aws.pump()
    # Then good entries are applied, bad ones carry their reason, nothing is stuck
    assert given.balance() == Decimal(15)
    def reason(account_key, entry_id):
        item = dynamodb.get_item(TableName=ledger, Key={
            "account_key": {"S": account_key}, "entry_id": {"S": entry_id}})["Item"]
        return item["rejected_reason"]["S"]

    assert "amount" in reason("t1#a1", "bad-amount")
    assert "gift" in reason("t1#a1", "bad-kind")
    assert "tenant_id" in reason("t1#zz", "no-fields")
    assert aws.failed_batches("OnUsageFunction") == []
    assert all(not d.failed for d in aws.deliveries("OnUsageFunction"))


def test_entries_for_an_account_that_does_not_exist_are_rejected(aws):
    given.tenant()
    given.entry("lost", "credit", "10", account_id="ghost")
    aws.pump()
    from balance_alerts.adapters.tables import LedgerItem

    assert LedgerItem.get("t1#ghost", "lost").rejected_reason == "account does not exist"


def test_100_charges_over_10_accounts_cost_one_read_and_one_write_per_account(aws):
    # Given 10 funded accounts, and a warm function (config cached, as between batches)
    given.tenant()
    for number in range(10):
        given.account(account_id=f"acct{number}", balance=Decimal(1000))
    given.entry("warm", "credit", "1", account_id="acct0")
    aws.pump()
    # When 100 charges that cross no threshold arrive in one batch
    for index in range(100):
        given.entry(f"c{index}", "charge", "1.25", account_id=f"acct{index % 10}")
    with metered() as meter:
        aws.pump()
    # Then on_usage read all accounts with one request and wrote each account once
    assert aws.deliveries("OnUsageFunction")[-1].sequence_numbers.__len__() == 100
    assert meter.calls["BatchGetItem"] == 1
    assert meter.reads == 1
    assert meter.calls["UpdateItem"] == 10
    assert meter.writes == 10
    assert given.balance(account_id="acct0") == Decimal(1000) + 1 - Decimal("12.50")


def test_the_sample_event_applies_once_however_often_it_is_delivered(aws):
    # Given the account the sample event (events/on_usage_stream.json) is about
    given.tenant()
    given.account(account_id="acct-1001")
    event = __import__("tests.conftest", fromlist=["load_event"]).load_event(
        "on_usage_stream.json")
    # When the same batch arrives three times
    responses = [aws.invoke("OnUsageFunction", event) for _ in range(3)]
    # Then it counted once: -12.50 + 50.00, and no record was reported as failed
    assert given.balance(account_id="acct-1001") == Decimal("37.50")
    assert all(response == {"batchItemFailures": []} for response in responses)
