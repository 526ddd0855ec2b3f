"""Whether the periodic scan needs to look at an account (the sparse ``watch`` attribute).

An account is watched while some rule type says a later scan could find a notice due
for it (``RuleType.needs_watch``): a forecast within the largest mark, an inactivity
candidate, an open episode whose reminders are not used up. Everything else is left out
of the index, so the scan's cost follows the accounts at risk.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from .model import AccountState, Profile
from .rules import REGISTRY


def needs_watch(state: AccountState, profile: Profile | None, now: datetime) -> bool:
    """Mutates nothing but latches a rule type re-arms (runs_out marks below a rising
    forecast). Every type is asked, so each re-arms whatever the others answer."""
    if profile is None:
        return False
    answers = [rule_type.needs_watch(rules, state, profile, now)
               for name, rule_type in REGISTRY.items() if (rules := profile.rules_of(name))]
    return any(answers)


def watch_shard(tenant_id: str, account_id: str, shards: int) -> int:
    """A stable shard number in [0, shards) for an account."""
    return zlib.crc32(f"{tenant_id}#{account_id}".encode()) % max(1, shards)


def watch_of(state: AccountState, profile: Profile | None, now: datetime,
             shards: int) -> int | None:
    """The value of ``watch`` for ``state``: its shard while watched, else None."""
    if needs_watch(state, profile, now):
        return watch_shard(state.tenant_id, state.account_id, shards)
    return None
