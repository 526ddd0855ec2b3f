"""Section 5: what periodic_scan reads, against a scan of the whole Accounts table.

The Accounts table gets 10,000 accounts, then 90,000 more for 100,000, stored straight
in moto's DynamoDB backend (``_fill``: the items a BatchWriteItem would carry, the first
of each fill through moto's ``Table.put_item`` and checked equal to the rest's build).
One account in a hundred is at risk, with ``watch`` set exactly as on_usage sets it: a
balance below the profile's threshold with a notified episode whose reminders are not
used up, so ``needs_watch`` is true, and ``watch = watch_shard(tenant, account,
WATCH_SHARDS)``; the others are healthy and carry no ``watch``. The scan runs at a time
when no reminder is due yet, so neither side writes (asserted): what is compared is the
reading and the evaluation.

- ours: the PeriodicScanFunction handler (a Query of the sparse WatchIndex per shard).
- full-table Scan: every item of AccountsTable through ``AccountItem.scan()`` (pynamodb
  follows LastEvaluatedKey, 1 MB pages), each evaluated by the same ``decide``.

Both go through pynamodb -> botocore -> moto as in production. Items read are
DynamoDB's own counts, from the requests' responses (what the bill follows). Times are
on moto, whose index Query walks the whole table in memory (DynamoDB reads only the
index partition), so the time ratio on moto understates the real one. Harness costs
taken out, each checked to leave the responses unchanged: moto's generic response
serializer (``plain_json_reads``, ~3 ms per item returned), moto's re-sort of the
whole table and walk to ExclusiveStartKey on every page (``sorted_once``: a full Scan
costs O(n^2) on moto without it), and the garbage collector walking moto's stored
table (frozen after each fill). If a size does not fit the time left, the largest size
that fits (projected from the measured rates) is measured instead, and labelled so.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from local import cfn
from local.runtime import REGION

from .workload import (
    check_plain_json_reads,
    load_average,
    local_aws,
    measured,
    median,
    plain_json_reads,
)

SIZES = (10_000, 100_000)
AT_RISK_EVERY = 100  # 1 %
OURS_RUNS = 3
SAFETY = 1.2  # on the projected time of the next size
GROWTH = 1.15  # the measurements' time grows as n**GROWTH (seen: n**0.9 to n**1.18)
CHECK_SHARE = 0.1  # check_sorted_once at a larger size, as a share of the measurements
FIRST_SIZE_SECONDS = 60.0  # what 10,000 accounts take on a busy 2-core machine
VALIDATED = 2 * AT_RISK_EVERY  # accounts of each fill stored through Table.put_item
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


def _build(table: Any, attrs: dict[str, Any]) -> Any:
    """The item moto's ``Table.put_item`` stores for ``attrs`` (``Item(hash, range,
    attrs)``), built without ``LimitedSizeDict``'s size check on every attribute (an
    item of ~400 bytes, far below 400 KB: ``_fill`` checks it on moto's own path)."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    item = Item.__new__(Item)
    item.hash_key = DynamoType(attrs[table.hash_key_attr])
    item.range_key = DynamoType(attrs[table.range_key_attr])
    item.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.__init__(item.attrs)
    for name, value in attrs.items():
        dict.__setitem__(item.attrs, name, DynamoType(value))
    return item


def _backend() -> Any:
    """moto's DynamoDB backend behind the local AWS (the account moto gives the fake
    credentials)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]


def _fill(start: int, stop: int) -> dict[str, Any]:
    """Store accounts [start, stop) in moto's Accounts table, in its backend.

    Each item is the wire-format item a BatchWriteItem would carry (the serialized
    AccountItem, keys and ``watch`` set per account). The first ``VALIDATED`` go through
    moto's ``Table.put_item`` (key types, attribute types, key and item sizes), and each
    must equal what ``_build`` makes of the same item; the rest are built by ``_build``
    and stored where ``put_item`` stores them. Only the time of the load changes: what
    the scans read is the same table."""
    from balance_alerts.adapters.settings import settings
    from balance_alerts.domain.watch import watch_shard

    table = _backend().get_table(cfn.physical_name("AccountsTable"))
    # put_item would also feed the table's stream; the Accounts table has none.
    assert table.stream_shard is None and table.range_key_attr == "account_id"
    healthy, at_risk = (json.dumps(item) for item in _templates())
    shards = settings().watch_shards
    validated = 0
    for number in range(start, stop):
        account_id = f"acct-{number:06d}"
        risky = number % AT_RISK_EVERY == 0
        attrs = json.loads(at_risk if risky else healthy)
        attrs["account_id"] = {"S": account_id}
        attrs["account_key"] = {"S": f"{TENANT}#{account_id}"}
        if risky:
            attrs["watch"] = {"N": str(watch_shard(TENANT, account_id, shards))}
        item = _build(table, attrs)
        if number - start < VALIDATED:
            stored = table.put_item(attrs)
            assert stored == item and stored.to_json() == item.to_json(), account_id
            validated += 1
        else:
            assert item.range_key not in table.items[item.hash_key], account_id
            table.items[item.hash_key][item.range_key] = item
    return {"accounts": stop - start, "through_put_item": validated}


# ------------------------------------------------------------------ moto's paging
@contextmanager
def sorted_once() -> Iterator[None]:
    """Take moto's per-page re-sort and walk out of Scan and Query paging.

    For every Scan or Query page, moto lists every item of the table and sorts them
    (``Table.all_items``), then walks from the first item to the page's
    ExclusiveStartKey (``_item_comes_before_dct``, building two ``DynamoType`` per item
    passed): each page costs O(n), so reading n items in 1 MB pages costs O(n^2 / page)
    on moto, where DynamoDB's cost is O(n). Inside this block each table's sorted list
    is made once and kept (dropped whenever an item is put or deleted, or the count
    changes), and a Scan of the table (no index, no segment) starts at ExclusiveStartKey
    by bisection in that order. Everything else in a page is moto's own: the 1 MB and
    ``Limit`` cut, filters, the copy of each item returned, its serialization; pages,
    items and LastEvaluatedKey are the same (``check_sorted_once``). A Query of the
    WatchIndex still walks the whole table (moto keeps no index).
    """
    import bisect
    import inspect

    from moto.dynamodb.models.table import Table

    original_all, original_scan = Table.all_items, Table.scan
    original_put, original_delete = Table.put_item, Table.delete_item
    scan_signature = inspect.signature(original_scan)
    kept: dict[int, tuple[Any, list[Any]]] = {}  # id(table) -> (table, sorted items)
    start_at: dict[int, list[Any]] = {}  # id(table) -> the items the next scan walks

    def count(table: Any) -> int:
        if table.range_key_attr:
            return sum(len(items) for items in table.items.values())
        return len(table.items)

    def in_order(table: Any) -> list[Any]:
        entry = kept.get(id(table))
        if entry is None or entry[0] is not table or len(entry[1]) != count(table):
            entry = kept[id(table)] = (table, original_all(table))
        return entry[1]

    def all_items(self: Any) -> list[Any]:
        rest = start_at.pop(id(self), None)
        return rest if rest is not None else list(in_order(self))

    def key(item: Any) -> tuple[Any, ...]:
        return (item.hash_key, item.range_key) if item.range_key else (item.hash_key,)

    def scan(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = scan_signature.bind(self, *args, **kwargs)
        call.apply_defaults()
        given = call.arguments
        start = given["exclusive_start_key"]
        if start is None or given["index_name"] or tuple(given["segments"]) != (None, None):
            return original_scan(*call.args, **call.kwargs)
        from moto.dynamodb.models.dynamo_type import DynamoType

        after = (DynamoType(start[self.hash_key_attr]),)
        if self.range_key_attr:
            after += (DynamoType(start[self.range_key_attr]),)
        items = in_order(self)
        start_at[id(self)] = items[bisect.bisect_right(items, after, key=key):]
        given["exclusive_start_key"] = None  # the items before it are already left out
        try:
            return original_scan(*call.args, **call.kwargs)
        finally:
            start_at.pop(id(self), None)

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        kept.pop(id(self), None)
        return original_put(self, *args, **kwargs)

    def delete_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        kept.pop(id(self), None)
        return original_delete(self, *args, **kwargs)

    Table.all_items, Table.scan = all_items, scan  # type: ignore[method-assign]
    Table.put_item, Table.delete_item = put_item, delete_item  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.all_items, Table.scan = original_all, original_scan  # type: ignore[method-assign]
        Table.put_item, Table.delete_item = original_put, original_delete  # type: ignore
        kept.clear()


def check_sorted_once(every_page: bool) -> dict[str, Any]:
    """Fail unless moto answers the same with and without ``sorted_once``.

    Scan pages of the Accounts table, read from moto's backend as its Scan handler
    reads them: the same items, equal and in the same order, and LastEvaluatedKey.
    ``every_page``: the whole table page by page both ways (timed); else three pages:
    from the start, from the middle and from ten items before the end. And the list a
    Query walks (``all_items``, all that ``sorted_once`` changes for a Query): the same
    item objects in the same order."""
    backend = _backend()
    name = cfn.physical_name("AccountsTable")
    table = backend.get_table(name)
    listed = [id(item) for item in table.all_items()]
    with sorted_once():
        table.all_items()
        if [id(item) for item in table.all_items()] != listed:
            raise AssertionError("sorted_once changes the items a moto Query walks")
    del listed
    Start = dict[str, Any] | None

    def page(start: Start) -> tuple[list[Any], Start]:
        items, _, last = backend.scan(name, {}, None, start, None, {}, {}, None, False,
                                      None, (None, None))
        return items, None if last is None else {k: v.to_json() for k, v in last.items()}

    def walk() -> tuple[list[tuple[Start, list[Any], Start]], float]:
        pages: list[tuple[Start, list[Any], Start]] = []
        started, start = time.perf_counter(), None
        while True:
            items, last = page(start)
            pages.append((start, items, last))
            if last is None:
                return pages, time.perf_counter() - started
            start = last

    moto_seconds = kept_seconds = None
    if every_page:
        with sorted_once():
            ours, kept_seconds = walk()
        theirs, moto_seconds = walk()
    else:
        in_order = table.all_items()
        starts: list[Start] = [None] + [
            {table.hash_key_attr: in_order[i].hash_key.to_json(),
             table.range_key_attr: in_order[i].range_key.to_json()}
            for i in (len(in_order) // 2, len(in_order) - 10)]
        del in_order
        theirs = [(start, *page(start)) for start in starts]
        with sorted_once():
            ours = [(start, *page(start)) for start in starts]
    if len(theirs) != len(ours) or any(
            mine != other for mine, other in zip(ours, theirs)):
        raise AssertionError("sorted_once changes a moto Scan page")
    return {"pages_compared": len(ours), "items_compared": sum(len(p[1]) for p in ours),
            "every_page": every_page, "seconds_moto_paging": moto_seconds,
            "seconds_sorted_once": kept_seconds}


def full_table_scan(as_of: datetime) -> dict[str, int]:
    """The alternative without the index: read every account, evaluate each."""
    from balance_alerts.adapters.tables import AccountItem
    from balance_alerts.services.periodic_scan import decide

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
    # moto's sorted list of the table is made here, outside what is measured.
    _backend().get_table(cfn.physical_name("AccountsTable")).all_items()
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
    assert not full.writes_by_table and not any(r.writes_by_table for r in ours_runs)

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
            "moto_wall_s": median([run.clock.server_wall for run in ours_runs]),
            "handler_cpu_s": ours_cpu,
            "runs": OURS_RUNS,
        },
        "full_table_scan": {
            "items_read": full.reads_by_table[accounts_table],
            "items_read_all_tables": full.items_read(),
            "requests": full.requests(),
            "calls": full.calls(),
            "wall_s_on_moto": full.clock.wall,
            "moto_wall_s": full.clock.server_wall,
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
    checked = 0
    try:
        with local_aws() as aws:
            config_store.put_doc(TENANT, "settings", {
                "name": "Acme Energy", "from_email": "billing@acme.test",
                "staff_emails": ["ops@acme.test"], "default_currency": "USD",
                "default_profile_id": "reminding"})
            config_store.put_doc(TENANT, "profile#reminding", PROFILE)
            config_store.load_tenant(TENANT)
            written, fill_rate, measure_seconds = 0, None, None
            for wanted in SIZES:
                size = wanted
                left = budget_seconds - (time.perf_counter() - started)
                if not written and left < FIRST_SIZE_SECONDS:
                    size = SMALLEST
                    notes.append(f"only {left:.0f} s were left: measured at {size:,} "
                                 f"instead of {wanted:,}")
                elif fill_rate is not None and measure_seconds is not None:
                    def cost(n: int) -> float:
                        return SAFETY * ((n - written) * fill_rate + (1 + CHECK_SHARE)
                                         * measure_seconds * (n / written) ** GROWTH)

                    if cost(wanted) > left:
                        size = written
                        while size + 10_000 <= wanted and cost(size + 10_000) <= left:
                            size += 10_000
                        notes.append(
                            f"{wanted:,} accounts would take about {cost(wanted):.0f} s on "
                            f"this machine now (projected), {left:.0f} s were left: "
                            + (f"measured at {size:,} instead" if size > written
                               else "not measured"))
                        if size <= written:
                            break
                size_started = time.perf_counter()
                fill = _fill(written, size)
                # The stored table is moto's, not the function's: keep the collector
                # from walking its millions of objects during the measurements.
                gc.collect()
                gc.freeze()
                fill["seconds"] = time.perf_counter() - size_started
                fill_rate = fill["seconds"] / (size - written)
                if not written:
                    checked = _check_reads(aws.client("dynamodb"))
                paging = check_sorted_once(every_page=not written)
                paging["seconds"] = time.perf_counter() - size_started - fill["seconds"]
                written = size
                measure_started = time.perf_counter()
                with plain_json_reads(), sorted_once():
                    result = _measure(aws, size)
                measure_seconds = time.perf_counter() - measure_started
                result["requested_accounts"] = wanted
                result["fill"] = fill
                result["check_sorted_once"] = paging
                result["measure_seconds"] = measure_seconds
                result["seconds"] = time.perf_counter() - size_started
                result["load_average_after"] = load_average()
                results.append(result)
    finally:
        gc.unfreeze()
    return {
        "plain_json_reads_checked_items": checked if results else 0,
        "sizes": results,
        "notes": notes,
        "all_sizes_measured": [r["accounts"] for r in results] == list(SIZES),
        "seconds": time.perf_counter() - started,
    }
