"""Poison records: ledger items written around the API (bad types, missing fields, an
unknown account or kind, absurd amounts) are recorded on the item with their reason and
skipped. They never block their shard, the other entries of their account, or other
accounts - wherever they fall in a batch."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from local.runtime import LocalAws
from tests import builders as given

from .conftest import SENDERS

LEDGER = "balance-alerts-LedgerTable"
T = "2026-11-02T10:00:00+00:00"


def item(entry_id: str, *, account: str = "a1", tenant: str = "t1", drop: tuple = (),
         **fields: Any) -> dict[str, Any]:
    """A ledger item as DynamoDB JSON: a valid credit of 1, with ``fields`` replaced
    (given as attribute values) and ``drop`` removed."""
    values: dict[str, Any] = {
        "account_key": {"S": f"{tenant}#{account}"}, "entry_id": {"S": entry_id},
        "recorded_seq": {"S": f"{T}#{entry_id}"}, "tenant_id": {"S": tenant},
        "account_id": {"S": account}, "kind": {"S": "credit"}, "amount": {"N": "1"},
        "occurred_at": {"S": T}, "recorded_at": {"S": T}, "body_hash": {"S": "x"},
    }
    values.update(fields)
    for name in drop:
        values.pop(name, None)
    return values


#: (case, ledger item, a fragment of the recorded reason)
POISON = [
    ("amount-not-a-number", item("p01", amount={"S": "lots"}), "amount"),
    ("amount-exponent-form", item("p02", amount={"S": "1e5"}), "plain decimal"),
    ("amount-nan", item("p03", amount={"S": "NaN"}), "amount"),
    ("amount-infinity", item("p04", amount={"S": "Infinity"}), "amount"),
    ("amount-39-digits", item("p05", amount={"S": "1" * 39}), "38 significant digits"),
    ("amount-boolean", item("p06", amount={"BOOL": True}), "boolean"),
    ("amount-map", item("p07", amount={"M": {"v": {"N": "1"}}}), "amount"),
    ("amount-negative-credit", item("p08", amount={"N": "-5"}), "amount > 0"),
    ("amount-zero-charge", item("p09", kind={"S": "charge"}, amount={"N": "0"}), "amount > 0"),
    ("amount-missing", item("p10", drop=("amount",)), "amount > 0"),
    ("adjustment-zero", item("p11", kind={"S": "adjustment"}, amount={"N": "0"}), "non-zero"),
    ("kind-unknown", item("p12", kind={"S": "gift"}), "gift"),
    ("kind-missing", item("p13", drop=("kind",)), "unknown entry kind"),
    ("kind-a-number", item("p14", kind={"N": "3"}), "unknown entry kind"),
    ("void-without-target", item("p15", kind={"S": "void"}, drop=("amount",)), "void"),
    ("void-delta-not-a-number", item("p16", kind={"S": "void"}, voids={"S": "e1"},
                                     void_delta={"S": "x"}, drop=("amount",)), "void_delta"),
    ("recorded-at-missing", item("p17", drop=("recorded_at",)), "recorded_at"),
    ("recorded-at-not-iso", item("p18", recorded_at={"S": "yesterday"}), "ISO 8601"),
    ("recorded-at-no-offset", item("p19", recorded_at={"S": "2026-11-02T10:00:00"}),
     "UTC offset"),
    ("recorded-at-a-number", item("p20", recorded_at={"N": "1700000000"}), "recorded_at"),
    ("occurred-at-garbage", item("p21", occurred_at={"S": "soon"}), "occurred_at"),
    ("tenant-and-account-missing", item("p22", drop=("tenant_id", "account_id")),
     "tenant_id"),
    ("account-unknown", item("p23", account="ghost"), "account does not exist"),
    ("tenant-unknown", item("p24", tenant="nobody", account="a1"), "account does not exist"),
    ("only-keys", {"account_key": {"S": "t1#a2"}, "entry_id": {"S": "p25"}}, "tenant_id"),
    ("currency-other", item("p26", currency={"S": "EUR"}, amount={"N": "10"}),
     "currency EUR is not the account's currency USD"),
    ("currency-a-number", item("p27", currency={"N": "978"}), "currency"),
]


@pytest.fixture(scope="module")
def drained():
    """Valid entries on two accounts with every poison record interleaved, delivered in
    batches of 3 (so the poison lands first, last and in the middle of batches)."""
    with LocalAws(verified_senders=SENDERS, log_level="CRITICAL", batch_size=3) as aws:
        given.tenant()
        given.account(account_id="a1")
        given.account(account_id="a2")
        dynamodb = aws.client("dynamodb")
        for number, (_, poison, _) in enumerate(POISON):
            given.entry(f"ok{number}", "credit", "1.01", account_id=("a1", "a2")[number % 2])
            dynamodb.put_item(TableName=LEDGER, Item=poison)
        given.entry("last", "charge", "0.5", account_id="a1")
        aws.pump()

        def reason(poison: dict[str, Any]) -> str | None:
            stored = dynamodb.get_item(TableName=LEDGER, ConsistentRead=True, Key={
                "account_key": poison["account_key"], "entry_id": poison["entry_id"]})["Item"]
            return stored.get("rejected_reason", {}).get("S")

        yield aws, reason


@pytest.mark.parametrize("case, poison, expected", POISON, ids=[case for case, *_ in POISON])
def test_a_poison_record_is_recorded_with_its_reason(drained, case, poison, expected):
    _, reason = drained
    recorded = reason(poison)
    assert recorded is not None, f"{case}: no rejected_reason"
    assert expected.lower() in recorded.lower(), recorded


def test_poison_records_block_neither_their_shard_nor_other_entries(drained):
    aws, _ = drained
    # Every valid entry around them was applied, on both accounts (ok0, ok2, ... on a1)
    on_a1 = (len(POISON) + 1) // 2
    assert given.balance(account_id="a1") == Decimal("1.01") * on_a1 - Decimal("0.5")
    assert given.balance(account_id="a2") == Decimal("1.01") * (len(POISON) - on_a1)
    # and no batch was reported back or dropped
    assert all(not d.failed and not d.error for d in aws.deliveries("OnUsageFunction"))
    assert aws.failed_batches("OnUsageFunction") == []


def test_an_entry_in_another_currency_is_rejected_and_the_accounts_own_is_applied(harness):
    # Given a USD account, and ledger items written around the API (which refuses a
    # currency other than the account's with 422): one in EUR between two in USD. (An
    # account of its own: the module's ``drained`` world may still be in moto.)
    given.tenant()
    given.account(account_id="a3", currency="USD")
    dynamodb = harness.aws.client("dynamodb")
    for entry_id, currency, amount in (("usd-1", "USD", "7"), ("eur", "EUR", "10"),
                                       ("usd-2", "USD", "3")):
        dynamodb.put_item(TableName=LEDGER, Item=item(
            entry_id, account="a3", currency={"S": currency}, amount={"N": amount}))
    # When the stream is drained
    harness.aws.pump()
    # Then the EUR item is recorded with its reason and skipped, the USD ones applied,
    # and nothing went back to Lambda
    assert given.balance(account_id="a3") == Decimal(10)

    def reason(entry_id: str) -> str | None:
        stored = dynamodb.get_item(TableName=LEDGER, ConsistentRead=True, Key={
            "account_key": {"S": "t1#a3"}, "entry_id": {"S": entry_id}})["Item"]
        return stored.get("rejected_reason", {}).get("S")

    assert reason("eur") == "currency EUR is not the account's currency USD"
    assert reason("usd-1") is None and reason("usd-2") is None
    assert all(not d.failed and not d.error for d in harness.aws.deliveries("OnUsageFunction"))
    # And the history shows the refusal to the tenant
    history = harness.aws.api("GET", "/accounts/a3/entries").body["entries"]
    assert {e["entry_id"]: e["rejected_reason"] for e in history} == {
        "usd-2": None, "eur": "currency EUR is not the account's currency USD", "usd-1": None}
