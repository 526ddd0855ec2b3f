"""Entries through the API: idempotency, voids, exact money, paging and cursors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balance_alerts.adapters import settings
from balance_alerts.adapters.tables import LedgerItem, NoticeItem
from balance_alerts.api import entries as entries_module


@pytest.fixture
def account(aws):
    """Given an account a1 in tenant t1."""
    assert aws.api("PUT", "/accounts/a1", body={"name": "Ann"}).status == 201
    return "a1"


def post(aws, body, account_id="a1", **kwargs):
    return aws.api("POST", f"/accounts/{account_id}/entries", body=body, **kwargs)


def ledger(account_key="t1#a1"):
    return {item.entry_id: item for item in LedgerItem.query(account_key)}


# ------------------------------------------------------------- idempotency
def test_the_same_entry_twice_returns_the_stored_entry_and_writes_once(aws, account):
    # Given a recorded charge
    first = post(aws, {"entry_id": "e1", "kind": "charge", "amount": "5.00"})
    assert first.status == 202
    # When the client retries the same request (the amount spelled differently)
    again = post(aws, {"entry_id": "e1", "kind": "charge", "amount": 5})
    # Then it gets 200 with the entry as first stored, and the ledger holds it once
    assert again.status == 200
    assert again.body == first.body
    assert list(ledger()) == ["e1"]


def test_the_same_entry_id_with_other_content_is_a_conflict(aws, account):
    post(aws, {"entry_id": "e1", "kind": "charge", "amount": "5.00"})
    for changed in (
        {"entry_id": "e1", "kind": "charge", "amount": "5.01"},
        {"entry_id": "e1", "kind": "credit", "amount": "5.00"},
        {"entry_id": "e1", "kind": "charge", "amount": "5.00", "description": "x"},
        {"entry_id": "e1", "kind": "charge", "amount": "5.00",
         "occurred_at": "2026-01-01T00:00:00Z"},
    ):
        conflict = post(aws, changed)
        assert conflict.status == 409, changed
        assert "e1" in conflict.body["message"]
    stored = ledger()
    assert list(stored) == ["e1"]
    assert stored["e1"].amount == Decimal("5.00")


def test_the_same_instant_in_another_offset_is_the_same_entry(aws, account):
    body = {"entry_id": "e1", "kind": "charge", "amount": "1",
            "occurred_at": "2026-11-02T10:00:00+01:00"}
    assert post(aws, body).status == 202
    assert post(aws, {**body, "occurred_at": "2026-11-02T09:00:00Z"}).status == 200


def _first_read_misses(monkeypatch, name):
    """The next call of ``entries.<name>`` sees the state from before a concurrent write."""
    real = getattr(entries_module, name)
    state = {"stale": True}

    def stale_once(key, entry_id):
        if state.pop("stale", False):
            if name == "get_entry":
                return None
            item = LedgerItem.get(key, entry_id)
            item.voided_by = None
            return item
        return real(key, entry_id)

    monkeypatch.setattr(entries_module, name, stale_once)


def test_a_concurrent_duplicate_that_won_the_race_is_recognised(aws, account, monkeypatch):
    # Given the entry was stored by a concurrent request after this one looked for it
    post(aws, {"entry_id": "e1", "kind": "credit", "amount": "5"})
    # When the same request's conditional put fails, it is answered with the stored entry
    _first_read_misses(monkeypatch, "get_entry")
    assert post(aws, {"entry_id": "e1", "kind": "credit", "amount": "5"}).status == 200
    # And a different request under the same id is a conflict
    _first_read_misses(monkeypatch, "get_entry")
    assert post(aws, {"entry_id": "e1", "kind": "credit", "amount": "6"}).status == 409
    assert list(ledger()) == ["e1"]


def test_a_concurrent_second_void_loses_the_transaction(aws, account, monkeypatch):
    # Given a charge voided by v1 after v2's request had checked it
    post(aws, {"entry_id": "c1", "kind": "charge", "amount": "5"})
    post(aws, {"entry_id": "v1", "kind": "void", "voids": "c1"})
    _first_read_misses(monkeypatch, "_voidable")
    # When v2's transaction runs, its condition fails: 409 and nothing written
    refused = post(aws, {"entry_id": "v2", "kind": "void", "voids": "c1"})
    assert refused.status == 409
    assert set(ledger()) == {"c1", "v1"}
    assert ledger()["c1"].voided_by == "v1"


def test_entry_ids_are_per_account(aws, account):
    aws.api("PUT", "/accounts/a2", body={})
    assert post(aws, {"entry_id": "e1", "kind": "credit", "amount": "1"}).status == 202
    assert post(aws, {"entry_id": "e1", "kind": "credit", "amount": "2"},
                account_id="a2").status == 202


# ------------------------------------------------------------------- voids
def test_voiding_a_charge_reverses_it_and_marks_it(aws, account):
    # Given a charge of 5
    post(aws, {"entry_id": "c1", "kind": "charge", "amount": "5"})
    # When it is voided
    void = post(aws, {"entry_id": "v1", "kind": "void", "voids": "c1"})
    # Then the void gives the balance back, and the charge names its void
    assert void.status == 202, void.body
    assert (void.body["void_delta"], void.body["voided_kind"]) == ("5", "charge")
    assert void.body["amount"] is None
    stored = ledger()
    assert stored["v1"].void_delta == Decimal(5)
    assert stored["v1"].voids == "c1"
    assert stored["c1"].voided_by == "v1"
    history = aws.api("GET", "/accounts/a1/entries").body["entries"]
    assert [e["voided_by"] for e in history if e["entry_id"] == "c1"] == ["v1"]


def test_voiding_a_credit_takes_it_back(aws, account):
    post(aws, {"entry_id": "k1", "kind": "credit", "amount": "5.25"})
    void = post(aws, {"entry_id": "v1", "kind": "void", "voids": "k1"})
    assert void.status == 202
    assert (void.body["void_delta"], void.body["voided_kind"]) == ("-5.25", "credit")


def test_an_entry_is_voided_at_most_once(aws, account):
    # Given a voided charge
    post(aws, {"entry_id": "c1", "kind": "charge", "amount": "5"})
    post(aws, {"entry_id": "v1", "kind": "void", "voids": "c1"})
    # When the same void is retried, it is the stored void
    assert post(aws, {"entry_id": "v1", "kind": "void", "voids": "c1"}).status == 200
    # When another void names it, it is a conflict and nothing is written
    second = post(aws, {"entry_id": "v2", "kind": "void", "voids": "c1"})
    assert second.status == 409
    assert "already voided" in second.body["message"]
    assert set(ledger()) == {"c1", "v1"}
    assert ledger()["c1"].voided_by == "v1"


@pytest.mark.parametrize("voided_kind, body", [
    ("refund", {"entry_id": "x", "kind": "refund", "amount": "1"}),
    ("adjustment", {"entry_id": "x", "kind": "adjustment", "amount": "1"}),
    ("void", None),
])
def test_only_charges_and_credits_can_be_voided(aws, account, voided_kind, body):
    if body is None:  # a void itself
        post(aws, {"entry_id": "c", "kind": "charge", "amount": "1"})
        post(aws, {"entry_id": "x", "kind": "void", "voids": "c"})
    else:
        post(aws, body)
    before = set(ledger())
    refused = post(aws, {"entry_id": "v9", "kind": "void", "voids": "x"})
    assert refused.status == 422
    assert voided_kind in refused.body["message"]
    assert set(ledger()) == before


def test_a_void_must_name_an_entry_of_the_same_account(aws, account):
    aws.api("PUT", "/accounts/a2", body={})
    post(aws, {"entry_id": "c1", "kind": "charge", "amount": "1"}, account_id="a2")
    refused = post(aws, {"entry_id": "v1", "kind": "void", "voids": "c1"})
    assert refused.status == 422
    assert ledger() == {}
    assert ledger("t1#a2")["c1"].voided_by is None


def test_an_entry_the_consumer_rejected_cannot_be_voided(aws, account):
    post(aws, {"entry_id": "c1", "kind": "charge", "amount": "1"})
    LedgerItem("t1#a1", "c1").update(actions=[LedgerItem.rejected_reason.set("bad")])
    assert post(aws, {"entry_id": "v1", "kind": "void", "voids": "c1"}).status == 409
    history = aws.api("GET", "/accounts/a1/entries").body["entries"]
    assert history[0]["rejected_reason"] == "bad"


# ------------------------------------------------------------------ money
def test_money_is_stored_exactly(aws, account):
    # When amounts that floats cannot hold are posted, as strings and as JSON numbers
    post(aws, {"entry_id": "a", "kind": "credit", "amount": "0.1"})
    post(aws, {"entry_id": "b", "kind": "credit", "amount": "0.2"})
    raw = aws.api("POST", "/accounts/a1/entries",
                  raw_body='{"entry_id": "c", "kind": "credit", "amount": 0.3}')
    assert raw.status == 202
    # Then they are stored as exact Decimals
    stored = ledger()
    assert stored["a"].amount + stored["b"].amount == Decimal("0.3") == stored["c"].amount
    assert all(isinstance(item.amount, Decimal) for item in stored.values())
    assert raw.body["amount"] == "0.3"


def test_38_significant_digits_are_accepted_and_39_refused(aws, account):
    digits38 = "1234567890123456789012345678.9012345678"
    digits39 = "1234567890123456789012345678.90123456789"
    accepted = post(aws, {"entry_id": "big", "kind": "credit", "amount": digits38})
    assert accepted.status == 202
    assert accepted.body["amount"] == digits38
    assert ledger()["big"].amount == Decimal(digits38)
    for body in ({"entry_id": "big2", "kind": "credit", "amount": digits39},):
        refused = post(aws, body)
        assert refused.status == 422
        assert "38" in refused.body["message"]
    as_number = aws.api("POST", "/accounts/a1/entries",
                        raw_body=f'{{"entry_id": "big3", "kind": "credit", "amount": {digits39}}}')
    assert as_number.status == 422
    assert set(ledger()) == {"big"}


# ----------------------------------------------------------------- paging
def test_paging_through_25_entries_returns_each_once_newest_first(aws, account):
    # Given 25 entries
    for index in range(25):
        assert post(aws, {"entry_id": f"e{index:02d}", "kind": "credit",
                          "amount": "1"}).status == 202
    # When they are read ten at a time
    pages, cursor = [], None
    while True:
        query = {"limit": "10", **({"cursor": cursor} if cursor else {})}
        page = aws.api("GET", "/accounts/a1/entries", role="staff", query=query)
        assert page.status == 200, page.body
        pages.append([entry["entry_id"] for entry in page.body["entries"]])
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    # Then there are pages of 10, 10 and 5, newest first, without duplicates
    assert [len(page) for page in pages] == [10, 10, 5]
    seen = [entry_id for page in pages for entry_id in page]
    assert seen == [f"e{index:02d}" for index in range(24, -1, -1)]


def test_the_default_page_is_50(aws, account):
    for index in range(51):
        LedgerItem("t1#a1", f"e{index:02d}", recorded_seq=f"2026-11-02T09:00:{index:02d}#x",
                   tenant_id="t1", account_id="a1", kind="credit", amount=Decimal(1),
                   occurred_at="2026-11-02T09:00:00+00:00",
                   recorded_at="2026-11-02T09:00:00+00:00", body_hash="h").save()
    page = aws.api("GET", "/accounts/a1/entries")
    assert len(page.body["entries"]) == 50
    assert page.body["next_cursor"]


def _cursor(aws, path="/accounts/a1/entries", **kwargs):
    page = aws.api("GET", path, query={"limit": "1"}, **kwargs)
    assert page.body["next_cursor"], page.body
    return page.body["next_cursor"]


def test_a_tampered_cursor_is_refused(aws, account):
    post(aws, {"entry_id": "e1", "kind": "credit", "amount": "1"})
    post(aws, {"entry_id": "e2", "kind": "credit", "amount": "1"})
    cursor = _cursor(aws)
    payload, signature = cursor.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    for bad in (f"{flipped}.{signature}", f"{payload}.{signature[::-1]}", "abc", "a.b.c",
                cursor + "x", "x" * 3000):
        refused = aws.api("GET", "/accounts/a1/entries", query={"cursor": bad})
        assert refused.status == 400, bad
        assert refused.body["message"]


def test_a_cursor_from_another_list_account_or_tenant_is_refused(aws, account):
    # Given entries in t1/a1, t1/a2 and t2/a1, and notices in t1/a1
    aws.api("PUT", "/accounts/a2", body={})
    aws.api("PUT", "/accounts/a1", tenant="t2", body={})
    for account_id, tenant in (("a1", "t1"), ("a2", "t1"), ("a1", "t2")):
        for entry_id in ("e1", "e2"):
            post(aws, {"entry_id": entry_id, "kind": "credit", "amount": "1"},
                 account_id=account_id, tenant=tenant)
    for key in ("n1", "n2"):
        NoticeItem("t1#a1", key, created_seq=f"2026-11-02#{key}", tenant_id="t1",
                   account_id="a1", type="balance_low", rule_id="low", level="0", episode=1,
                   audiences=["customer"], status="sent", created_at="2026-11-02").save()
    entries_a1 = _cursor(aws)
    # Then an entries cursor of a1 does not work for a2, for notices, or in tenant t2
    assert aws.api("GET", "/accounts/a2/entries", query={"cursor": entries_a1}).status == 400
    assert aws.api("GET", "/accounts/a1/notices", query={"cursor": entries_a1}).status == 400
    assert aws.api("GET", "/accounts/a1/entries", tenant="t2",
                   query={"cursor": entries_a1}).status == 400
    assert aws.api("GET", "/accounts", query={"cursor": entries_a1}).status == 400
    # And a notices cursor does not work for entries
    notices_a1 = _cursor(aws, "/accounts/a1/notices")
    assert aws.api("GET", "/accounts/a1/entries", query={"cursor": notices_a1}).status == 400
    # But each works where it was issued
    assert aws.api("GET", "/accounts/a1/entries", query={"cursor": entries_a1}).status == 200


def test_a_cursor_signed_with_another_secret_is_refused(aws, account, monkeypatch):
    post(aws, {"entry_id": "e1", "kind": "credit", "amount": "1"})
    post(aws, {"entry_id": "e2", "kind": "credit", "amount": "1"})
    cursor = _cursor(aws)
    monkeypatch.setenv("CURSOR_SECRET", "production-secret")
    settings.reset_cache()
    try:
        assert aws.api("GET", "/accounts/a1/entries", query={"cursor": cursor}).status == 400
        assert aws.api("GET", "/accounts/a1/entries",
                       query={"cursor": _cursor(aws)}).status == 200
    finally:
        monkeypatch.delenv("CURSOR_SECRET")
        settings.reset_cache()
