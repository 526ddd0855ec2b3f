"""Forecast ("runs out in N days") and inactivity notices from the scan, with the clock
set by the scheduled event's time and entries dated on a simulated calendar."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests import builders as given

RUNWAY = {"name": "Runway", "rules": [
    {"id": "runway", "type": "runs_out", "days": [10, 5, 3, 1, 0], "notify": ["customer"]}]}
IDLE = {"name": "Idle", "reminder_every_hours": 24, "max_reminders": 1, "rules": [
    {"id": "idle", "type": "inactive", "threshold": "5.00", "inactive_days": 30,
     "notify": ["customer"]}]}

# A calendar that starts tomorrow 00:00 UTC, so on_usage's clock (now) is before it.
DAY0 = (datetime.now(timezone.utc) + timedelta(days=1)).replace(
    hour=0, minute=0, second=0, microsecond=0)


def _day(d: int, hour: int = 9) -> datetime:
    return DAY0 + timedelta(days=d, hours=hour)


def _forecasts():
    return [(n.level, n.variables["days_left"]) for n in given.notices()
            if n.type == "funds_run_out"]


def _steady_spend(aws, days, scan_days):
    """200.00 on day 0, then 10.00 a day at 09:00; scan at 09:30 on ``scan_days``."""
    given.entry("top", "credit", "200.00", at=_day(0, 8))
    for d in days:
        given.entry(f"use-{d}", "charge", "10.00", at=_day(d))
        aws.pump()
        if d in scan_days:
            aws.scan(at=_day(d) + timedelta(minutes=30))


def test_steady_spend_sends_each_mark_once_as_it_is_reached(aws):
    given.tenant(profile=RUNWAY)
    given.account()
    _steady_spend(aws, range(20), scan_days=range(20))
    # days_left on day d = (190 - 10 d) / 10 = 19 - d
    assert _forecasts() == [("10", 10), ("5", 5), ("3", 3), ("1", 1), ("0", 0)]


def test_only_the_smallest_newly_reached_mark_is_sent(aws):
    given.tenant(profile=RUNWAY)
    given.account()
    _steady_spend(aws, range(17), scan_days={15, 16})
    # day 15: days_left 4 reaches 10 and 5 -> only 5; day 16: 3
    assert _forecasts() == [("5", 4), ("3", 3)]


def test_nothing_is_forecast_before_three_days_of_history(aws):
    given.tenant(profile=RUNWAY)
    given.account()
    given.entry("top", "credit", "30.00", at=_day(0, 8))
    given.entry("big", "charge", "25.00", at=_day(0))
    aws.pump()
    for d in (0, 1, 2):
        aws.scan(at=_day(d, 10))
    assert _forecasts() == []
    aws.scan(at=_day(3, 10))
    assert [level for level, _ in _forecasts()] == ["0"]  # 5.00 / (25/4 a day) = 0 days


def test_a_mark_rearms_when_the_forecast_rises_above_it(aws):
    given.tenant(profile=RUNWAY)
    given.account()
    _steady_spend(aws, range(16), scan_days={15})
    assert _forecasts() == [("5", 4)]
    given.entry("refill", "credit", "100.00", at=_day(15, 12))
    aws.pump()
    aws.scan(at=_day(15, 13))  # 140 / 10 = 14 days: 5 and 10 re-arm
    for d in range(16, 29):
        given.entry(f"more-{d}", "charge", "10.00", at=_day(d))
    aws.pump()
    aws.scan(at=_day(28, 10))  # 10 left -> 1 day: reaches 10, 5, 3, 1 again -> only 1
    assert _forecasts() == [("5", 4), ("1", 1)]


def test_inactivity_fires_on_day_30_not_29_and_once_per_episode(aws):
    given.tenant(profile=IDLE)
    created = DAY0
    given.account(created_at=created.isoformat())
    given.entry("small", "credit", "3.00", at=created + timedelta(hours=1))
    aws.pump()
    aws.scan(at=created + timedelta(days=29, hours=23))
    assert [n.type for n in given.notices()] == []
    aws.scan(at=created + timedelta(days=30))
    aws.scan(at=created + timedelta(days=30))
    assert [(n.type, n.reminder) for n in given.notices()] == [("inactive", 0)]
    # reminders: one more a day later, then no more (max_reminders = 1)
    aws.scan(at=created + timedelta(days=31))
    aws.scan(at=created + timedelta(days=35))
    assert [(n.type, n.reminder) for n in given.notices()] == [
        ("inactive", 0), ("inactive", 1)]
    assert given.notices()[0].variables["inactive_days"] == 30


def test_a_charge_ends_the_inactive_episode(aws):
    given.tenant(profile=IDLE)
    given.account(created_at=DAY0.isoformat())
    given.entry("small", "credit", "3.00", at=DAY0)
    aws.pump()
    aws.scan(at=DAY0 + timedelta(days=30))
    given.entry("use", "charge", "1.00", at=DAY0 + timedelta(days=31))
    aws.pump()
    aws.scan(at=DAY0 + timedelta(days=40))  # 9 days since the charge: not inactive
    aws.scan(at=DAY0 + timedelta(days=61, hours=1))  # 30 days since: a new episode
    assert [(n.type, n.episode) for n in given.notices()] == [("inactive", 1), ("inactive", 2)]


@pytest.mark.parametrize("fields", [{"billing": "postpaid"}, {"status": "inactive"}])
def test_postpaid_and_non_active_accounts_get_no_forecast_or_inactivity(aws, fields):
    given.tenant(profile={"name": "Both", "rules": RUNWAY["rules"] + IDLE["rules"]})
    given.account(created_at=DAY0.isoformat(), **fields)
    _steady_spend(aws, range(20), scan_days=range(20))
    aws.scan(at=_day(60))
    assert given.notices() == []
