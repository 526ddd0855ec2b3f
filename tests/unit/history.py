"""Given-builder for the pure domain: one account on a calendar, its profile, and what
happened to it.

Entries are applied one at a time at the moment they occurred, and the account's
``watch`` is recomputed right after, as on_usage does before it writes the account (that
is also where an applied top-up re-arms ``runs_out`` marks). Scans run at chosen moments
and keep the state they return, as periodic_scan does. Every notice is kept, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from balance_alerts.domain.ledger import apply_entries
from balance_alerts.domain.model import AccountState, Entry, NoticeDraft, Profile
from balance_alerts.domain.profiles import profile_from_dict
from balance_alerts.domain.rules import RuleContext, on_scan
from balance_alerts.domain.watch import needs_watch

DAY0 = datetime(2026, 11, 2, tzinfo=timezone.utc)  # a Monday, 00:00 UTC


def at(day: float, hour: float = 0, minute: float = 0) -> datetime:
    """``day`` days and ``hour`` hours after DAY0."""
    return DAY0 + timedelta(days=day, hours=hour, minutes=minute)


def profile(*rules: dict[str, Any], reminder_every_hours: int | None = None,
            max_reminders: int = 0) -> Profile:
    """A profile as the API stores it (PUT /profiles/{id})."""
    return profile_from_dict("p", {"name": "P", "rules": list(rules),
                                   "reminder_every_hours": reminder_every_hours,
                                   "max_reminders": max_reminders})


@dataclass
class Account:
    """One account and its history. ``watched`` is needs_watch as last computed (after
    an entry or a scan); ``rewatch=False`` leaves it out after entries (to show what a
    scan does on its own)."""

    profile: Profile
    created: datetime = DAY0
    status: str = "active"
    billing: str = "prepaid"
    rewatch: bool = True
    context_fields: dict[str, Any] = field(default_factory=dict)
    notices: list[NoticeDraft] = field(default_factory=list)
    watched: bool = False

    def __post_init__(self) -> None:
        self.state = AccountState("t1", "a1", status=self.status, billing=self.billing,
                                  created_at=self.created.isoformat())
        self.context = RuleContext(profile=self.profile, **self.context_fields)
        self._count = 0
        self.entries: dict[str, Entry] = {}

    # ------------------------------------------------------------------ entries
    def _apply(self, entry: Entry, when: datetime) -> list[NoticeDraft]:
        result = apply_entries(self.state, [entry], self.context, when)
        assert [o.result for o in result.outcomes] == ["applied"], result.outcomes
        self.state = result.state
        self.entries[entry.entry_id] = entry
        if self.rewatch:
            self.watched = needs_watch(self.state, self.profile, when)
        self.notices += result.notices
        return result.notices

    def post(self, kind: str, amount: str | Decimal | None, when: datetime, *,
             occurred: datetime | None = None, **fields: Any) -> list[NoticeDraft]:
        """An entry of ``kind`` recorded (and applied) at ``when``, which occurred then
        unless ``occurred`` says otherwise."""
        self._count += 1
        entry = Entry(entry_id=fields.pop("entry_id", f"{kind}-{self._count}"), kind=kind,
                      recorded_at=when, occurred_at=occurred or when,
                      amount=None if amount is None else Decimal(amount), **fields)
        return self._apply(entry, when)

    def credit(self, amount: str | Decimal, when: datetime) -> list[NoticeDraft]:
        return self.post("credit", amount, when)

    def charge(self, amount: str | Decimal, when: datetime) -> list[NoticeDraft]:
        return self.post("charge", amount, when)

    def refund(self, amount: str | Decimal, when: datetime) -> list[NoticeDraft]:
        return self.post("refund", amount, when)

    def void(self, entry_id: str, when: datetime) -> list[NoticeDraft]:
        """Void an earlier charge or credit (the API copies its reversal amount)."""
        voided = self.entries[entry_id]
        return self.post("void", None, when, voids=entry_id, voided_kind=voided.kind,
                         void_delta=-voided.delta)

    # -------------------------------------------------------------------- scans
    def scan(self, when: datetime) -> list[NoticeDraft]:
        self.state, notices = on_scan(self.state, self.context, when)
        self.watched = needs_watch(self.state, self.profile, when)
        self.notices += notices
        return notices

    def scan_every(self, start: datetime, end: datetime, step: timedelta
                   ) -> list[NoticeDraft]:
        found = []
        moment = start
        while moment <= end:
            found += self.scan(moment)
            moment += step
        return found


def brief(notices: list[NoticeDraft]) -> list[tuple[str, str, str, int]]:
    """(type, rule, level, reminder) of each notice."""
    return [(n.type, n.rule_id, n.level, n.reminder) for n in notices]


# ------------------------------------------------------------------- histories
def replay(account: Account, steps: list[tuple[int, str, Decimal, int]],
           start: datetime = DAY0) -> datetime:
    """Play ``steps`` on ``account``: each is (hours after the previous step, what,
    amount, which earlier entry a void names); ``what`` is an entry kind or "scan".
    Returns the moment of the last step."""
    moment = start
    voided: set[str] = set()
    for gap, what, amount, pick in steps:
        moment += timedelta(hours=gap)
        if what == "scan":
            account.scan(moment)
        elif what == "void":
            open_ = [entry_id for entry_id, entry in account.entries.items()
                     if entry.kind in ("charge", "credit") and entry_id not in voided]
            if open_:
                chosen = open_[pick % len(open_)]
                voided.add(chosen)
                account.void(chosen, moment)
        else:
            account.post(what, amount, moment)
    return moment


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(120), places=2)
#: one step of a history: charges most often, a scan now and then
steps = st.tuples(
    st.integers(min_value=0, max_value=72),
    st.sampled_from(["charge"] * 4 + ["credit", "credit", "refund", "adjustment", "void",
                                      "scan", "scan"]),
    amounts,
    st.integers(min_value=0, max_value=30),
)
histories = st.lists(steps, max_size=25)
