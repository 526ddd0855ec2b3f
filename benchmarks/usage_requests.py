"""Sections 1 and 2: on_usage against the Powertools-docs comparator, on the same
batches of 100 ledger records spread over 1, 10 and 100 accounts.

Both run in one moto, on two tenants with the same configuration and the same account
ids, one batch after the other (alternating which goes first). Per batch: DynamoDB
requests (local.metering), and the handler's CPU (time.process_time) without the time
moto spends serving the requests. After the batches, every balance must be the same
in both tenants and equal to the exact sum of the entries. Then the last batch is
delivered again (a stream redelivery) to both.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from local import cfn
from tests import builders

from .workload import Sequence, context, item_record, local_aws, measured, median

RECORDS_PER_BATCH = 100
ACCOUNT_COUNTS = (1, 10, 100)
BATCHES = 3  # measured batches per scenario (medians over them)
OURS, THEIRS = "t-ours", "t-docs"
OPENING_BALANCE = Decimal("10000.00")



def _entry(index: int) -> tuple[str, Decimal]:
    """A mix of charges with awkward decimals and an occasional credit."""
    if index % 10 == 9:
        return "credit", Decimal("25.00")
    return "charge", Decimal(index % 7 + 1) * Decimal("0.37")


def _batch(tenant_id: str, batch: int, accounts: int, sequence: Sequence,
           start: datetime) -> list[dict[str, Any]]:
    from balance_alerts.adapters.tables import LedgerItem, account_key

    records = []
    for index in range(RECORDS_PER_BATCH):
        account_id = f"a{index % accounts:03d}"
        entry_id = f"b{batch}-e{index:03d}"
        kind, amount = _entry(index)
        moment = (start + timedelta(seconds=batch * RECORDS_PER_BATCH + index)).isoformat()
        item = LedgerItem(
            account_key(tenant_id, account_id), entry_id,
            recorded_seq=f"{moment}#{entry_id}", tenant_id=tenant_id, account_id=account_id,
            kind=kind, amount=amount, currency="USD", occurred_at=moment, recorded_at=moment,
            body_hash=entry_id, actor="billing-system", description="Metered usage",
        )
        records.append(item_record(item, "LedgerTable", sequence.next()))
    return records


def _expected_balances(accounts: int, batches: int) -> dict[str, Decimal]:
    balances = {f"a{n:03d}": OPENING_BALANCE for n in range(accounts)}
    for _ in range(batches):
        for index in range(RECORDS_PER_BATCH):
            kind, amount = _entry(index)
            key = f"a{index % accounts:03d}"
            balances[key] += amount if kind == "credit" else -amount
    return balances


def _seed(tenant_id: str, accounts: int) -> None:
    """The tests' tenant (standard profile: a low rule with recovery, an empty rule) and
    accounts, each opened with OPENING_BALANCE."""
    from balance_alerts.adapters import config_store

    builders.tenant(tenant_id)
    for number in range(accounts):
        builders.account(tenant_id, f"a{number:03d}", balance=OPENING_BALANCE)
    config_store.load_tenant(tenant_id)  # a warm container has its config cached


def _invoke(aws: Any, which: str, event: dict[str, Any]) -> dict[str, Any]:
    from . import comparator

    with measured() as run:
        if which == "ours":
            response = aws.invoke("OnUsageFunction", event)
        else:
            response = comparator.lambda_handler(event, context("OnUsageFunction"))
    failures = (response or {}).get("batchItemFailures", [])
    if failures:
        raise RuntimeError(f"{which}: {len(failures)} records failed: {failures[:3]}")
    return {
        "requests": run.requests(),
        "calls": run.calls(),
        "writes_by_table": dict(run.writes_by_table),
        "handler_cpu_s": run.clock.handler_cpu,
        "cpu_with_moto_s": run.clock.cpu,
        "wall_s": run.clock.wall,
    }


def _scenario(accounts: int) -> dict[str, Any]:
    from balance_alerts.adapters.tables import AccountItem

    from . import comparator

    start = datetime.now(timezone.utc) - timedelta(hours=1)
    with local_aws() as aws:
        comparator.create_idempotency_table(aws.client("dynamodb"))
        _seed(OURS, accounts)
        _seed(THEIRS, accounts)
        sequence = Sequence()
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "comparator": []}
        events: dict[str, dict[str, Any]] = {}
        for batch in range(BATCHES):
            events = {
                "ours": {"Records": _batch(OURS, batch, accounts, sequence, start)},
                "comparator": {"Records": _batch(THEIRS, batch, accounts, sequence, start)},
            }
            order = ["ours", "comparator"] if batch % 2 == 0 else ["comparator", "ours"]
            for which in order:
                runs[which].append(_invoke(aws, which, events[which]))

        expected = _expected_balances(accounts, BATCHES)
        ours = {account_id: AccountItem.get(OURS, account_id, consistent_read=True).balance
                for account_id in expected}
        theirs = {account_id: AccountItem.get(THEIRS, account_id, consistent_read=True).balance
                  for account_id in expected}
        assert ours == expected, "on_usage balances differ from the sum of the entries"
        assert theirs == expected, "comparator balances differ from the sum of the entries"

        # The platform delivers the last batch again (it may, within 24 h).
        redelivered = {which: _invoke(aws, which, events[which]) for which in events}
        after = {account_id: AccountItem.get(OURS, account_id, consistent_read=True).balance
                 for account_id in expected}
        assert after == expected, "a redelivered batch changed a balance"

    accounts_table = cfn.physical_name("AccountsTable")

    def summary(which: str) -> dict[str, Any]:
        batches = runs[which]
        return {
            "requests_per_batch": median([b["requests"] for b in batches]),
            "requests_per_record": median([b["requests"] for b in batches]) / RECORDS_PER_BATCH,
            "calls_per_batch": batches[-1]["calls"],
            "account_writes_per_account_per_batch":
                batches[-1]["writes_by_table"].get(accounts_table, 0) / accounts,
            "idempotency_writes_per_record":
                batches[-1]["writes_by_table"].get(comparator.IDEMPOTENCY_TABLE, 0)
                / RECORDS_PER_BATCH,
            "writes_by_table_per_batch": batches[-1]["writes_by_table"],
            "handler_cpu_ms_per_record": 1000 * median(
                [b["handler_cpu_s"] for b in batches]) / RECORDS_PER_BATCH,
            "cpu_with_moto_ms_per_record": 1000 * median(
                [b["cpu_with_moto_s"] for b in batches]) / RECORDS_PER_BATCH,
            "redelivered_requests_per_record":
                redelivered[which]["requests"] / RECORDS_PER_BATCH,
            "redelivered_calls": redelivered[which]["calls"],
        }

    ours_summary, theirs_summary = summary("ours"), summary("comparator")
    return {
        "accounts": accounts,
        "records_per_batch": RECORDS_PER_BATCH,
        "batches": BATCHES,
        "balances_match": True,
        "ours": ours_summary,
        "comparator": theirs_summary,
        "request_ratio": theirs_summary["requests_per_batch"] / ours_summary["requests_per_batch"],
        "cpu_ratio": theirs_summary["handler_cpu_ms_per_record"]
        / ours_summary["handler_cpu_ms_per_record"],
        "cpu_with_moto_ratio": theirs_summary["cpu_with_moto_ms_per_record"]
        / ours_summary["cpu_with_moto_ms_per_record"],
    }


def run() -> dict[str, Any]:
    scenarios = [_scenario(accounts) for accounts in ACCOUNT_COUNTS]
    at_ten = next(s for s in scenarios if s["accounts"] == 10)
    return {
        "scenarios": scenarios,
        "target": "at 100 records over 10 accounts: >= 20x fewer DynamoDB requests",
        "target_met": at_ten["request_ratio"] >= 20,
    }
