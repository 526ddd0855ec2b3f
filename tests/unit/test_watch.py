"""The watch index as pure domain code: which accounts the periodic scan reads. An
account is watched while a later scan could find a notice due for it (a forecast within
the largest mark, an inactivity candidate, reminders left), and only then; the scan
never reads the others, so for them no later scan may find anything due."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from balance_alerts.domain.model import AccountState
from balance_alerts.domain.rules import RuleContext, on_scan
from balance_alerts.domain.watch import needs_watch, watch_of, watch_shard
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.history import Account, amounts, at, profile, replay

LOW = {"id": "low", "type": "balance_below", "threshold": "20.00", "notify_recovery": True}
EMPTY = {"id": "empty", "type": "balance_below", "threshold": "0"}
RUNWAY = {"id": "runway", "type": "runs_out", "days": [10, 5, 3, 1, 0]}
IDLE = {"id": "idle", "type": "inactive", "threshold": "5.00", "inactive_days": 30}
LESSONS = {"id": "lessons", "type": "package_below", "remaining": "2"}
CONTRACT = profile(LOW, EMPTY, RUNWAY, IDLE, LESSONS, reminder_every_hours=24,
                   max_reminders=3)
ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------- forecast
def test_watched_once_the_forecast_is_within_the_largest_mark():
    # 200.00, then 10.00 a day at 09:00: on day d, (190 - 10 d) / 10 = 19 - d days left
    account = Account(profile(RUNWAY))
    account.credit("200", at(0, 8))
    watched = []
    for day in range(12):
        account.charge("10", at(day, 9))
        watched.append(account.watched)
    assert watched == [day >= 9 for day in range(12)]


def test_a_larger_mark_watches_earlier():
    account = Account(profile(dict(RUNWAY, days=[14, 1])))
    account.credit("200", at(0, 8))
    for day in range(6):
        account.charge("10", at(day, 9))
    assert account.watched  # 140 / 10 = 14 days left on day 5
    assert not needs_watch(account.state, profile(RUNWAY), at(5, 9))


def test_a_top_up_that_lifts_the_forecast_beyond_every_mark_unwatches():
    account = Account(profile(RUNWAY))
    account.credit("100", at(0, 8))
    for day in range(6):
        account.charge("10", at(day, 9))
    assert account.watched  # 40 / 10 = 4 days
    account.credit("1000", at(5, 12))
    assert not account.watched  # 1040 / 10 = 104 days


def test_before_three_days_of_history_the_watch_looks_ahead_to_the_first_forecast():
    # before 3 days of history there is no forecast, but a scan then may find one
    steep = Account(profile(RUNWAY))
    steep.credit("30", at(0, 8))
    steep.charge("25", at(0, 9))  # 5.00 left, 25.00 spent: at most 5 / (25/4) days later
    assert steep.watched
    gentle = Account(profile(RUNWAY))
    gentle.credit("300", at(0, 8))
    gentle.charge("1", at(0, 9))
    assert not gentle.watched


# --------------------------------------------------------------- inactivity
def test_an_inactivity_candidate_is_watched_from_the_moment_its_balance_is_low():
    account = Account(profile(IDLE))
    account.credit("10", at(0, 8))
    assert not account.watched
    account.charge("7", at(1, 9))  # 3.00: due in 30 days unless something happens
    assert account.watched


def test_a_balance_at_the_inactivity_threshold_is_not_watched():
    account = Account(profile(IDLE))
    account.credit("5.00", at(0, 8))
    assert not account.watched
    assert not needs_watch(account.state, account.profile, at(100))


def test_once_told_without_reminders_an_idle_account_is_not_watched():
    account = Account(profile(IDLE))
    account.credit("10", at(0, 8))
    account.charge("7", at(1, 9))
    assert len(account.scan(at(31, 9))) == 1
    assert not account.watched
    # a charge starts a new candidacy
    account.charge("1", at(32, 9))
    assert account.watched


# ---------------------------------------------------------------- reminders
def test_an_open_episode_with_reminders_left_is_watched_until_they_are_sent():
    account = Account(profile(LOW, EMPTY, reminder_every_hours=24, max_reminders=2))
    account.credit("30", at(0, 8))
    assert not account.watched
    account.charge("15", at(0, 9))
    assert account.watched
    account.scan(at(1, 9))
    assert account.watched, "one reminder left"
    account.scan(at(2, 9))
    assert not account.watched, "every reminder sent"


def test_an_open_episode_without_reminders_is_not_watched():
    account = Account(profile(LOW, EMPTY))
    account.credit("30", at(0, 8))
    account.charge("45", at(0, 9))  # below both levels
    assert not account.watched


def test_inactive_reminders_keep_the_account_watched():
    account = Account(profile(IDLE, reminder_every_hours=24, max_reminders=1))
    account.credit("10", at(0, 8))
    account.charge("7", at(1, 9))
    account.scan(at(31, 9))
    assert account.watched
    account.scan(at(32, 9))
    assert not account.watched


# ---------------------------------------------------------------- otherwise
def test_a_comfortable_account_is_not_watched():
    account = Account(CONTRACT)
    account.credit("1000", at(0, 8))
    for day in range(20):
        account.charge("10", at(day, 9))
        assert not account.watched, day


def test_no_profile_or_package_rules_only_never_watch():
    state = AccountState("t1", "a1", balance=Decimal(-50), created_at=at(0).isoformat())
    assert not needs_watch(state, None, at(100))
    assert not needs_watch(state, profile(LESSONS), at(100))
    assert watch_of(state, None, at(100), shards=8) is None


@pytest.mark.parametrize("status, billing", [
    ("active", "postpaid"), ("inactive", "prepaid"), ("suspended", "prepaid"),
    ("closed", "postpaid"),
])
def test_post_paid_and_not_active_accounts_are_never_watched(status, billing):
    # every reason at once: below both levels with reminders, forecast 0, idle
    account = Account(CONTRACT, status=status, billing=billing)
    account.credit("10", at(0, 8))
    account.charge("40", at(0, 9))
    for moment in (at(0, 9), at(5), at(40)):
        assert not needs_watch(account.state, CONTRACT, moment)
    assert not account.watched


def test_the_same_history_on_an_active_prepaid_account_is_watched():
    account = Account(CONTRACT)
    account.credit("10", at(0, 8))
    account.charge("40", at(0, 9))
    assert account.watched


# -------------------------------------------------------------------- shards
def test_watch_of_is_the_accounts_shard_while_watched():
    account = Account(profile(IDLE))
    account.credit("3", at(0, 8))
    assert watch_of(account.state, account.profile, at(1), 16) == watch_shard("t1", "a1", 16)
    account.credit("2", at(0, 9))
    assert watch_of(account.state, account.profile, at(1), 16) is None


ids = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
              max_size=40)


@settings(max_examples=200, deadline=None)
@given(ids, ids, st.integers(min_value=-3, max_value=1000))
def test_a_shard_is_in_range(tenant_id, account_id, shards):
    shard = watch_shard(tenant_id, account_id, shards)
    assert 0 <= shard < max(1, shards)
    assert shard == watch_shard(tenant_id, account_id, shards)


def test_a_shard_is_the_same_in_every_process():
    """Lambda runs many processes, each with its own string-hash seed: the shard an
    account was written to must be the one the scan queries from any of them."""
    keys = [("t1", "a1"), ("acme", "customer-42"), ("tenant", "ä/ß#1")]
    here = [watch_shard(tenant, account, 64) for tenant, account in keys]
    code = ("import json, sys; from balance_alerts.domain.watch import watch_shard; "
            "print(json.dumps([watch_shard(t, a, 64) for t, a in json.loads(sys.argv[1])]))")
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed,
                   PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")]))
        out = subprocess.run([sys.executable, "-c", code, json.dumps(keys)], env=env,
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(out) == here


def test_shards_spread_accounts():
    shards = {watch_shard("t1", f"a{n}", 8) for n in range(200)}
    assert shards == set(range(8))


# ------------------------------------------------------------------ property
#: histories whose balance swings: top-ups large enough to lift a forecast beyond every
#: mark, so that accounts leave the index after notices were sent
swinging = st.lists(st.tuples(
    st.integers(min_value=0, max_value=96),
    st.sampled_from(["charge"] * 4 + ["credit", "credit", "refund", "adjustment", "void",
                                      "scan", "scan", "scan"]),
    amounts | st.decimals(min_value=Decimal(100), max_value=Decimal(2000), places=2),
    st.integers(min_value=0, max_value=30),
), max_size=30)


@settings(max_examples=200, deadline=None)
@given(swinging, st.sampled_from([None, 6, 24]), st.integers(min_value=0, max_value=3),
       st.lists(st.integers(min_value=0, max_value=24 * 60), min_size=1, max_size=5))
def test_an_unwatched_account_has_nothing_due_at_any_later_scan(history, every, most,
                                                                 laters):
    """The invariant the sparse index relies on: when needs_watch is False at t, a scan
    at any later moment, with no entry in between, creates no notice."""
    rules = profile(LOW, EMPTY, RUNWAY, dict(IDLE, inactive_days=5), LESSONS,
                    reminder_every_hours=every, max_reminders=most)
    account = Account(rules)
    end = replay(account, history, start=at(0))
    if not account.entries:
        return  # a saved account with no entry yet is evaluated by the next scan anyway
    if needs_watch(account.state, rules, end):  # what on_usage or the scan wrote last
        return
    context = RuleContext(profile=rules)
    for hours in laters:
        _, notices = on_scan(account.state, context, end + timedelta(hours=hours))
        assert notices == []


def test_a_charge_dated_ahead_keeps_the_account_watched():
    runway = profile(RUNWAY)
    account = Account(runway)
    account.credit("100", at(0, 8))
    # Given a charge recorded on day 0 but dated day 10 (on_usage forecasts as of it)
    account.post("charge", "30", at(0, 9), occurred=at(10, 9))
    assert needs_watch(account.state, runway, at(10, 9))
    # When a credit is applied on day 1 (and the watch is computed as of day 1)
    account.credit("1", at(1, 9))
    # Then the scan on day 13 finds the 10-day mark due: 71 / (30 / 4 a day) = 9 days
    _, notices = on_scan(account.state, account.context, at(13, 9))
    assert [(n.level, n.variables["days_left"]) for n in notices] == [("10", 9)]
    # so the account must have stayed watched
    assert account.watched
