"""Apply ledger entries to an account, in order, exactly once each, and collect the
notices that became due after each entry.

Idempotency lives in the account itself: ``state.applied`` maps the id of each entry
applied to the time it was applied. A stream record is redelivered, if ever, within the
stream's 24 h retention of being written, and it is applied after it is written, so an
id is kept for 48 h after it was applied and then pruned. A redelivered record is
recognised and skipped without a separate idempotency table.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from . import spend
from .balance_below import evaluate_balance_below
from .inactivity import end_inactive_episodes
from .model import MONEY_RULE_TYPES, AccountState, Entry, NoticeDraft, Profile, Rule

# Stream records live 24 h; an applied id is remembered for twice that.
APPLIED_RETENTION = timedelta(hours=48)


class EntryRejected(ValueError):
    """An entry that can never be applied (a permanent reason, recorded and skipped)."""


@dataclass
class Outcome:
    """What happened to one entry: applied, skipped as a duplicate, or rejected."""

    entry_id: str
    result: str  # "applied" | "duplicate" | "rejected"
    reason: str = ""


@dataclass
class Applied:
    state: AccountState
    notices: list[NoticeDraft] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(outcome.result == "applied" for outcome in self.outcomes)


@dataclass(frozen=True)
class Context:
    """What rules need besides the account: its profile and its class's enabled types."""

    profile: Profile | None = None
    enabled_types: frozenset[str] | None = None
    class_id: str | None = None


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def apply_entries(
    state: AccountState, entries: list[Entry], context: Context, now: datetime
) -> Applied:
    """Apply ``entries`` (in stream order) to a copy of ``state``."""
    result = Applied(state=copy.deepcopy(state))
    work = result.state
    for entry in entries:
        if entry.entry_id in work.applied:
            result.outcomes.append(Outcome(entry.entry_id, "duplicate"))
            continue
        try:
            _apply_money(work, entry)
        except EntryRejected as rejected:
            result.outcomes.append(Outcome(entry.entry_id, "rejected", str(rejected)))
            continue
        work.applied[entry.entry_id] = _epoch(now)
        result.outcomes.append(Outcome(entry.entry_id, "applied"))
        result.notices.extend(evaluate_after_entry(work, context, now, entry))
    if result.changed:
        work.spend = spend.prune(work.spend, now.date())
        horizon = _epoch(now - APPLIED_RETENTION)
        work.applied = {key: at for key, at in work.applied.items() if at >= horizon}
        work.version += 1
    return result


def _apply_money(state: AccountState, entry: Entry) -> None:
    if entry.kind in ("charge", "credit", "refund"):
        if entry.amount is None or entry.amount <= 0:
            raise EntryRejected(f"{entry.kind} needs an amount > 0")
    elif entry.kind == "adjustment":
        if entry.amount is None or entry.amount == 0:
            raise EntryRejected("adjustment needs a non-zero amount")
    elif entry.kind == "void":
        if not entry.voids or entry.void_delta is None:
            raise EntryRejected("void needs the voided entry and its reversal amount")
    else:
        raise EntryRejected(f"unknown entry kind {entry.kind!r}")
    state.balance += entry.delta
    moment = entry.occurred_at or entry.recorded_at
    if entry.is_activity:
        stamp = moment.isoformat()
        if state.last_charge_at is None or stamp > state.last_charge_at:
            state.last_charge_at = stamp
        if state.first_charge_at is None or stamp < state.first_charge_at:
            state.first_charge_at = stamp
        if entry.amount:
            spend.record_charge(state.spend, moment, entry.amount)
    elif entry.kind == "void" and entry.voided_kind == "charge" and entry.void_delta:
        spend.reverse_charge(state.spend, moment, entry.void_delta)


def evaluate_after_entry(
    state: AccountState, context: Context, now: datetime, entry: Entry | None = None
) -> list[NoticeDraft]:
    """Evaluate the immediate rules for the state reached after one entry (or a scan)."""
    profile = context.profile
    if profile is None:
        return []
    created_at = now

    def make_notice(
        rule: Rule, notice_type: str, episode: int, reminder: int, variables: dict
    ) -> NoticeDraft:
        return draft_notice(
            rule,
            notice_type,
            episode=episode,
            level=_level(rule),
            reminder=reminder,
            created_at=created_at.isoformat(),
            variables=variables,
            context=context,
            entry_id=entry.entry_id if entry else None,
        )

    end_inactive_episodes(state, profile, charged=bool(entry and entry.is_activity))
    return evaluate_balance_below(state, profile, make_notice)


def _level(rule: Rule) -> str:
    if rule.threshold is not None:
        return format(rule.threshold, "f")
    return "0"


def draft_notice(
    rule: Rule,
    notice_type: str,
    *,
    episode: int,
    level: str,
    reminder: int,
    created_at: str,
    variables: dict,
    context: Context,
    entry_id: str | None = None,
) -> NoticeDraft:
    """A notice for ``rule``; suppressed (with the reason) when the class disables its type."""
    status, reason = "pending", ""
    if context.enabled_types is not None and notice_type not in context.enabled_types:
        status = "suppressed"
        reason = f"notice type {notice_type} is disabled for class {context.class_id}"
    return NoticeDraft(
        rule_id=rule.id,
        type=notice_type,
        episode=episode,
        level=level,
        reminder=reminder,
        audiences=tuple(rule.notify),
        created_at=created_at,
        variables={
            key: format(value, "f") if isinstance(value, Decimal) else value
            for key, value in variables.items()
        }
        | {"rule": _rule_recipients(rule)},
        status=status,
        reason=reason,
        entry_id=entry_id,
    )


def _rule_recipients(rule: Rule) -> dict:
    return {"cc_emails": list(rule.cc_emails), "staff_emails": list(rule.staff_emails)}


def is_money_rule(rule: Rule) -> bool:
    return rule.type in MONEY_RULE_TYPES
