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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

from . import packages, rules, spend
from .entry import check as check_entry
from .model import PACKAGE_KIND, AccountState, Entry, EntryRejected, NoticeDraft, Package, Units
from .rules import RuleContext

# Stream records live 24 h; an applied id is remembered for twice that.
APPLIED_RETENTION = timedelta(hours=48)


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
    retired: list[Package] = field(default_factory=list)  # left the account item

    @property
    def changed(self) -> bool:
        return any(outcome.result == "applied" for outcome in self.outcomes)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def apply_entries(
    state: AccountState,
    entries: list[Entry],
    context: RuleContext,
    now: datetime,
    retired: Mapping[str, Package] | None = None,
) -> Applied:
    """Apply ``entries`` (in stream order) to a copy of ``state``.

    ``retired``: packages no longer on the account item that a void in ``entries``
    gives units back to (``packages.retired_needed`` names them; the caller reads them).
    After each entry (and its notices), used-up packages that no charge can draw from
    again leave the account item: ``Applied.retired`` lists them, in their final state,
    for the caller to store with their ledger entries.
    """
    result = Applied(state=copy.deepcopy(state))
    work = result.state
    gone: dict[str, Package] = {}
    # what a void may give units back to: packages retired before, then in, this batch
    available = dict(retired or {})
    for entry in entries:
        if entry.entry_id in work.applied:
            result.outcomes.append(Outcome(entry.entry_id, "duplicate"))
            continue
        try:
            check_entry(entry, work.currency)
            balance = balance_after(work.balance, entry)
            _apply_units(work.units, entry, available)  # refuses first
        except EntryRejected as rejected:
            result.outcomes.append(Outcome(entry.entry_id, "rejected", str(rejected)))
            continue
        _apply_money(work, entry, balance)
        work.applied[entry.entry_id] = _epoch(now)
        result.outcomes.append(Outcome(entry.entry_id, "applied"))
        result.notices.extend(rules.on_entry(work, context, now, entry))
        leaving = {package.package_id: package for package in packages.retire(work.units)}
        gone.update(leaving)
        available.update(leaving)
    result.retired = [p for p in gone.values() if work.units.package(p.package_id) is None]
    if result.changed:
        work.spend = spend.prune(work.spend, now.date())
        horizon = _epoch(now - APPLIED_RETENTION)
        work.applied = {key: at for key, at in work.applied.items() if at >= horizon}
        work.version += 1
    return result


def _apply_units(units: Units, entry: Entry, retired: Mapping[str, Package]) -> None:
    if entry.kind == PACKAGE_KIND:
        assert entry.package is not None
        moment = entry.occurred_at or entry.recorded_at
        packages.buy(units, entry.package, entry.entry_id, moment.isoformat())
    elif entry.uses_units:
        assert entry.service is not None and entry.quantity is not None
        packages.use(units, entry.entry_id, entry.service, entry.quantity, entry.member_id)
    elif entry.kind == "void" and entry.voided_kind == "charge":
        packages.give_back(units, entry, retired)


MAX_BALANCE_DIGITS = 38  # what a DynamoDB number holds exactly


def balance_after(balance: Decimal, entry: Entry) -> Decimal:
    """The balance after ``entry``, exact. Python's default context would round sums at
    28 significant digits; an amount may have 38. A balance that would need more than 38
    (DynamoDB could not store it) refuses the entry: recorded with its reason and
    skipped, like any entry that can never be applied."""
    with localcontext() as context:
        context.prec = 2 * MAX_BALANCE_DIGITS + 2  # never rounds two 38-digit numbers
        result = balance + entry.delta
        digits = len(result.normalize().as_tuple().digits)
    if digits > MAX_BALANCE_DIGITS:
        raise EntryRejected(
            f"the balance would need {digits} significant digits (at most "
            f"{MAX_BALANCE_DIGITS} can be stored)")
    return result


def _apply_money(state: AccountState, entry: Entry, balance: Decimal) -> None:
    state.balance = balance
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
