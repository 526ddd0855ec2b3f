"""periodic_scan against moto: reminders while a balance stays low, read only through
the sparse watch index, evaluated as of the scheduled event's time."""

from __future__ import annotations

from datetime import datetime, timedelta

from local.metering import metered
from tests import builders as given
from tests.conftest import load_event

REMINDING = {
    "name": "Reminding",
    "reminder_every_hours": 24,
    "max_reminders": 2,
    "rules": [{"id": "low", "type": "balance_below", "threshold": "20", "notify": ["customer"]}],
}


def _reminders():
    return [n.reminder for n in given.notices() if n.type == "balance_low"]


def test_reminders_repeat_every_period_up_to_the_maximum_and_a_duplicate_scan_adds_nothing(aws):
    given.tenant(profile=REMINDING)
    given.account()
    given.entry("top", "credit", "30")
    given.entry("c1", "charge", "15")
    aws.pump()
    first = datetime.fromisoformat(given.notices()[0].created_at)
    assert _reminders() == [0]

    aws.scan(at=first + timedelta(hours=23))
    assert _reminders() == [0]
    aws.scan(at=first + timedelta(hours=24, minutes=1))
    aws.scan(at=first + timedelta(hours=24, minutes=1))  # the scheduler fired twice
    assert _reminders() == [0, 1]
    aws.scan(at=first + timedelta(hours=49))
    aws.scan(at=first + timedelta(hours=100))
    assert _reminders() == [0, 1, 2]


def test_the_scan_reads_only_watched_accounts(aws):
    given.tenant(profile=REMINDING)
    for number in range(30):
        given.account(account_id=f"ok{number}")
        given.entry(f"fund{number}", "credit", "100", account_id=f"ok{number}")
    given.account(account_id="low1")
    given.entry("c-low", "charge", "5", account_id="low1")
    aws.pump()
    with metered() as meter:
        report = aws.scan()
    assert report["accounts_read"] == 1
    assert meter.items_read == 1
    assert meter.calls.get("Scan", 0) == 0


def test_a_refill_takes_the_account_out_of_the_watch_index(aws):
    given.tenant(profile=REMINDING)
    given.account()
    given.entry("c1", "charge", "5")
    aws.pump()
    assert aws.scan()["accounts_read"] == 1
    given.entry("refill", "credit", "100")
    aws.pump()
    assert aws.scan()["accounts_read"] == 0


def test_the_scan_evaluates_as_of_the_scheduled_event_time(aws):
    given.tenant(profile=REMINDING)
    given.account()
    given.entry("c1", "charge", "5")
    aws.pump()
    event = load_event("periodic_scan.json")
    created = datetime.fromisoformat(given.notices()[0].created_at)
    event["time"] = (created + timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    aws.invoke("PeriodicScanFunction", event)
    assert _reminders() == [0, 1]
    assert given.notices()[-1].created_at.startswith(event["time"][:16])


def test_with_2000_accounts_and_20_at_risk_the_scan_reads_about_20_items(aws):
    # Given 2,000 accounts fed through the ledger stream; 20 end below their threshold
    given.tenant(profile=REMINDING)
    for number in range(2000):
        account_id = f"c{number:04d}"
        given.account(account_id=account_id)
        given.entry(f"e{number}", "credit" if number % 100 else "charge", "50.00",
                    account_id=account_id)
    aws.pump()
    # When the scheduled scan runs over every shard
    with metered() as meter:
        report = aws.scan()
    # Then it read only the watched accounts, never the whole table
    assert report["accounts_read"] == 20
    assert meter.items_read <= 20
    assert meter.calls.get("Scan", 0) == 0
    assert meter.calls["Query"] <= report["shards"] + 1


def test_a_profile_change_re_evaluates_watch_for_the_accounts_using_it(aws):
    # Given accounts at 15 with a profile whose threshold is 10: nothing to watch
    given.tenant(profile={**REMINDING, "rules": [
        {"id": "low", "type": "balance_below", "threshold": "10", "notify": ["customer"]}]})
    for name in ("p1", "p2"):
        given.account(account_id=name)
        given.entry(f"top-{name}", "credit", "15", account_id=name)
    aws.pump()
    assert aws.scan()["accounts_read"] == 0
    # When an admin changes the profile: its inactivity rule now covers balances under 20
    response = aws.api("PUT", "/profiles/standard", body={**REMINDING, "rules": [
        {"id": "idle", "type": "inactive", "threshold": "20", "inactive_days": 30,
         "notify": ["customer"]}]})
    assert response.status == 200
    first = aws.scan()
    # Then the scan re-evaluated them once, and from the next scan on they are read
    assert first["rewatched"] == 2
    assert aws.scan()["accounts_read"] == 2
    assert aws.scan()["rewatched"] == 0
    # and the request never shows up as an account
    listed = aws.api("GET", "/accounts").body["accounts"]
    assert sorted(a["account_id"] for a in listed) == ["p1", "p2"]


def test_a_due_notice_that_no_entry_triggered_is_caught_up_by_the_scan(aws):
    # Given a suspended account that went below its threshold (no notice: not active)
    given.tenant(profile=REMINDING)
    aws.api("PUT", "/accounts/a1", body={"name": "Ana", "email": "ana@customer.test",
                                         "status": "suspended"})
    aws.api("POST", "/accounts/a1/entries", body={"entry_id": "c1", "kind": "charge",
                                                   "amount": "5.00"})
    aws.pump()
    assert given.notices() == []
    # When staff make it active again, and the schedule fires
    aws.api("PUT", "/accounts/a1", body={"name": "Ana", "email": "ana@customer.test",
                                         "status": "active"})
    aws.scan()
    aws.scan()
    # Then the missing balance_low notice exists, once
    assert [(n.type, n.rule_id) for n in given.notices()] == [("balance_low", "low")]
