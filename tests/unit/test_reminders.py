"""Reminders as pure domain code (CONTRACT.md section 3): while a balance_below or
inactive episode lasts, the scan sends the same notice again every
reminder_every_hours, at most max_reminders times per episode."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.history import Account, at, brief, profile, replay

HOUR = timedelta(hours=1)
LOW = {"id": "low", "type": "balance_below", "threshold": "20.00", "notify_recovery": True,
       "notify": ["customer", "staff"]}
EMPTY = {"id": "empty", "type": "balance_below", "threshold": "0", "notify": ["staff"]}
IDLE = {"id": "idle", "type": "inactive", "threshold": "5.00", "inactive_days": 30}
LEVELS = profile(LOW, EMPTY, reminder_every_hours=24, max_reminders=3)


def low_since(hour: int = 9, **fields) -> Account:
    """30.00 topped up, then 15.00 charged on day 0 at ``hour``: the 20.00 level opens."""
    account = Account(fields.pop("profile", LEVELS), **fields)
    account.credit("30", at(0, 8))
    account.charge("15", at(0, hour))
    return account


def reminders(notices) -> list[tuple[str, int, int, str]]:
    """(rule, episode, reminder, created_at) of each reminder."""
    return [(n.rule_id, n.episode, n.reminder, n.created_at) for n in notices if n.reminder]


def test_a_reminder_follows_every_reminder_every_hours():
    account = low_since()
    assert account.scan_every(at(0, 10), at(1, 8), HOUR) == []
    (first,) = account.scan(at(1, 9))
    assert brief([first]) == [("balance_low", "low", "20.00", 1)]
    assert first.key == "low#1#20.00#1"
    assert first.variables["max_reminders"] == 3
    assert first.audiences == ("customer", "staff")
    assert account.scan_every(at(1, 10), at(2, 8), HOUR) == []
    assert [n.reminder for n in account.scan(at(2, 9))] == [2]


def test_a_late_scan_sends_one_reminder_and_the_next_counts_from_it():
    account = low_since()
    assert [n.reminder for n in account.scan(at(3, 15))] == [1], "not three at once"
    assert account.scan(at(4, 14)) == []
    assert [n.reminder for n in account.scan(at(4, 15))] == [2]


def test_at_most_max_reminders_per_episode():
    account = low_since()
    account.scan_every(at(0, 10), at(10), HOUR)
    assert reminders(account.notices) == [
        ("low", 1, 1, at(1, 9).isoformat()), ("low", 1, 2, at(2, 9).isoformat()),
        ("low", 1, 3, at(3, 9).isoformat())]


def test_a_new_episode_has_its_own_reminders():
    account = low_since()
    account.scan_every(at(0, 10), at(5), HOUR)
    account.credit("10", at(5, 1))   # 25.00: the episode ends (recovered)
    account.charge("10", at(5, 2))   # 15.00: a new one
    account.scan_every(at(5, 3), at(10), HOUR)
    assert [(episode, reminder) for _, episode, reminder, _ in reminders(account.notices)
            ] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert reminders(account.notices)[3][3] == at(6, 2).isoformat()


def test_only_the_lowest_open_level_reminds():
    account = low_since()                 # 15.00: low, at 09:00
    account.charge("20", at(0, 12))       # -5.00: empty, at 12:00
    assert account.scan(at(1, 9)) == [], "low is not the lowest open level"
    assert [(n.rule_id, n.reminder) for n in account.scan(at(1, 12))] == [("empty", 1)]
    # When the lowest level closes, the one above it reminds again
    account.credit("10", at(1, 13))       # 5.00: empty ends, low still open
    assert [(n.rule_id, n.reminder) for n in account.scan(at(1, 14))] == [("low", 1)]


def test_a_level_counted_as_sent_does_not_remind():
    account = Account(LEVELS)
    account.credit("30", at(0, 8))
    account.charge("31", at(0, 9))        # -1.00: crosses 20 and 0, only 0 is sent
    account.credit("11", at(0, 10))       # 10.00: empty ends, low (never sent) is open
    assert account.scan_every(at(0, 11), at(5), HOUR) == []


def test_no_reminders_without_reminder_every_hours_or_max_reminders():
    for reminding in ({}, {"reminder_every_hours": 24}, {"max_reminders": 3},
                      {"reminder_every_hours": 24, "max_reminders": 0},
                      {"reminder_every_hours": 0, "max_reminders": 3}):
        account = low_since(profile=profile(LOW, EMPTY, **reminding))
        assert account.scan_every(at(0, 10), at(10), timedelta(hours=6)) == [], reminding
        assert not account.watched, reminding


def test_a_reminder_of_a_disabled_type_is_suppressed_like_its_notice():
    account = low_since(context_fields={"enabled_types": frozenset({"funds_run_out"}),
                                        "class_id": "basic"})
    (reminder,) = account.scan(at(1, 9))
    assert (reminder.reminder, reminder.status) == (1, "suppressed")


def test_inactive_reminds_too():
    account = Account(profile(IDLE, reminder_every_hours=24, max_reminders=2))
    account.credit("10", at(0, 8))
    account.charge("7", at(1, 9))
    account.scan_every(at(31, 9), at(40, 9), HOUR)
    assert [(n.type, n.reminder, n.created_at) for n in account.notices] == [
        ("inactive", 0, at(31, 9).isoformat()), ("inactive", 1, at(32, 9).isoformat()),
        ("inactive", 2, at(33, 9).isoformat())]
    assert account.notices[1].variables["inactive_days"] == 30


def test_a_charge_stops_inactive_reminders():
    account = Account(profile(IDLE, reminder_every_hours=24, max_reminders=2))
    account.credit("10", at(0, 8))
    account.charge("7", at(1, 9))
    account.scan(at(31, 9))
    account.charge("1", at(31, 10))
    assert account.scan_every(at(31, 11), at(40), HOUR) == []


def test_post_paid_accounts_get_no_reminders():
    account = low_since(billing="postpaid")
    assert account.scan_every(at(0, 10), at(5), HOUR) == []


# ----------------------------------------------------------------- property
#: slow histories with frequent scans, around the levels: episodes that last
lingering = st.lists(st.tuples(
    st.integers(min_value=0, max_value=48),
    st.sampled_from(["charge", "charge", "credit", "refund", "void"] + ["scan"] * 4),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(30), places=2),
    st.integers(min_value=0, max_value=30),
), max_size=30)


@settings(max_examples=150, deadline=None)
@given(lingering, st.sampled_from([1, 6, 24]), st.integers(min_value=1, max_value=3))
def test_reminders_are_numbered_spaced_and_bounded_per_episode(history, every, most):
    """Each reminder follows a notice of its own rule and episode, at least
    reminder_every_hours after the previous one, numbered 1, 2, ... up to max_reminders,
    and only at a scan."""
    account = Account(profile(LOW, EMPTY, dict(IDLE, inactive_days=2),
                              reminder_every_hours=every, max_reminders=most))
    account.credit("40", at(0))
    replay(account, history, start=at(0))
    chains: dict[tuple[str, int], list] = defaultdict(list)
    for notice in account.notices:
        if notice.type in ("balance_low", "inactive"):
            chains[(notice.rule_id, notice.episode)].append(notice)
    for chain in chains.values():
        assert [n.reminder for n in chain] == list(range(len(chain)))
        assert len(chain) <= 1 + most
        for previous, notice in pairwise(chain):
            assert notice.entry_id is None
            gap = (datetime.fromisoformat(notice.created_at)
                   - datetime.fromisoformat(previous.created_at))
            assert gap >= timedelta(hours=every)
