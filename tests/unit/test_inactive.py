"""The inactive rule as pure domain code: a low balance that sits unused (CONTRACT.md
section 3: due when balance < threshold and no charge for inactive_days, counted from
the account's creation if it was never charged; the episode ends on a charge or when the
balance is at or above the threshold)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balance_alerts.domain.rules.inactive import idle_since
from tests.unit.history import Account, amounts, at, brief, profile

IDLE_RULE = {"id": "idle", "type": "inactive", "threshold": "5.00", "inactive_days": 30,
             "notify": ["customer"]}
IDLE = profile(IDLE_RULE)
DAY = timedelta(days=1)


def idle_account(**fields) -> Account:
    """Created on day 0; 10.00 topped up, 7.00 charged on day 1 at 09:00: 3.00 left."""
    account = Account(IDLE, **fields)
    account.credit("10", at(0, 8))
    account.charge("7", at(1, 9))
    return account


def inactive(notices) -> list[tuple[int, int]]:
    """(episode, reminder) of each inactive notice."""
    return [(n.episode, n.reminder) for n in notices if n.type == "inactive"]


# ---------------------------------------------------------------------- due
def test_due_once_inactive_days_have_passed_since_the_last_charge():
    account = idle_account()
    assert account.scan(at(31, 8, 59)) == []
    (notice,) = account.scan(at(31, 9))
    assert brief([notice]) == [("inactive", "idle", "5.00", 0)]
    assert notice.audiences == ("customer",)
    assert {key: notice.variables[key] for key in ("balance", "threshold", "inactive_days")
            } == {"balance": "3", "threshold": "5.00", "inactive_days": 30}
    assert notice.entry_id is None, "found by the scan"


def test_a_never_charged_account_counts_from_its_creation():
    account = Account(IDLE, created=at(0, 12))
    account.credit("3", at(0, 13))
    assert idle_since(account.state) == at(0, 12)
    assert account.scan(at(30, 11, 59)) == []
    assert inactive(account.scan(at(30, 12))) == [(1, 0)]


def test_the_threshold_is_strict_and_a_balance_at_or_above_it_is_never_due():
    for amount in ("5.00", "5.01", "100"):
        account = Account(IDLE)
        account.credit(amount, at(0, 8))
        assert account.scan_every(at(1), at(100), DAY) == [], amount


def test_an_account_charged_recently_is_not_due():
    account = idle_account()
    for day in range(2, 60, 20):  # a charge every 20 days
        account.charge("0.10", at(day, 9))
    assert account.scan_every(at(2), at(60), DAY) == []


def test_entries_alone_never_create_it():
    # Only the scan finds an account idle: entries long after still create nothing
    account = idle_account()
    assert account.credit("0.50", at(50)) == []
    assert account.refund("0.50", at(51)) == []
    assert inactive(account.notices) == []


# ------------------------------------------------------------------ episodes
def test_once_per_episode():
    account = idle_account()
    account.scan_every(at(31, 9), at(120, 9), DAY)
    assert inactive(account.notices) == [(1, 0)]


def test_a_charge_ends_the_episode_and_the_idle_time_counts_from_it():
    account = idle_account()
    account.scan_every(at(31, 9), at(39, 9), DAY)
    account.charge("1", at(40, 9))  # 2.00 left
    account.scan_every(at(40, 10), at(80, 10), timedelta(hours=12))
    notices = [n for n in account.notices if n.type == "inactive"]
    assert [(n.episode, n.created_at) for n in notices] == [
        (1, at(31, 9).isoformat()), (2, at(70, 10).isoformat())]
    assert len({n.key for n in notices}) == 2


def test_a_balance_back_at_the_threshold_ends_the_episode():
    account = idle_account()
    account.scan(at(31, 9))
    # Given the balance topped up to exactly the threshold: the episode ends
    account.credit("2", at(35))
    assert account.scan_every(at(35, 1), at(40), DAY) == []
    # When it falls below again, with still no charge since day 1
    account.refund("1", at(41))
    # Then the next scan starts a new episode at once
    assert inactive(account.scan(at(41, 1))) == [(2, 0)]


def test_a_second_scan_at_the_same_moment_sends_nothing_new():
    account = idle_account()
    assert len(account.scan(at(40))) == 1
    assert account.scan(at(40)) == []


@pytest.mark.parametrize("status, billing", [
    ("active", "postpaid"), ("inactive", "prepaid"), ("suspended", "prepaid"),
    ("closed", "prepaid"),
])
def test_post_paid_and_not_active_accounts_are_not_told(status, billing):
    account = idle_account(status=status, billing=billing)
    assert account.scan_every(at(30), at(90), DAY) == []


def test_several_inactive_rules_each_have_their_own_episode():
    account = Account(profile(IDLE_RULE, {"id": "dormant", "type": "inactive",
                                          "threshold": "50", "inactive_days": 10}))
    account.credit("10", at(0, 8))
    account.charge("7", at(1, 9))
    account.scan_every(at(2, 9), at(40, 9), DAY)
    assert [(n.rule_id, n.level, n.created_at) for n in account.notices] == [
        ("dormant", "50", at(11, 9).isoformat()), ("idle", "5.00", at(31, 9).isoformat())]


# ----------------------------------------------------------------- property
THRESHOLD = Decimal(5)
IDLE_DAYS = 7
SHORT = profile(dict(IDLE_RULE, inactive_days=IDLE_DAYS))
slow_steps = st.lists(st.tuples(
    st.integers(min_value=0, max_value=24 * 6),
    st.sampled_from(["charge", "credit", "refund", "scan", "scan", "scan"]),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(8), places=2) | amounts,
), max_size=30)


@settings(max_examples=150, deadline=None)
@given(slow_steps)
def test_each_inactive_notice_is_due_and_opens_a_new_episode(steps):
    """Every inactive notice finds the balance below the threshold and no charge for
    inactive_days; after the first, only a charge or a balance at/above the threshold
    since the previous one allows another."""
    account = Account(SHORT)
    moment = at(0)
    ended = True
    for gap, what, amount in steps:
        moment += timedelta(hours=gap)
        if what != "scan":
            account.post(what, amount, moment)
            if what == "charge" or account.state.balance >= THRESHOLD:
                ended = True
            continue
        for _ in account.scan(moment):
            assert account.state.balance < THRESHOLD
            assert moment - idle_since(account.state) >= timedelta(days=IDLE_DAYS)
            assert ended, "a second notice in one episode"
            ended = False
