"""Packages of units against moto: the API, real LedgerTable stream records delivered to
on_usage the way Lambda does, notices, and the account item staying bounded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import time_machine
from boto3.dynamodb.types import TypeDeserializer

from balance_alerts.adapters import config_store
from balance_alerts.adapters.tables import AccountItem, LedgerItem, account_key
from local.metering import metered
from local.runtime import LocalAws
from tests import builders as given

SCHOOL_PROFILE = {
    "name": "Lessons",
    "rules": [
        {"id": "lessons", "type": "package_below", "remaining": "2",
         "notify": ["customer", "staff"]},
    ],
}


# --------------------------------------------------------------------- helpers
@pytest.fixture
def school(aws):
    """Given tenant t1 with the lessons profile and an account a1 (Ann, active, prepaid)."""
    given.tenant(profile=SCHOOL_PROFILE)
    assert aws.api("PUT", "/accounts/a1", body={"name": "Ann", "email": "ann@x.test"}).status \
        == 201
    return aws


def buy(aws, package_id, *items, member=None, price=None, account="a1", **caller):
    body = {"package_id": package_id, "name": f"Lessons {package_id}",
            "items": [{"service": s, "quantity": q, "unit_price": p} for s, q, p in items]}
    if member is not None:
        body["member_id"] = member
    if price is not None:
        body["price"] = price
    return aws.api("POST", f"/accounts/{account}/packages", body=body, **caller)


def charge(aws, entry_id, service, quantity, member=None, account="a1", **fields):
    body = {"entry_id": entry_id, "kind": "charge", "service": service, "quantity": quantity,
            **fields}
    if member is not None:
        body["member_id"] = member
    response = aws.api("POST", f"/accounts/{account}/entries", body=body)
    assert response.status == 202, response.body
    return response


def void(aws, entry_id, voids, account="a1"):
    response = aws.api("POST", f"/accounts/{account}/entries",
                       body={"entry_id": entry_id, "kind": "void", "voids": voids})
    assert response.status == 202, response.body
    return response


def balances(aws, account="a1"):
    """package id -> {service: (used, remaining)} from GET .../packages, in its order."""
    body = aws.api("GET", f"/accounts/{account}/packages").body
    return {p["package_id"]: {i["service"]: (i["used"], i["remaining"]) for i in p["items"]}
            for p in body["packages"]}


def statuses(aws, account="a1"):
    body = aws.api("GET", f"/accounts/{account}/packages").body
    return {p["package_id"]: p["status"] for p in body["packages"]}


def package_notices(account="a1"):
    return [n.notice_key for n in given.notices(account_id=account) if n.type == "package_low"]


# ------------------------------------------------------------------------ API
def test_buying_a_package_is_idempotent_on_its_package_id(school):
    # Given a package bought once
    first = buy(school, "p1", ("piano", "10", "25.00"), member="kid")
    assert first.status == 202, first.body
    assert first.body["entry_id"] == "package#p1"
    assert first.body["price"] == "250.00", "price defaults to quantity x unit_price"
    # When the client retries the same purchase (spelled differently)
    again = buy(school, "p1", ("piano", 10, "25"), member="kid", price="250")
    # Then it gets 200 with the stored purchase; another body under the id is 409
    assert again.status == 200
    assert again.body == first.body
    conflict = buy(school, "p1", ("piano", "11", "25.00"), member="kid")
    assert conflict.status == 409
    assert "p1" in conflict.body["message"]
    assert [item.entry_id for item in LedgerItem.query("t1#a1")] == ["package#p1"]


def test_a_package_is_in_the_history_and_can_never_collide_with_an_entry(school):
    buy(school, "p1", ("piano", "10", "25"))
    charge(school, "p1", "piano", "1")  # an entry id equal to the package id is its own
    school.pump()
    history = school.api("GET", "/accounts/a1/entries").body["entries"]
    assert [(e["entry_id"], e["kind"]) for e in history] == [
        ("p1", "charge"), ("package#p1", "package")]
    purchase = history[1]
    assert (purchase["amount"], purchase["description"]) == (None, "Lessons p1")
    assert school.api("POST", "/accounts/a1/entries", body={
        "entry_id": "package#p2", "kind": "credit", "amount": "1"}).status == 422
    assert given.balance() == 0, "buying a package does not move the money balance"


def test_who_may_buy_and_read_packages(school):
    assert buy(school, "p1", ("piano", "2", "1"), role="staff").status == 202
    assert buy(school, "p2", ("piano", "2", "1"), role="customer",
               account_id="a1").status == 403
    assert school.api("GET", "/accounts/a1/packages", role="customer",
                      account_id="a1").status == 200
    assert school.api("GET", "/accounts/a1/packages", role="customer",
                      account_id="a2").status == 404
    assert buy(school, "p3", ("piano", "2", "1"), account="nobody").status == 404
    assert school.api("GET", "/accounts/nobody/packages").status == 404
    assert buy(school, "p4", ("piano", "2", "1"), tenant="t2").status == 404


@pytest.mark.parametrize("body", [
    {"package_id": "p1", "name": "x", "items": []},
    {"package_id": "p1", "name": "x", "items": [{"service": "piano", "quantity": "0",
                                                  "unit_price": "1"}]},
    {"package_id": "p1", "name": "x", "items": [{"service": "piano", "quantity": "1",
                                                  "unit_price": "-1"}]},
    {"package_id": "p1", "name": "x", "items": [{"service": "piano", "quantity": "1"}]},
    {"package_id": "p1", "name": "x", "items": [
        {"service": "piano", "quantity": "1", "unit_price": "1"},
        {"service": "piano", "quantity": "2", "unit_price": "1"}]},
    {"package_id": "p#1", "name": "x", "items": [{"service": "piano", "quantity": "1",
                                                   "unit_price": "1"}]},
    {"package_id": "p1", "name": "x", "price": "1e3", "items": [
        {"service": "piano", "quantity": "1", "unit_price": "1"}]},
    {"package_id": "p1", "name": "x", "colour": "red", "items": [
        {"service": "piano", "quantity": "1", "unit_price": "1"}]},
], ids=["no items", "zero quantity", "negative price", "no unit price", "service twice",
        "bad id", "exponent", "unknown field"])
def test_bad_purchases_are_refused_with_422(school, body):
    response = school.api("POST", "/accounts/a1/packages", body=body)
    assert response.status == 422, response.body
    assert response.body["message"]
    assert list(LedgerItem.query("t1#a1")) == []


# --------------------------------------------------------------- allocation
def test_units_are_used_oldest_package_first_spanning_packages(school):
    # Given two piano packages for one child
    buy(school, "p1", ("piano", "3", "25.00"), member="kid")
    buy(school, "p2", ("piano", "5", "20.00"), member="kid")
    # When four lessons are charged
    for number in range(4):
        charge(school, f"c{number}", "piano", "1", member="kid")
    school.pump()
    # Then p1 is used up first and the fourth lesson comes from p2; p1, used up, has
    # left the account item for history (p2 takes any overdraw)
    assert balances(school) == {"p1": {"piano": ("3", "0")}, "p2": {"piano": ("1", "4")}}
    assert statuses(school) == {"p1": "retired", "p2": "current"}


def test_a_shortfall_overdraws_the_newest_package(school):
    buy(school, "p1", ("piano", "2", "25"))
    buy(school, "p2", ("piano", "1", "25"))
    charge(school, "c1", "piano", "5")
    school.pump()
    assert balances(school) == {"p1": {"piano": ("2", "0")}, "p2": {"piano": ("3", "-2")}}


def test_units_without_a_package_are_unallocated(school):
    buy(school, "p1", ("piano", "2", "25"), member="ann")
    charge(school, "c1", "violin", "1.5")
    charge(school, "c2", "piano", "1", member="bob")
    school.pump()
    body = school.api("GET", "/accounts/a1/packages").body
    assert body["unallocated"] == [
        {"service": "piano", "member_id": "bob", "quantity": "1"},
        {"service": "violin", "member_id": None, "quantity": "1.5"},
    ]
    assert balances(school) == {"p1": {"piano": ("0", "2")}}


def test_amounts_in_package_balances_are_exact_decimal_strings(school):
    buy(school, "p1", ("piano", "10", "33.33"), ("theory", "0.5", "0.1"), price="333.35")
    charge(school, "c1", "piano", "0.1")
    charge(school, "c2", "piano", "0.2")
    charge(school, "c3", "theory", "0.3")
    school.pump()
    (package,) = school.api("GET", "/accounts/a1/packages").body["packages"]
    assert package["price"] == "333.35"
    assert package["purchased_at"].endswith("+00:00")
    assert package["items"] == [
        {"service": "piano", "purchased": "10", "used": "0.3", "remaining": "9.7",
         "unit_price": "33.33", "amount_used": "9.999", "amount_remaining": "323.301"},
        {"service": "theory", "purchased": "0.5", "used": "0.3", "remaining": "0.2",
         "unit_price": "0.1", "amount_used": "0.03", "amount_remaining": "0.02"},
    ]
    stored = AccountItem.get("t1", "a1").units["packages"][0]["items"][0]
    assert isinstance(stored["used"], Decimal)


def test_a_void_gives_the_units_back_to_the_packages_they_came_from(school):
    # Given a lesson that spanned two packages, and a later one
    buy(school, "p1", ("piano", "3", "25"))
    buy(school, "p2", ("piano", "5", "25"))
    charge(school, "c1", "piano", "2")
    charge(school, "c2", "piano", "2")  # 1 from p1, 1 from p2
    charge(school, "c3", "piano", "1")  # p2
    school.pump()
    # When the spanning charge is voided
    voided = void(school, "v2", "c2")
    school.pump()
    # Then each package gets back what it gave, and the void names the units
    assert (voided.body["service"], voided.body["quantity"]) == ("piano", "2")
    assert balances(school) == {"p1": {"piano": ("2", "1")}, "p2": {"piano": ("1", "4")}}


def test_a_void_brings_a_used_up_package_back_from_history(school):
    # Given p1 used up and retired (a newer p2 exists), its alert sent
    buy(school, "p1", ("piano", "2", "25"))
    charge(school, "c1", "piano", "2")
    buy(school, "p2", ("piano", "5", "25"))
    school.pump()
    assert balances(school) == {"p1": {"piano": ("2", "0")}, "p2": {"piano": ("0", "5")}}
    assert statuses(school) == {"p1": "retired", "p2": "current"}
    assert [p["package_id"] for p in AccountItem.get("t1", "a1").units["packages"]] == ["p2"]
    # When the charge is voided
    void(school, "v1", "c1")
    school.pump()
    # Then p1 is current again, first in line, and is not alerted a second time
    assert balances(school) == {"p1": {"piano": ("0", "2")}, "p2": {"piano": ("0", "5")}}
    assert statuses(school) == {"p1": "current", "p2": "current"}
    assert package_notices() == ["lessons#p1/piano#2#0"]
    charge(school, "c2", "piano", "1")
    school.pump()
    assert balances(school)["p1"] == {"piano": ("1", "1")}


def test_a_member_charge_uses_only_that_members_packages(school):
    buy(school, "ann", ("piano", "5", "20"), member="ann")
    buy(school, "bob", ("piano", "5", "20"), member="bob")
    charge(school, "c1", "piano", "2", member="bob")
    school.pump()
    assert balances(school) == {"ann": {"piano": ("0", "5")}, "bob": {"piano": ("2", "3")}}


# ------------------------------------------------------------------- alerts
def test_one_alert_per_package_even_when_every_batch_is_redelivered():
    with LocalAws(redeliver=True, batch_size=3,
                  verified_senders=("billing@acme.test",)) as aws:
        # Given two packages and lessons that use both up, every batch delivered twice
        given.tenant(profile=SCHOOL_PROFILE)
        given.account()
        buy(aws, "p1", ("piano", "4", "25"), member="kid")
        buy(aws, "p2", ("piano", "4", "25"), member="kid")
        for number in range(9):
            charge(aws, f"c{number}", "piano", "1", member="kid")
        # When the stream is drained
        aws.pump()
        # Then each package alerted once, and the units counted once each
        assert package_notices() == ["lessons#p1/piano#2#0", "lessons#p2/piano#2#0"]
        assert balances(aws) == {"p1": {"piano": ("4", "0")}, "p2": {"piano": ("5", "-1")}}
        assert statuses(aws) == {"p1": "retired", "p2": "current"}
        deliveries = aws.deliveries("OnUsageFunction")
        assert sum(len(d.sequence_numbers) for d in deliveries) == 2 * 11
        # And one email per package and audience went out, naming the package item
        emails = aws.sent_emails()
        assert len(emails) == 4
        for package_id in ("p1", "p2"):
            subjects = [e.subject for e in emails if f"Lessons {package_id}" in e.subject]
            assert len(subjects) == 2 and all("2 of 4" in s for s in subjects), subjects
        (notice, _) = [n for n in given.notices() if n.type == "package_low"]
        assert notice.variables["item"] == {"service": "piano", "remaining": "2",
                                            "purchased": "4"}
        assert (notice.variables["package"]["name"], notice.variables["member_id"]) == (
            "Lessons p1", "kid")


def test_with_member_tracking_packages_without_a_member_never_alert(aws):
    given.tenant(profile=SCHOOL_PROFILE, track_packages_by="member")
    given.account()
    buy(aws, "family", ("piano", "3", "20"))
    buy(aws, "ann", ("piano", "3", "20"), member="ann")
    charge(aws, "c1", "piano", "3")
    charge(aws, "c2", "piano", "3", member="ann")
    aws.pump()
    (notice,) = [n for n in given.notices() if n.type == "package_low"]
    assert notice.notice_key == "lessons#ann/piano#2#0"
    assert notice.variables["member_id"] == "ann"
    assert notice.variables["item"] == {"service": "piano", "remaining": "0",
                                        "purchased": "3"}, "3 lessons at once: 0 left"


@pytest.mark.parametrize("fields, alerted", [
    ({"billing": "postpaid"}, True), ({"status": "inactive"}, False),
    ({"status": "suspended"}, False), ({"status": "closed"}, False),
], ids=["postpaid", "inactive", "suspended", "closed"])
def test_package_notices_go_to_postpaid_accounts_but_not_to_non_active_ones(
        aws, fields, alerted):
    given.tenant(profile={"rules": SCHOOL_PROFILE["rules"] + [
        {"id": "low", "type": "balance_below", "threshold": "0"}]})
    given.account(**fields)
    buy(aws, "p1", ("piano", "2", "20"))
    charge(aws, "c1", "piano", "1", amount="30")  # also takes the balance below 0
    aws.pump()
    assert [n.type for n in given.notices()] == (["package_low"] if alerted else [])


def test_a_profile_may_watch_one_service_by_percent(aws):
    given.tenant(profile={"rules": [
        {"id": "theory-low", "type": "package_below", "percent": "50", "service": "theory"}]})
    given.account()
    buy(aws, "p1", ("piano", "4", "20"), ("theory", "4", "10"))
    charge(aws, "c1", "piano", "4")
    charge(aws, "c2", "theory", "2")
    aws.pump()
    assert package_notices() == ["theory-low#p1/theory#50%#0"]


# -------------------------------------------------------------- write costs
def test_a_batch_of_unit_charges_costs_one_read_and_one_write(school):
    # Given packages already applied, and a warm function
    buy(school, "p1", ("piano", "100", "25"))
    buy(school, "p2", ("violin", "100", "25"))
    school.pump()
    # When 50 unit charges for the account arrive in one batch
    for number in range(50):
        given.entry(f"c{number}", "charge", None, service=("piano", "violin")[number % 2],
                    quantity=Decimal(1))
    with metered() as meter:
        school.pump()
    # Then on_usage read the account once and wrote it once
    assert meter.calls["BatchGetItem"] == 1
    assert meter.calls["UpdateItem"] == 1
    assert meter.writes == 1
    assert balances(school) == {"p1": {"piano": ("25", "75")}, "p2": {"violin": ("25", "75")}}


def test_more_notices_than_one_transaction_holds_are_committed_in_order(aws, monkeypatch):
    # Given transactions of at most 8 items (DynamoDB's limit is 100; smaller here so
    # that moto stays quick), 6 packages of 3 units and two rules per item, so that one
    # batch brings 12 notices
    from balance_alerts.adapters import accounts

    monkeypatch.setattr(accounts, "MAX_TRANSACT_ITEMS", 8)
    given.tenant(profile={"rules": SCHOOL_PROFILE["rules"] + [
        {"id": "empty", "type": "package_below", "remaining": "0"}]})
    config_store.put_doc("t1", "class#quiet", {"name": "Quiet", "enabled": []})
    given.account(customer_class="quiet")  # suppressed notices: nothing to send
    for number in range(6):
        buy(aws, f"p{number}", ("piano", "3", "1"), member=f"m{number}")
    aws.pump()
    # When one batch uses one unit of each, then the rest and one more
    for number in range(6):
        given.entry(f"a{number}", "charge", None, service="piano", quantity=Decimal(1),
                    member_id=f"m{number}")
    for number in range(6):
        given.entry(f"b{number}", "charge", None, service="piano", quantity=Decimal(3),
                    member_id=f"m{number}")
    with metered() as meter:
        aws.pump()
    # Then the entries were committed in two writes, in order; every alert exists once
    # and every unit counted
    assert len(aws.deliveries("OnUsageFunction")[-1].sequence_numbers) == 12
    assert meter.calls["TransactWriteItems"] == 2
    assert len(package_notices()) == 12
    assert set(balances(aws)) == {f"p{number}" for number in range(6)}
    assert all(used == ("4", "-1") for item in balances(aws).values()
               for used in item.values())
    assert aws.failed_batches("OnUsageFunction") == []


# ------------------------------------------------------------- bounded item
def _write_purchase(number: int, at: datetime) -> None:
    package_id = f"p{number:03d}"
    recorded = at.isoformat()
    LedgerItem(
        account_key("t1", "a1"), f"package#{package_id}", recorded_seq=f"{recorded}#p",
        tenant_id="t1", account_id="a1", kind="package", occurred_at=recorded,
        recorded_at=recorded, body_hash="x", description=f"Lessons {package_id}",
        member_id="kid",
        package={"package_id": package_id, "name": f"Lessons {package_id}",
                 "member_id": "kid", "price": Decimal("50.00"),
                 "items": [{"service": "piano", "quantity": Decimal(2),
                            "unit_price": Decimal("25.00")}]},
    ).save()


def _size(value: dict) -> int:
    """DynamoDB's size of an attribute value (low-level JSON), as its docs count it."""
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return len(data.lstrip("-").replace(".", "").strip("0")) // 2 + 2
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _size(v) + 1 for k, v in data.items())
    if kind == "L":
        return 3 + sum(_size(v) + 1 for v in data)
    raise AssertionError(kind)


def _item_size(aws) -> tuple[int, int, int]:
    """(bytes of the whole account item, bytes of its units map, packages on it)."""
    raw = aws.client("dynamodb").get_item(
        TableName=AccountItem.Meta.table_name,
        Key={"tenant_id": {"S": "t1"}, "account_id": {"S": "a1"}}, ConsistentRead=True)["Item"]
    units = TypeDeserializer().deserialize(raw["units"])
    whole = sum(len(name) + _size(value) for name, value in raw.items())
    return whole, _size(raw["units"]), len(units["packages"])


def test_500_packages_bought_and_used_keep_the_account_item_bounded(aws):
    # Given an account that buys a 2-lesson package and uses it up, 500 times over, 50 a
    # week (no alert rule here: alerts before retirement are shown above, and moto
    # copies a whole table for each notice written in a transaction)
    given.tenant(profile={"name": "No alerts", "rules": []})
    given.account()
    start = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
    sizes = {}
    with time_machine.travel(start, tick=False) as clock:
        for number in range(500):
            at = start + timedelta(hours=3 * number)
            _write_purchase(number, at)
            given.entry(f"lesson-{number:03d}", "charge", None, service="piano",
                        quantity=Decimal(2), member_id="kid", at=at + timedelta(hours=1))
            if (number + 1) % 50 == 0:
                clock.move_to(at + timedelta(hours=2))
                aws.pump()
                if number + 1 in (250, 500):
                    sizes[number + 1] = _item_size(aws)
    # Then every package but the newest left the account item, which stays small
    whole, units, on_item = sizes[500]
    assert on_item == 1
    assert abs(units - sizes[250][1]) < 100, "the units map does not grow with packages"
    assert units < 25_000, "the newest package and the last 200 allocations"
    assert whole < 40_000, "a tenth of DynamoDB's 400 KB"
    # And every package is still listed, oldest first, with its final balance
    first = aws.api("GET", "/accounts/a1/packages", query={"limit": "100"}).body
    assert [p["package_id"] for p in first["packages"]] == [f"p{n:03d}" for n in range(100)]
    assert {p["status"] for p in first["packages"]} == {"retired"}
    assert all(p["retired_at"] and p["items"][0]["remaining"] == "0"
               for p in first["packages"])
    second = aws.api("GET", "/accounts/a1/packages",
                     query={"limit": "100", "cursor": first["next_cursor"]}).body
    assert [p["package_id"] for p in second["packages"]] == [
        f"p{n:03d}" for n in range(100, 200)]
    (newest,) = AccountItem.get("t1", "a1").units["packages"]
    assert (newest["package_id"], newest["items"][0]["used"]) == ("p499", 2)


def test_a_package_bought_but_not_yet_applied_is_listed_as_pending(school):
    buy(school, "p1", ("piano", "3", "25"))
    body = school.api("GET", "/accounts/a1/packages").body
    assert [(p["package_id"], p["status"]) for p in body["packages"]] == [("p1", "pending")]
    assert body["packages"][0]["items"][0]["remaining"] == "3"
    school.pump()
    assert statuses(school) == {"p1": "current"}
