"""Whether the periodic scan needs to look at an account (the sparse ``watch`` attribute).

An account is watched while some periodic rule could become due for it: a money rule
that only the scan evaluates (``runs_out``, ``inactive``), or an open ``balance_below``
episode whose reminders are not used up. Everything else is left out of the index, so
the scan's cost follows the accounts at risk.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from .forecast import marks_of, optimistic_days_left, rearm
from .model import AccountState, Profile


def needs_watch(state: AccountState, profile: Profile | None, now: datetime) -> bool:
    """Mutates nothing but the runs_out latches (marks below a rising forecast re-arm)."""
    if profile is None or not state.eligible_for_money_notices:
        return False
    watch = False
    reminding = bool(profile.reminder_every_hours) and profile.max_reminders > 0
    for rule in profile.rules:
        latch = state.latches.get(rule.id)
        if rule.type == "runs_out":
            left = optimistic_days_left(state, now)
            rearm(state, rule, left)
            if left is not None and left <= max(marks_of(rule)):
                watch = True
        elif rule.type == "inactive" and rule.threshold is not None:
            if state.balance < rule.threshold and not (latch and latch.open and not (
                    reminding and latch.reminders < profile.max_reminders)):
                watch = True
        if rule.type in ("balance_below", "inactive") and reminding and latch:
            if latch.open and latch.notified and latch.reminders < profile.max_reminders:
                watch = True
    return watch


def watch_shard(tenant_id: str, account_id: str, shards: int) -> int:
    """A stable shard number in [0, shards) for an account."""
    return zlib.crc32(f"{tenant_id}#{account_id}".encode()) % max(1, shards)


def watch_of(state: AccountState, profile: Profile | None, now: datetime,
             shards: int) -> int | None:
    """The value of ``watch`` for ``state``: its shard while watched, else None."""
    if needs_watch(state, profile, now):
        return watch_shard(state.tenant_id, state.account_id, shards)
    return None
