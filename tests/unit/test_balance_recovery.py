"""balance_recovered after one change crossed several balance_below levels (CONTRACT.md
section 3: recovery is due for an episode in which a balance_low notice was created for
the rule, "or for a lower level that the same change crossed (the rule's own level then
counted as sent)")."""

from __future__ import annotations

from tests.unit.history import Account, at, profile

LEVELS = profile(
    {"id": "low", "type": "balance_below", "threshold": "20.00", "notify_recovery": True},
    {"id": "empty", "type": "balance_below", "threshold": "0", "notify_recovery": True},
)


def crossed_both() -> Account:
    """30.00, then one 31.00 charge: 20.00 and 0 crossed at once, only 0 is sent."""
    account = Account(LEVELS)
    account.credit("30", at(0, 8))
    assert [(n.type, n.rule_id) for n in account.charge("31", at(0, 9))] == [
        ("balance_low", "empty")]
    return account


def test_the_level_that_was_sent_recovers():
    account = crossed_both()
    recovered = account.credit("100", at(1))
    assert ("balance_recovered", "empty") in [(n.type, n.rule_id) for n in recovered]


def test_levels_told_one_after_another_each_recover():
    account = Account(LEVELS)
    account.credit("30", at(0, 8))
    account.charge("11", at(0, 9))    # 19.00: low
    account.charge("20", at(0, 10))   # -1.00: empty
    recovered = account.credit("100", at(1))
    assert sorted((n.type, n.rule_id) for n in recovered) == [
        ("balance_recovered", "empty"), ("balance_recovered", "low")]


def test_a_level_counted_as_sent_recovers_too():
    account = crossed_both()
    recovered = account.credit("100", at(1))
    assert sorted((n.type, n.rule_id) for n in recovered) == [
        ("balance_recovered", "empty"), ("balance_recovered", "low")]
