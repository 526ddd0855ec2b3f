"""The balance_below rule as pure domain code: examples and properties."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from balance_alerts.domain.ledger import apply_entries
from balance_alerts.domain.rules import RuleContext
from balance_alerts.domain.model import AccountState, Entry, Profile
from balance_alerts.domain.profiles import profile_from_dict

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

PROFILE = profile_from_dict("standard", {
    "rules": [
        {"id": "low", "type": "balance_below", "threshold": "20", "notify": ["customer"],
         "notify_recovery": True},
        {"id": "empty", "type": "balance_below", "threshold": "0", "notify": ["staff"]},
    ],
})


def _entries(*pairs: tuple[str, str]) -> list[Entry]:
    return [
        Entry(entry_id=f"e{i}", kind=kind, amount=Decimal(amount),
              recorded_at=T0 + timedelta(minutes=i))
        for i, (kind, amount) in enumerate(pairs)
    ]


def _apply(state: AccountState, entries: list[Entry], profile: Profile = PROFILE, **ctx):
    return apply_entries(state, entries, RuleContext(profile=profile, **ctx), now=T0)


def test_crossing_one_level_sends_it_once():
    result = _apply(AccountState("t", "a"), _entries(("credit", "30"), ("charge", "15"),
                                                     ("charge", "1")))
    assert [(n.type, n.rule_id, n.level) for n in result.notices] == [
        ("balance_low", "low", "20")]
    assert result.notices[0].variables["balance"] == "15"
    assert result.notices[0].audiences == ("customer",)


def test_threshold_is_strict():
    result = _apply(AccountState("t", "a"), _entries(("credit", "30"), ("charge", "10")))
    assert result.notices == []  # 20 is not below 20


def test_crossing_two_levels_sends_only_the_lowest():
    result = _apply(AccountState("t", "a"), _entries(("credit", "30"), ("charge", "31")))
    assert [n.rule_id for n in result.notices] == ["empty"]
    # the upper level counts as sent (contract section 3): its recovery will be due
    assert result.state.latches["low"].open and result.state.latches["low"].notified


def test_recovery_is_due_only_after_a_low_notice_and_rearms():
    result = _apply(AccountState("t", "a"), _entries(
        ("credit", "30"), ("charge", "15"), ("credit", "10"), ("charge", "20")))
    assert [(n.type, n.episode) for n in result.notices] == [
        ("balance_low", 1), ("balance_recovered", 1), ("balance_low", 2)]
    keys = [n.key for n in result.notices]
    assert len(set(keys)) == 3


def test_disabled_type_is_suppressed_with_reason():
    result = _apply(AccountState("t", "a"), _entries(("charge", "5")),
                    enabled_types=frozenset({"funds_run_out"}), class_id="basic")
    assert [n.status for n in result.notices] == ["suppressed"]
    assert "basic" in result.notices[0].reason


def test_applying_the_same_entry_twice_changes_nothing():
    first = _apply(AccountState("t", "a"), _entries(("credit", "30"), ("charge", "15")))
    again = _apply(first.state, _entries(("credit", "30"), ("charge", "15")))
    assert again.state.balance == Decimal(15)
    assert again.notices == []
    assert not again.changed
    assert [o.result for o in again.outcomes] == ["duplicate", "duplicate"]


def test_invalid_entries_are_rejected_with_a_reason_and_change_nothing():
    bad = [Entry("z1", "charge", T0, amount=Decimal(-1)),
           Entry("z2", "adjustment", T0, amount=Decimal(0)),
           Entry("z3", "void", T0)]
    result = _apply(AccountState("t", "a"), bad)
    assert [o.result for o in result.outcomes] == ["rejected"] * 3
    assert all(o.reason for o in result.outcomes)
    assert result.state.balance == 0 and not result.changed


def test_an_entry_in_another_currency_than_the_accounts_is_rejected():
    entries = [Entry("usd", "credit", T0, amount=Decimal(5), currency="USD"),
               Entry("eur", "credit", T0, amount=Decimal(7), currency="EUR"),
               Entry("none", "credit", T0, amount=Decimal(1))]  # the account's
    result = _apply(AccountState("t", "a", currency="USD"), entries)
    assert [(o.entry_id, o.result, o.reason) for o in result.outcomes] == [
        ("usd", "applied", ""),
        ("eur", "rejected", "currency EUR is not the account's currency USD"),
        ("none", "applied", "")]
    assert result.state.balance == Decimal(6)
    assert "eur" not in result.state.applied


kinds = st.sampled_from(["charge", "credit", "refund", "adjustment"])
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)
histories = st.lists(st.tuples(kinds, amounts), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(histories, st.integers(min_value=1, max_value=10), st.booleans())
def test_properties_of_any_history(history, split, eligible):
    """Balance is the exact sum; notices never repeat a key; at most one balance_low per
    rule per episode; the outcome does not depend on how the stream batched entries."""
    entries = _entries(*[(kind, str(amount)) for kind, amount in history])
    start = AccountState("t", "a", billing="prepaid" if eligible else "postpaid")
    whole = _apply(start, entries)

    state, notices = start, []
    for offset in range(0, len(entries), split):
        batch = _apply(state, entries[offset: offset + split])
        state, notices = batch.state, notices + batch.notices
    # redelivery of everything changes nothing
    replay = _apply(state, entries)

    expected = sum((e.delta for e in entries), Decimal(0))
    assert whole.state.balance == state.balance == replay.state.balance == expected
    assert [n.key for n in notices] == [n.key for n in whole.notices]
    assert replay.notices == []
    keys = [n.key for n in notices]
    assert len(keys) == len(set(keys))
    lows = [(n.rule_id, n.episode) for n in notices if n.type == "balance_low"]
    assert len(lows) == len(set(lows))
    if not eligible:
        assert notices == []


LEVELS = profile_from_dict("levels", {"rules": [
    {"id": f"below-{level}", "type": "balance_below", "threshold": level,
     "notify_recovery": True} for level in ("100", "10", "0")]})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["credit", "charge"]),
                          st.sampled_from(["5", "30", "95", "150"])), min_size=1, max_size=25))
def test_every_level_the_customer_was_told_of_recovers_once_the_balance_is_back(pairs):
    """A change that crosses several levels sends the lowest; each level crossed counts as
    told, so each recovers (once) when the balance is back at or above it."""
    entries = _entries(*pairs)
    result = _apply(AccountState("t", "a"), entries, LEVELS)
    by_entry: dict[str, list] = {}
    for notice in result.notices:
        by_entry.setdefault(notice.entry_id, []).append(notice)
    balance, told = Decimal(0), {}  # open episodes: rule id -> the customer was told
    for entry in entries:
        balance += entry.delta
        notices = by_entry.get(entry.entry_id, [])
        lows = [n for n in notices if n.type == "balance_low"]
        recovered = {n.rule_id for n in notices if n.type == "balance_recovered"}
        assert len(lows) <= 1  # one change, one low notice at most
        opened = [rule for rule in LEVELS.rules
                  if balance < rule.threshold and rule.id not in told]
        if opened:
            lowest = min(opened, key=lambda rule: rule.threshold)
            assert [n.rule_id for n in lows] == [lowest.id]
            told.update({rule.id: True for rule in opened})
        else:
            assert lows == []
        closed = {rule.id for rule in LEVELS.rules
                  if rule.threshold <= balance and rule.id in told}
        assert recovered == {rule_id for rule_id in closed if told.pop(rule_id)}
