"""Reminders: while a ``balance_below`` or ``inactive`` episode lasts, the scan repeats its notice every
``reminder_every_hours``, at most ``max_reminders`` times per episode. The counter resets
when the episode ends (see balance_below.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from .model import AccountState, NoticeDraft, Profile, Rule

MakeReminder = Callable[[Rule, int, int], NoticeDraft]


def due_reminders(
    state: AccountState, profile: Profile, as_of: datetime, make_reminder: MakeReminder
) -> list[NoticeDraft]:
    """Reminder notices due at ``as_of``; updates the latches of ``state``."""
    if not profile.reminder_every_hours or profile.max_reminders <= 0:
        return []
    if not state.eligible_for_money_notices:
        return []
    every = timedelta(hours=profile.reminder_every_hours)
    notices = []
    lowest = _lowest_open_level(state, profile)
    for rule in profile.rules_of("balance_below") + profile.rules_of("inactive"):
        latch = state.latches.get(rule.id)
        if not latch or not latch.open or not latch.notified or not latch.last_notice_at:
            continue
        if rule.type == "balance_below" and rule.id != lowest:
            continue  # while several levels are open, only the lowest one reminds
        if latch.reminders >= profile.max_reminders:
            continue
        if datetime.fromisoformat(latch.last_notice_at) + every > as_of:
            continue
        latch.reminders += 1
        latch.last_notice_at = as_of.isoformat()
        notices.append(make_reminder(rule, latch.episode, latch.reminders))
    return notices


def _lowest_open_level(state: AccountState, profile: Profile) -> str | None:
    open_rules = [
        rule for rule in profile.rules_of("balance_below")
        if rule.id in state.latches and state.latches[rule.id].open
    ]
    if not open_rules:
        return None
    return min(open_rules, key=lambda rule: rule.threshold if rule.threshold is not None
               else 0).id
