"""Whether the periodic scan needs to look at an account (the sparse ``watch`` attribute).

An account is watched while some periodic rule could become due for it: a money rule
that only the scan evaluates (``runs_out``, ``inactive``), or an open ``balance_below``
episode whose reminders are not used up. Everything else is left out of the index, so
the scan's cost follows the accounts at risk.
"""

from __future__ import annotations

import zlib

from .model import AccountState, Profile


def needs_watch(state: AccountState, profile: Profile | None) -> bool:
    if profile is None or not state.eligible_for_money_notices:
        return False
    for rule in profile.rules:
        if rule.type == "runs_out" and state.balance > 0:
            return True
        if rule.type == "inactive" and rule.threshold is not None:
            if state.balance < rule.threshold:
                return True
        if rule.type == "balance_below" and profile.reminder_every_hours:
            latch = state.latches.get(rule.id)
            if latch and latch.open and latch.notified and latch.reminders < profile.max_reminders:
                return True
    return False


def watch_shard(tenant_id: str, account_id: str, shards: int) -> int:
    """A stable shard number in [0, shards) for an account."""
    return zlib.crc32(f"{tenant_id}#{account_id}".encode()) % max(1, shards)
