"""Reminders, shared by the rule types whose episodes last (``balance_below``,
``inactive``): while an episode is open and its first notice was created, the scan sends
the same notice again every ``reminder_every_hours``, at most ``max_reminders`` times per
episode. Each rule type decides which of its rules may remind; the counter resets when
its episode ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..model import AccountState, Latch, NoticeDraft, Profile, Rule
from .base import Evaluation


def reminding(profile: Profile) -> bool:
    """Whether the profile asks for reminders at all."""
    return bool(profile.reminder_every_hours) and profile.max_reminders > 0


def pending(latch: Latch | None, profile: Profile) -> bool:
    """An open episode whose own notice went out, with reminders left (a later scan may
    remind). A level that only counts as sent (a lower one was crossed with it) has no
    notice time of its own and never reminds."""
    return bool(
        reminding(profile) and latch and latch.open and latch.notified
        and latch.last_notice_at and latch.reminders < profile.max_reminders
    )


def due(latch: Latch | None, profile: Profile, as_of: datetime) -> bool:
    """A reminder is due for this episode at ``as_of``."""
    if not pending(latch, profile):
        return False
    assert latch is not None and latch.last_notice_at is not None
    assert profile.reminder_every_hours is not None
    every = timedelta(hours=profile.reminder_every_hours)
    return datetime.fromisoformat(latch.last_notice_at) + every <= as_of


def remind(run: Evaluation, rule: Rule, notice_type: str, level: str) -> NoticeDraft:
    """The next reminder of ``rule``'s episode (counts it on the latch)."""
    latch = run.state.latch(rule.id)
    latch.reminders += 1
    latch.last_notice_at = run.now.isoformat()
    return run.notice(rule, notice_type, episode=latch.episode, level=level,
                      reminder=latch.reminders,
                      variables=variables(run.state, rule, run.profile))


def variables(state: AccountState, rule: Rule, profile: Profile) -> dict[str, Any]:
    """The variables of a reminder (and of an ``inactive`` notice)."""
    found: dict[str, Any] = {"balance": state.balance, "threshold": rule.threshold,
                             "currency": state.currency, "max_reminders": profile.max_reminders}
    if rule.inactive_days is not None:
        found["inactive_days"] = rule.inactive_days
    return found


def rule_variables(rule: Rule, profile: Profile) -> dict[str, Any]:
    """The variables a reminding rule takes from itself and its profile."""
    found: dict[str, Any] = {"max_reminders": profile.max_reminders}
    if rule.threshold is not None:
        found["threshold"] = format(rule.threshold, "f")
    if rule.inactive_days is not None:
        found["inactive_days"] = rule.inactive_days
    return found
