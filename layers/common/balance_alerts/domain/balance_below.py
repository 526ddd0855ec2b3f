"""The ``balance_below`` rule and its ``balance_recovered`` companion.

Due when the balance is strictly below the threshold. Once per episode; the episode
ends when the balance is at or above the threshold again. When one change opens several
levels of a profile, only the lowest level gets a notice; the others count as sent.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from .model import AccountState, NoticeDraft, Profile, Rule

MakeNotice = Callable[[Rule, str, int, int, dict], NoticeDraft]


def evaluate_balance_below(
    state: AccountState, profile: Profile, make_notice: MakeNotice
) -> list[NoticeDraft]:
    """Open and close episodes for the account's current balance; return the notices due.

    Mutates the latches of ``state`` (the caller owns a private copy).
    """
    rules = profile.rules_of("balance_below")
    if not state.eligible_for_money_notices:
        return []
    notices: list[NoticeDraft] = []
    opened: list[Rule] = []
    for rule in rules:
        assert rule.threshold is not None
        latch = state.latch(rule.id)
        below = state.balance < rule.threshold
        if below and not latch.open:
            latch.open = True
            latch.episode += 1
            latch.notified = False
            latch.reminders = 0
            latch.last_notice_at = None
            opened.append(rule)
        elif not below and latch.open:
            if rule.notify_recovery and latch.notified:
                notices.append(
                    make_notice(
                        rule, "balance_recovered", latch.episode, 0, _variables(state, rule)
                    )
                )
            latch.open = False
            latch.notified = False
            latch.reminders = 0
    if opened:
        lowest = min(opened, key=lambda rule: rule.threshold or Decimal(0))
        latch = state.latch(lowest.id)
        notice = make_notice(lowest, "balance_low", latch.episode, 0, _variables(state, lowest))
        latch.notified = True
        latch.last_notice_at = notice.created_at
        notices.append(notice)
    return notices


def _variables(state: AccountState, rule: Rule) -> dict:
    return {"balance": state.balance, "threshold": rule.threshold, "currency": state.currency}
