"""The ``inactive`` rule: a balance below the rule's threshold and no charge for
``inactive_days`` (counted from the account's creation if it was never charged). Once per
episode; the episode ends on a charge or when the balance is at or above the threshold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from .model import AccountState, NoticeDraft, Profile, Rule

MakeInactive = Callable[[Rule, int, int], NoticeDraft]


def idle_since(state: AccountState) -> datetime | None:
    moment = state.last_charge_at or state.created_at
    return datetime.fromisoformat(moment) if moment else None


def end_inactive_episodes(state: AccountState, profile: Profile, charged: bool) -> None:
    """After an entry: a charge, or a balance back at/above the threshold, ends it."""
    for rule in profile.rules_of("inactive"):
        latch = state.latches.get(rule.id)
        if latch and latch.open and (
            charged or rule.threshold is None or state.balance >= rule.threshold
        ):
            latch.open = False
            latch.notified = False
            latch.reminders = 0


def evaluate_inactive(
    state: AccountState, profile: Profile, as_of: datetime, make_notice: MakeInactive
) -> list[NoticeDraft]:
    if not state.eligible_for_money_notices:
        return []
    since = idle_since(state)
    notices = []
    for rule in profile.rules_of("inactive"):
        if rule.threshold is None or rule.inactive_days is None or since is None:
            continue
        latch = state.latch(rule.id)
        idle = as_of - since >= timedelta(days=rule.inactive_days)
        due = idle and state.balance < rule.threshold
        if not due:
            if latch.open and state.balance >= rule.threshold:
                latch.open, latch.notified, latch.reminders = False, False, 0
            continue
        if latch.open:
            continue
        latch.open = True
        latch.episode += 1
        latch.notified = True
        latch.reminders = 0
        latch.last_notice_at = as_of.isoformat()
        notices.append(make_notice(rule, latch.episode, 0))
    return notices
