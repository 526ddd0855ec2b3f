"""Section 5: what periodic_scan reads, against a scan of the whole Accounts table.

The Accounts table is filled with BatchWriteItem (25 items a request) straight into
moto: 10,000 accounts, then 90,000 more for 100,000. One account in a hundred is at
risk, with ``watch`` set exactly as on_usage sets it: a balance below the profile's
threshold with a notified episode whose reminders are not used up, so ``needs_watch``
is true, and ``watch = watch_shard(tenant, account, WATCH_SHARDS)``; the others are
healthy and carry no ``watch``. The scan runs at a time when no reminder is due yet,
so neither side writes: what is compared is the reading and the evaluation.

- ours: the PeriodicScanFunction handler (a Query of the sparse WatchIndex per shard).
- full-table Scan: every item of AccountsTable through ``AccountItem.scan()``, each
  evaluated by the same pure ``evaluate_account`` + ``needs_watch``.

Items read are DynamoDB's own counts (what the bill follows). Times are on moto, whose
index Query walks the whole table in memory (DynamoDB reads only the index partition),
so the time ratio on moto understates the real one; both sides read through
``plain_json_reads`` (moto's generic response serializer would otherwise cost ~3 ms
per item returned, which is harness time, not DynamoDB's nor the function's). If a size
does not fit the time left, the largest size that fits is measured instead, and
labelled so.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config

from local import cfn
from local.runtime import REGION

from .workload import check_plain_json_reads, local_aws, measured, median, plain_json_reads

SIZES = (10_000, 100_000)
AT_RISK_EVERY = 100  # 1 %
OURS_RUNS = 3
SAFETY = 1.2  # on the projected time of the next size
FIRST_SIZE_SECONDS = 90.0  # what 10,000 accounts take on a busy 2-core machine
SMALLEST = 2_000
TENANT = "t-scan"
AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
PROFILE = {
    "name": "Reminding",
    "reminder_every_hours": 24,
    "max_reminders": 2,
    "rules": [{"id": "low", "type": "balance_below", "threshold": "20.00",
               "notify": ["customer", "staff"], "notify_recovery": True}],
}


def _templates() -> tuple[dict[str, Any], dict[str, Any]]:
    """Serialized account items: (healthy, at risk), checked against needs_watch."""
    from balance_alerts.adapters import accounts
    from balance_alerts.adapters.tables import AccountItem, account_key
    from balance_alerts.domain.profiles import profile_from_dict
    from balance_alerts.domain.watch import needs_watch

    profile = profile_from_dict("reminding", PROFILE)
    common = {"created_at": "2026-10-01T00:00:00+00:00", "version": 7,
              "last_charge_at": "2026-11-19T08:00:00+00:00",
              "first_charge_at": "2026-10-02T08:00:00+00:00",
              "name": "Customer", "email": "customer@customer.test"}
    healthy = AccountItem(
        TENANT, "healthy", account_key=account_key(TENANT, "healthy"),
        balance=Decimal("180.00"), applied={},
        latches={"low": {"episode": 1, "open": False, "notified": False, "reminders": 0,
                         "last_notice_at": "2026-11-01T10:00:00+00:00", "marks": []}},
        **common)
    at_risk = AccountItem(
        TENANT, "at-risk", account_key=account_key(TENANT, "at-risk"),
        balance=Decimal("12.40"), applied={}, watch=0,
        latches={"low": {"episode": 2, "open": True, "notified": True, "reminders": 0,
                         "last_notice_at": (AS_OF - timedelta(hours=3)).isoformat(),
                         "marks": []}},
        **common)
    assert not needs_watch(accounts.state_of(healthy), profile, AS_OF)
    assert needs_watch(accounts.state_of(at_risk), profile, AS_OF)
    return healthy.serialize(), at_risk.serialize()


def _fill(client: Any, start: int, stop: int) -> int:
    """Write accounts [start, stop) with BatchWriteItem; returns the requests made."""
    from balance_alerts.adapters.settings import watch_shards
    from balance_alerts.domain.watch import watch_shard

    healthy, at_risk = _templates()
    table = cfn.physical_name("AccountsTable")
    shards = watch_shards()
    requests = 0
    batch: list[dict[str, Any]] = []
    for number in range(start, stop):
        account_id = f"acct-{number:06d}"
        risky = number % AT_RISK_EVERY == 0
        item = dict(at_risk if risky else healthy)
        item["account_id"] = {"S": account_id}
        item["account_key"] = {"S": f"{TENANT}#{account_id}"}
        if risky:
            item["watch"] = {"N": str(watch_shard(TENANT, account_id, shards))}
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25 or number == stop - 1:
            pending: dict[str, Any] = {table: batch}
            while pending:
                requests += 1
                pending = client.batch_write_item(RequestItems=pending).get(
                    "UnprocessedItems") or {}
            batch = []
    return requests


def full_table_scan(as_of: datetime) -> dict[str, int]:
    """The alternative without the index: read every account, evaluate each."""
    from balance_alerts.adapters.tables import AccountItem
    from balance_alerts.scan import decide

    read = due = 0
    for item in AccountItem.scan():
        read += 1
        decision = decide(item, as_of)
        if decision.notices or decision.watch != item.watch:
            due += 1
    return {"accounts_read": read, "would_write": due}


def _check_reads(client: Any) -> int:
    """The fast read path parses to the same responses as moto's own serializer."""
    table = cfn.physical_name("AccountsTable")
    checked = check_plain_json_reads(client, "scan", TableName=table, Limit=200)
    checked += check_plain_json_reads(client, "scan", TableName=cfn.physical_name("ConfigTable"))
    for shard in range(2):
        checked += check_plain_json_reads(
            client, "query", TableName=table, IndexName="WatchIndex",
            KeyConditionExpression="#w = :w", ExpressionAttributeNames={"#w": "watch"},
            ExpressionAttributeValues={":w": {"N": str(shard)}})
    return checked


def _measure(aws: Any, size: int) -> dict[str, Any]:
    ours_runs = []
    for _ in range(OURS_RUNS):
        with measured() as run:
            report = aws.scan(at=AS_OF)
        ours_runs.append(run)
    assert report["accounts_read"] == size // AT_RISK_EVERY, report
    assert report["accounts_written"] == 0 and report["errors"] == 0, report
    with measured() as full:
        outcome = full_table_scan(AS_OF)
    assert outcome["accounts_read"] == size and outcome["would_write"] == 0, outcome

    last = ours_runs[-1]
    accounts_table = cfn.physical_name("AccountsTable")
    ours_wall = median([run.clock.wall for run in ours_runs])
    ours_cpu = median([run.clock.handler_cpu for run in ours_runs])
    return {
        "accounts": size,
        "at_risk": size // AT_RISK_EVERY,
        "ours": {
            "items_read": last.reads_by_table[accounts_table],
            "items_read_all_tables": last.items_read(),
            "requests": last.requests(),
            "calls": last.calls(),
            "wall_s_on_moto": ours_wall,
            "handler_cpu_s": ours_cpu,
            "runs": OURS_RUNS,
        },
        "full_table_scan": {
            "items_read": full.reads_by_table[accounts_table],
            "items_read_all_tables": full.items_read(),
            "requests": full.requests(),
            "calls": full.calls(),
            "wall_s_on_moto": full.clock.wall,
            "handler_cpu_s": full.clock.handler_cpu,
            "runs": 1,
        },
        "items_read_ratio": full.reads_by_table[accounts_table]
        / max(1, last.reads_by_table[accounts_table]),
        "wall_ratio_on_moto": full.clock.wall / ours_wall if ours_wall else None,
        "handler_cpu_ratio": full.clock.handler_cpu / ours_cpu if ours_cpu else None,
    }


def run(budget_seconds: float = 330.0) -> dict[str, Any]:
    from balance_alerts.adapters import config_store

    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    notes: list[str] = []
    with local_aws() as aws:
        client = boto3.client("dynamodb", region_name=REGION,
                              config=Config(parameter_validation=False))
        config_store.put_doc(TENANT, "settings", {
            "name": "Acme Energy", "from_email": "billing@acme.test",
            "staff_emails": ["ops@acme.test"], "default_currency": "USD",
            "default_profile_id": "reminding"})
        config_store.put_doc(TENANT, "profile#reminding", PROFILE)
        config_store.load_tenant(TENANT)
        written, write_rate, scan_seconds, checked = 0, None, None, 0
        for wanted in SIZES:
            size = wanted
            left = budget_seconds - (time.perf_counter() - started)
            if not written and left < FIRST_SIZE_SECONDS:
                size = SMALLEST
                notes.append(f"only {left:.0f} s were left: measured at {size:,} "
                             f"instead of {wanted:,}")
            elif write_rate is not None and scan_seconds is not None:
                def cost(n: int) -> float:  # moto's reads grow as n**1.5 (pages x table)
                    return SAFETY * ((n - written) * write_rate
                                     + scan_seconds * (n / written) ** 1.5)

                if cost(wanted) > left:
                    size = written
                    while size + 10_000 <= wanted and cost(size + 10_000) <= left:
                        size += 10_000
                    notes.append(
                        f"{wanted:,} accounts would take about {cost(wanted):.0f} s on this "
                        f"machine now, {left:.0f} s were left: "
                        + (f"measured at {size:,} instead" if size > written
                           else "not measured"))
                    if size <= written:
                        break
            fill_started = time.perf_counter()
            requests = _fill(client, written, size)
            fill_seconds = time.perf_counter() - fill_started
            write_rate = fill_seconds / (size - written)
            if not written:
                checked = _check_reads(aws.client("dynamodb"))
            written = size
            with plain_json_reads():
                result = _measure(aws, size)
            result["requested_accounts"] = wanted
            result["fill"] = {"batch_write_requests": requests, "seconds": fill_seconds}
            scan_seconds = (result["full_table_scan"]["wall_s_on_moto"]
                            + OURS_RUNS * result["ours"]["wall_s_on_moto"])
            results.append(result)
    return {
        "plain_json_reads_checked_items": checked if results else 0,
        "sizes": results,
        "notes": notes,
        "all_sizes_measured": [r["accounts"] for r in results] == list(SIZES),
    }
