"""Money stays exact up to DynamoDB's 38 significant digits; an entry whose result cannot
be stored exactly is a poison record (rejected with its reason), never a rounded balance
or a batch retried until it is dropped."""

from __future__ import annotations

from decimal import Decimal, localcontext

from tests import builders as given

LEDGER = "balance-alerts-LedgerTable"


def reason(aws, entry_id: str, account_id: str = "a1") -> str | None:
    stored = aws.client("dynamodb").get_item(TableName=LEDGER, ConsistentRead=True, Key={
        "account_key": {"S": f"t1#{account_id}"}, "entry_id": {"S": entry_id}})["Item"]
    return stored.get("rejected_reason", {}).get("S")


def test_amounts_up_to_38_significant_digits_are_applied_exactly(harness):
    given.tenant()
    given.account()
    given.entry("wide", "credit", "1234567890.1234567890123456789012345")  # 35 digits
    given.entry("tiny", "charge", "0.0000000000000000000000000001")
    harness.aws.pump()
    with localcontext() as exact:
        exact.prec = 100
        expected = (Decimal("1234567890.1234567890123456789012345")
                    - Decimal("0.0000000000000000000000000001"))
    assert given.balance() == expected


def test_an_entry_whose_balance_would_need_39_digits_is_rejected_not_rounded(harness):
    given.tenant()
    given.account()
    given.account(account_id="a2")
    given.entry("max", "credit", "9" * 38)
    given.entry("over", "credit", "0.5")  # 99...9.5: 39 significant digits
    given.entry("fine", "charge", "1")
    given.entry("other", "credit", "2", account_id="a2")
    harness.aws.pump()
    with localcontext() as exact:
        exact.prec = 100
        assert given.balance() == Decimal("9" * 38) - 1
    assert "39 significant digits" in (reason(harness.aws, "over") or "")
    assert given.balance(account_id="a2") == 2
    assert harness.aws.failed_batches("OnUsageFunction") == []
