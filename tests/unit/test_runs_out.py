"""The runs_out rule as pure domain code: the forecast (days_left), its marks, and the
properties the scan and the watch index rely on (CONTRACT.md section 3)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from balance_alerts.domain.rules.runs_out import days_left, optimistic_days_left
from balance_alerts.domain.watch import needs_watch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.unit.history import Account, amounts, at, brief, histories, profile, replay

D = Decimal
RUNWAY_RULE = {"id": "runway", "type": "runs_out", "days": [10, 5, 3, 1, 0],
               "notify": ["customer"]}
RUNWAY = profile(RUNWAY_RULE)
CONTRACT = profile(
    {"id": "low", "type": "balance_below", "threshold": "20.00",
     "notify": ["customer", "staff"], "notify_recovery": True},
    {"id": "empty", "type": "balance_below", "threshold": "0", "notify": ["customer", "staff"]},
    RUNWAY_RULE,
    {"id": "idle", "type": "inactive", "threshold": "5.00", "inactive_days": 30,
     "notify": ["customer"]},
    reminder_every_hours=24, max_reminders=3,
)


def forecasts(notices) -> list[tuple[str, int]]:
    """(mark, days_left) of each funds_run_out notice."""
    return [(n.level, n.variables["days_left"]) for n in notices if n.type == "funds_run_out"]


def steady(days: range, *, top_up: str = "200", scan_days=(), marks=None) -> Account:
    """``top_up`` on day 0 at 08:00, then 10.00 charged every day at 09:00, and a scan at
    09:30 on ``scan_days``. From day 3 on, after day d's charge, the average is 10.00 a
    day and the forecast (top_up - 10 (d + 1)) / 10 days."""
    account = Account(profile(dict(RUNWAY_RULE, days=marks)) if marks else RUNWAY)
    account.credit(top_up, at(0, 8))
    for day in days:
        account.charge("10.00", at(day, 9))
        if day in scan_days:
            account.scan(at(day, 9, 30))
    return account


# ------------------------------------------------------------------ days_left
def test_the_forecast_is_the_balance_over_the_average_daily_charge():
    # Given 100.00 topped up, then 10.00 a day for 5 days (50.00 left)
    account = steady(range(5), top_up="100")
    # Then on day 4 the money lasts 50 / 10 = 5 more days
    assert days_left(account.state, at(4, 10)) == 5


def test_the_average_is_over_the_last_14_days_only():
    # Given a one-off 700.00 charge on day 0, then 10.00 a day from day 1
    account = Account(RUNWAY)
    account.credit("2000", at(0, 8))
    account.charge("700", at(0, 9))
    for day in range(1, 15):
        account.charge("10", at(day, 9))
        if day == 13:
            # On day 13 the window (days 0..13) still holds the one-off charge:
            # 1170 / (830 / 14 a day) = 19.7 days
            assert days_left(account.state, at(13, 10)) == 19
    # On day 14 it has left the window (days 1..14): 1160 / (140 / 14 a day) = 116 days
    assert days_left(account.state, at(14, 10)) == 116


def test_with_less_than_14_days_of_history_the_average_is_over_the_days_since_the_first_charge():
    account = Account(RUNWAY)
    account.credit("100", at(0, 8))
    account.charge("20", at(0, 9))
    # day 3: 20.00 over 4 days (days 0..3) = 5.00 a day; 80 / 5 = 16
    assert days_left(account.state, at(3, 9)) == 16
    # day 9: 20.00 over 10 days = 2.00 a day; 80 / 2 = 40
    assert days_left(account.state, at(9, 9)) == 40


def test_nothing_is_forecast_until_the_first_charge_is_three_days_back():
    account = Account(RUNWAY)
    account.credit("100", at(0, 8))
    account.charge("20", at(0, 9))
    assert days_left(account.state, at(1, 9)) is None
    assert days_left(account.state, at(3, 8, 59)) is None
    assert days_left(account.state, at(3, 9)) == 16
    # and so the scan sends nothing before then, however little money is left
    account.charge("79", at(0, 10))  # 1.00 left
    assert account.scan(at(3, 8, 59)) == []
    assert forecasts(account.scan(at(3, 9))) == [("0", 0)]


def test_without_recent_spend_there_is_no_forecast():
    # Only credits: nothing is spent
    credits_only = Account(RUNWAY)
    credits_only.credit("5", at(0, 8))
    assert days_left(credits_only.state, at(10)) is None
    # Charges of units only: no money spent
    units_only = Account(RUNWAY)
    units_only.credit("5", at(0, 8))
    units_only.post("charge", None, at(0, 9), service="piano", quantity=D(1))
    assert days_left(units_only.state, at(10)) is None
    # The last money charge has left the 14-day window
    stale = Account(RUNWAY)
    stale.credit("19", at(0, 8))
    stale.charge("14", at(0, 9))
    assert days_left(stale.state, at(13, 10)) == 5  # 5 / (14 / 14 a day)
    assert days_left(stale.state, at(14, 10)) is None
    assert stale.scan(at(20)) == []


def test_a_balance_at_or_below_zero_has_zero_days_left():
    account = Account(RUNWAY)
    account.credit("10", at(0, 8))
    account.charge("10", at(0, 9))
    assert days_left(account.state, at(3, 9)) == 0
    account.charge("25", at(3, 10))
    assert days_left(account.state, at(4, 10)) == 0, "never negative"


def test_the_forecast_is_rounded_down():
    # Given 200.00 and 10.00 a day for 14 days: 60.00 left, 6 days
    account = steady(range(14))
    assert days_left(account.state, at(13, 10)) == 6
    # When 0.01 is refunded (not a charge: the average stays 10.00 a day)
    account.refund("0.01", at(13, 11))
    # Then 59.99 lasts 5.999 days: 5
    assert days_left(account.state, at(13, 12)) == 5


def test_an_exact_whole_number_of_days_is_not_rounded_down_a_day():
    # Given 10.00 charged on day 0 and 10.00 left: on day 5 the average is 10 / 6 a day
    account = Account(profile(dict(RUNWAY_RULE, days=[5])))
    account.credit("20", at(0, 8))
    account.charge("10", at(0, 9))
    # Then the money lasts exactly 10 / (10 / 6) = 6 days, and the 5-day mark is not due
    assert days_left(account.state, at(5, 10)) == 6
    assert account.scan(at(5, 10)) == []


# ---------------------------------------------------------------------- marks
def test_each_mark_is_sent_once_as_the_forecast_reaches_it():
    # day d: (190 - 10 d) / 10 = 19 - d days left
    account = steady(range(22), scan_days=range(22))
    assert forecasts(account.notices) == [("10", 10), ("5", 5), ("3", 3), ("1", 1), ("0", 0)]
    notice = account.notices[0]
    assert (notice.type, notice.rule_id, notice.audiences) == (
        "funds_run_out", "runway", ("customer",))
    assert notice.variables["balance"] == "100.00"
    assert notice.created_at == at(9, 9, 30).isoformat()
    assert len({n.key for n in account.notices}) == 5


def test_only_the_smallest_newly_reached_mark_is_sent_and_the_larger_count_as_sent():
    # No scan until day 15, when 4 days are left: 10 and 5 are reached at once
    account = steady(range(20), scan_days=range(15, 20))
    assert forecasts(account.notices) == [("5", 4), ("3", 3), ("1", 1), ("0", 0)]


def test_a_second_scan_at_the_same_moment_sends_nothing_new():
    account = steady(range(16))
    assert forecasts(account.scan(at(15, 10))) == [("5", 4)]
    assert account.scan(at(15, 10)) == []
    assert account.scan(at(15, 11)) == []


def test_a_mark_rearms_when_a_scan_sees_the_forecast_above_it():
    def history(scan_on_day_14: bool) -> Account:
        # Entries alone (without the watch step) re-arm nothing: only the scan does here
        account = Account(profile(dict(RUNWAY_RULE, days=[5])), rewatch=False)
        account.credit("200", at(0, 8))
        account.charge("140", at(0, 9))          # a one-off
        for day in range(1, 15):
            account.charge("1", at(day, 9))
            if day == 3:
                # 57 / (143 / 4 a day) = 1.6 days
                assert forecasts(account.scan(at(3, 10))) == [("5", 1)]
        if scan_on_day_14:
            # the one-off has left the window: 46 / (14 / 14 a day) = 46 days
            assert account.scan(at(14, 10)) == []
        account.charge("41", at(15, 9))         # 5 / (54 / 14 a day) = 1.3 days
        return account

    assert forecasts(history(scan_on_day_14=True).scan(at(15, 10))) == [("5", 1)]
    assert history(scan_on_day_14=False).scan(at(15, 10)) == [], "the mark was still sent"


def test_a_mark_rearms_when_an_applied_top_up_raises_the_forecast_above_it():
    # Given 10.00 a day since day 0 and the 5-day mark sent on day 5 (40 / 10 = 4 days)
    account = steady(range(6), top_up="100", scan_days={5}, marks=[10, 5])
    assert forecasts(account.notices) == [("5", 4)]
    # When a top-up raises the forecast to 140 / 10 = 14 days, and a large charge takes
    # it back to 40 / (160 / 6) = 1.5 days before any scan saw it
    account.credit("100", at(5, 12))
    account.charge("100", at(5, 13))
    # Then the next scan sends the 5-day mark again, in a new episode
    (again,) = account.scan(at(5, 14))
    assert (again.level, again.variables["days_left"], again.episode) == ("5", 1, 2)


def test_a_top_up_rearms_only_the_marks_the_forecast_rose_above():
    account = steady(range(6), top_up="100", scan_days={5}, marks=[10, 5])
    # 70 / 10 = 7 days: above 5, not above 10
    account.credit("30", at(5, 12))
    assert account.scan(at(5, 12, 30)) == [], "10 still counts as sent"
    account.charge("40", at(5, 13))  # 30 / (100 / 6) = 1.8 days
    assert forecasts(account.scan(at(5, 14))) == [("5", 1)]


@pytest.mark.parametrize("status, billing", [
    ("active", "postpaid"), ("inactive", "prepaid"), ("suspended", "prepaid"),
    ("closed", "prepaid"),
])
def test_post_paid_and_not_active_accounts_get_no_forecast_notice(status, billing):
    account = Account(RUNWAY, status=status, billing=billing)
    account.credit("10", at(0, 8))
    account.charge("10", at(0, 9))
    assert account.scan_every(at(3), at(10), timedelta(hours=6)) == []
    assert not needs_watch(account.state, RUNWAY, at(10))


def test_an_active_prepaid_account_in_the_same_situation_is_told():
    account = Account(RUNWAY)
    account.credit("10", at(0, 8))
    account.charge("10", at(0, 9))
    assert brief(account.scan_every(at(3), at(10), timedelta(hours=6))) == [
        ("funds_run_out", "runway", "0", 0)]


# ----------------------------------------------------------------- properties
@settings(max_examples=150, deadline=None)
@given(histories, amounts, st.integers(min_value=0, max_value=72),
       st.integers(min_value=0, max_value=96))
def test_a_charge_never_raises_the_forecast(history, amount, gap, later):
    account = Account(RUNWAY)
    account.credit("200", at(0))
    end = replay(account, history, start=at(0))
    charged_at = end + timedelta(hours=gap)
    as_of = charged_at + timedelta(hours=later)
    before = days_left(account.state, as_of)
    account.charge(amount, charged_at)
    after = days_left(account.state, as_of)
    if before is not None:
        assert after is not None and after <= before


@settings(max_examples=150, deadline=None)
@given(histories, st.integers(min_value=0, max_value=24 * 40))
def test_a_second_scan_at_the_same_instant_creates_nothing_new(history, later):
    account = Account(CONTRACT)
    account.credit("200", at(0))
    moment = replay(account, history, start=at(0)) + timedelta(hours=later)
    account.scan(moment)
    assert account.scan(moment) == []


@settings(max_examples=150, deadline=None)
@given(histories, st.lists(st.integers(min_value=0, max_value=24 * 30), min_size=1,
                           max_size=4))
def test_the_optimistic_forecast_is_a_lower_bound_of_every_later_one(history, laters):
    """While no charge arrives, no later forecast is below optimistic_days_left (spend
    only leaves the window, the averaging period only grows)."""
    account = Account(RUNWAY)
    account.credit("200", at(0))
    end = replay(account, history, start=at(0))
    bound = optimistic_days_left(account.state, end)
    for hours in laters:
        left = days_left(account.state, end + timedelta(hours=hours))
        if bound is None:
            assert left is None
        elif left is not None:
            assert left >= bound


def _expected_days_left(top_up: Decimal, charges, as_of) -> int | None:
    """CONTRACT.md section 3, in exact arithmetic: balance / (charges of the last 14 days
    / the days averaged over), rounded down; nothing before the first charge is 3 days
    back, or without spend; 0 at a balance <= 0."""
    if not charges:
        return None
    first = min(moment for moment, _ in charges)
    if as_of - first < timedelta(days=3):
        return None
    days = min(14, (as_of.date() - first.date()).days + 1)
    start = as_of.date() - timedelta(days=13)
    spent = sum((Fraction(amount) for moment, amount in charges
                 if start <= moment.date() <= as_of.date()), Fraction(0))
    if spent <= 0:
        return None
    balance = Fraction(top_up) - sum((Fraction(amount) for _, amount in charges), Fraction(0))
    if balance <= 0:
        return 0
    return int(balance * days // spent)


@settings(max_examples=150, deadline=None)
@given(st.decimals(min_value=D(0), max_value=D(1000), places=2),
       st.lists(st.tuples(st.integers(min_value=0, max_value=24 * 20), amounts), max_size=12),
       st.integers(min_value=0, max_value=24 * 20))
@example(D("20"), [(9, D("10"))], 121)  # day 0 09:00; as of day 5 10:00
def test_days_left_is_the_exact_forecast_rounded_down(top_up, charges, later):
    account = Account(RUNWAY)
    if top_up:
        account.credit(top_up, at(0))
    dated = sorted((at(0, hours), amount) for hours, amount in charges)
    for moment, amount in dated:
        account.charge(amount, moment)
    as_of = (dated[-1][0] if dated else at(0)) + timedelta(hours=later)
    assert days_left(account.state, as_of) == _expected_days_left(top_up, dated, as_of)
