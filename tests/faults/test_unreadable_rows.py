"""One row that cannot be read never makes a history unreadable.

Ledger and notice items written around the API (by hand, a migration, a bug) with an
attribute of the wrong type used to make ``GET .../entries`` (or ``.../notices``,
``.../packages``) a 500 for the whole account: pynamodb raises while mapping the query's
items. Now such a row is skipped - logged with its key, counted in
``LedgerRowsUnreadable`` / ``NoticeRowsUnreadable`` - and the rest is served; paging
walks past it. Rows are written raw with boto3, as in test_poison_records.py.
"""

from __future__ import annotations

import io
import json
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

LEDGER = "balance-alerts-LedgerTable"
NOTICES = "balance-alerts-NoticesTable"
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
ENTRIES = "/accounts/a1/entries"


def at(second: int) -> str:
    return (T0 + timedelta(seconds=second)).isoformat()


def ledger_item(entry_id: str, second: int, **fields: Any) -> dict[str, Any]:
    """A ledger item as DynamoDB JSON (a valid credit of 1 recorded at ``second``), with
    ``fields`` replaced (attribute values; None removes one)."""
    values: dict[str, Any] = {
        "account_key": {"S": "t1#a1"}, "entry_id": {"S": entry_id},
        "recorded_seq": {"S": f"{at(second)}#{entry_id}"}, "tenant_id": {"S": "t1"},
        "account_id": {"S": "a1"}, "kind": {"S": "credit"}, "amount": {"N": "1"},
        "currency": {"S": "USD"}, "occurred_at": {"S": at(second)},
        "recorded_at": {"S": at(second)}, "body_hash": {"S": entry_id},
    }
    values.update(fields)
    return {name: value for name, value in values.items() if value is not None}


def notice_item(notice_key: str, second: int, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "account_key": {"S": "t1#a1"}, "notice_key": {"S": notice_key},
        "created_seq": {"S": f"{at(second)}#{notice_key}"}, "tenant_id": {"S": "t1"},
        "account_id": {"S": "a1"}, "type": {"S": "balance_low"}, "rule_id": {"S": "low"},
        "level": {"S": "20"}, "episode": {"N": "1"}, "reminder": {"N": "0"},
        "audiences": {"L": [{"S": "customer"}]}, "status": {"S": "sent"},
        "created_at": {"S": at(second)},
    }
    values.update(fields)
    return {name: value for name, value in values.items() if value is not None}


#: Ledger items that cannot be read or shown, each with what is wrong with it.
BAD_LEDGER_ROWS = {
    "amount-a-string": {"amount": {"S": "lots"}},
    "amount-a-map": {"amount": {"M": {"value": {"N": "1"}}}},
    "amount-a-boolean": {"amount": {"BOOL": True}},
    "kind-a-number": {"kind": {"N": "3"}},
    "recorded-at-missing": {"recorded_at": None},
    "recorded-at-a-number": {"recorded_at": {"N": "1700000000"}},
    "void-delta-a-list": {"void_delta": {"L": []}},
    "package-a-string": {"package": {"S": "pack"}},
}


@contextmanager
def captured_logs():
    """Everything the functions' Logger writes."""
    from balance_alerts.observability import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    stream = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(stream)


def log_records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def emitted_metrics(text: str) -> dict[str, float]:
    """The values of every EMF metric in ``text`` (stdout), summed by name."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                values = values if isinstance(values, list) else [values]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals


@pytest.fixture
def account(aws, monkeypatch):
    """Given account a1 of tenant t1 (USD); metrics on, as on Lambda."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    response = aws.api("PUT", "/accounts/a1", body={"name": "Ann", "email": "ann@c.test"})
    assert response.status == 201
    return aws


def put(aws, table: str, *items: dict[str, Any]) -> None:
    for item in items:
        aws.client("dynamodb").put_item(TableName=table, Item=item)


def entry_ids(response) -> list[str]:
    assert response.status == 200, response.body
    return [entry["entry_id"] for entry in response.body["entries"]]


# ------------------------------------------------------------------ entries
@pytest.mark.parametrize("case", BAD_LEDGER_ROWS, ids=list(BAD_LEDGER_ROWS))
def test_a_bad_ledger_row_is_skipped_logged_and_counted_and_the_rest_served(
        account, capsys, case):
    # Given three good entries and, between them, one that cannot be read
    put(account, LEDGER, ledger_item("e1", 1), ledger_item("bad", 2, **BAD_LEDGER_ROWS[case]),
        ledger_item("e2", 3), ledger_item("e3", 4))
    capsys.readouterr()
    # When the history is read
    with captured_logs() as logs:
        response = account.api("GET", ENTRIES)
    # Then the good entries are served, newest first, without the bad one
    assert entry_ids(response) == ["e3", "e2", "e1"]
    assert response.body["next_cursor"] is None
    # and the bad one is logged with its key (not its values) and counted
    (record,) = [r for r in log_records(logs) if r["message"] == "unreadable row skipped"]
    assert record["level"] == "ERROR"
    assert record["key"] == {"account_key": "t1#a1", "entry_id": "bad"}
    assert record["table"] == LEDGER
    assert "lots" not in json.dumps(record)
    assert emitted_metrics(capsys.readouterr().out) == {"LedgerRowsUnreadable": 1}


def test_paging_walks_past_bad_rows_whatever_the_page_size(account):
    # Given good entries with bad rows between them, alone and in a run of five
    good = [f"e{n}" for n in range(1, 8)]
    second = 0
    for number, entry_id in enumerate(good):
        second += 1
        put(account, LEDGER, ledger_item(entry_id, second))
        bad_here = 1 if number in (1, 4) else 5 if number == 2 else 0
        for bad in range(bad_here):
            second += 1
            put(account, LEDGER, ledger_item(f"bad{number}-{bad}", second,
                                             amount={"S": "x"}))
    newest_first = list(reversed(good))
    for limit in (1, 2, 3, 7, 100):
        # When the history is read page by page
        seen, cursor, pages = [], None, 0
        while True:
            query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
            response = account.api("GET", ENTRIES, query=query)
            page = entry_ids(response)
            pages += 1
            # Then each page is full but the last (bad rows take no place in a page)
            assert len(page) == min(limit, len(good) - len(seen)), (limit, pages, page)
            seen += page
            cursor = response.body["next_cursor"]
            if cursor is None:
                break
            assert pages <= len(good), "the cursor does not move on"
        # and every good entry comes exactly once, in order, in as few pages as can be
        assert seen == newest_first, limit
        assert pages == -(-len(good) // limit), limit


def test_a_history_of_only_bad_rows_is_empty_not_an_error(account):
    put(account, LEDGER, *(ledger_item(f"bad{n}", n, amount={"S": "x"}) for n in range(3)))
    response = account.api("GET", ENTRIES, query={"limit": "2"})
    assert entry_ids(response) == []
    assert response.body["next_cursor"] is None


def test_an_entry_id_taken_by_a_bad_row_is_a_409_not_a_second_item(account):
    # Given a bad ledger row under the id "bad"
    put(account, LEDGER, ledger_item("bad", 1, amount={"S": "x"}))
    key = {"account_key": {"S": "t1#a1"}, "entry_id": {"S": "bad"}}
    stored = account.client("dynamodb").get_item(TableName=LEDGER, Key=key)["Item"]
    # When a client posts an entry with that id, or voids it
    posted = account.api("POST", ENTRIES, body={"entry_id": "bad", "kind": "credit",
                                                "amount": "1"})
    voided = account.api("POST", ENTRIES, body={"entry_id": "v1", "kind": "void",
                                                "voids": "bad"})
    # Then both are refused as conflicts with what is stored, which stays as it was
    assert posted.status == 409 and "cannot be read" in posted.body["message"]
    assert voided.status == 409 and "cannot be read" in voided.body["message"]
    assert account.client("dynamodb").get_item(TableName=LEDGER, Key=key)["Item"] == stored
    assert entry_ids(account.api("GET", ENTRIES)) == []


def test_a_bad_row_still_counts_as_an_entry_for_a_currency_change(account):
    # Given an account whose only ledger item cannot be read
    put(account, LEDGER, ledger_item("bad", 1, amount={"S": "x"}))
    # When its currency is changed
    response = account.api("PUT", "/accounts/a1", body={"name": "Ann", "currency": "EUR"})
    # Then it is refused as for any account with entries, not a 500
    assert response.status == 409, response.body


# ------------------------------------------------------------------ notices
@pytest.mark.parametrize("bad", [
    {"episode": {"S": "one"}}, {"audiences": {"S": "customer"}}, {"created_at": None},
    {"reminder": {"S": "x"}}, {"type": {"L": []}},
], ids=["episode-a-string", "audiences-a-string", "created-at-missing", "reminder-a-string",
        "type-a-list"])
def test_a_bad_notice_row_is_skipped_and_the_notice_log_served(account, capsys, bad):
    put(account, NOTICES, notice_item("n1", 1), notice_item("bad", 2, **bad),
        notice_item("n2", 3))
    capsys.readouterr()
    response = account.api("GET", "/accounts/a1/notices", query={"limit": "1"})
    assert response.status == 200, response.body
    seen = [n["notice_id"] for n in response.body["notices"]]
    response = account.api("GET", "/accounts/a1/notices",
                           query={"limit": "1", "cursor": response.body["next_cursor"]})
    seen += [n["notice_id"] for n in response.body["notices"]]
    assert seen == ["n2", "n1"]
    assert response.body["next_cursor"] is None
    # counted by each request that met it: the first looked past n2 for a next page
    assert emitted_metrics(capsys.readouterr().out) == {"NoticeRowsUnreadable": 2}


@pytest.mark.parametrize("bad", [{"episode": {"S": "one"}}, {"type": {"L": []}}],
                         ids=["episode-a-string", "type-a-list"])
def test_an_unreadable_pending_notice_never_holds_its_shard_back(account, capsys, bad):
    # Given a pending notice item nobody can read, then a readable pending one
    account.api("PUT", "/settings", body={"from_email": "billing@acme.test"})
    put(account, NOTICES, notice_item("bad", 1, status={"S": "pending"}, **bad),
        notice_item("n2", 2, status={"S": "pending"}))
    capsys.readouterr()
    # When the notices stream is delivered
    account.pump()
    # Then the bad one is skipped (logged and counted, never reported for retry) and the
    # one after it is delivered
    assert not any(d.failed for d in account.deliveries("SendNoticeFunction"))
    item = account.client("dynamodb").get_item(
        TableName=NOTICES, Key={"account_key": {"S": "t1#a1"}, "notice_key": {"S": "n2"}})
    assert item["Item"]["status"]["S"] == "sent"
    assert emitted_metrics(capsys.readouterr().out).get("NoticeRowsUnreadable") == 1


# ----------------------------------------------------------------- packages
def test_a_bad_package_row_is_skipped_and_the_other_packages_served(account, capsys):
    # Given a package bought through the API and applied
    response = account.api("POST", "/accounts/a1/packages", body={
        "package_id": "good", "name": "10 lessons",
        "items": [{"service": "lessons", "quantity": "10", "unit_price": "25"}]})
    assert response.status == 202
    account.pump()
    # and purchases written around the API that cannot be read or shown
    put(account, LEDGER,
        ledger_item("package#bad-type", 1, kind={"S": "package"}, amount=None,
                    package={"S": "oops"}),
        ledger_item("package#bad-items", 2, kind={"S": "package"}, amount=None,
                    package={"M": {"package_id": {"S": "bad-items"}, "name": {"S": "x"},
                                   "price": {"N": "1"},
                                   "items": {"L": [{"M": {"service": {"S": "s"}}}]}}}),
        ledger_item("package#bad-price", 3, kind={"S": "package"}, amount=None,
                    package={"M": {"package_id": {"S": "bad-price"}, "name": {"S": "x"},
                                   "price": {"S": "cheap"}, "items": {"L": []}}}))
    capsys.readouterr()
    # When the package balances are read
    response = account.api("GET", "/accounts/a1/packages")
    # Then the good package is served; the others are skipped and counted
    assert response.status == 200, response.body
    assert [p["package_id"] for p in response.body["packages"]] == ["good"]
    assert emitted_metrics(capsys.readouterr().out) == {"LedgerRowsUnreadable": 3}
