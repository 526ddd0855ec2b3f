"""Plain dataclasses the domain works on. Adapters convert items to and from these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

ENTRY_KINDS = ("charge", "credit", "refund", "adjustment", "void")
NOTICE_TYPES = ("balance_low", "balance_recovered", "funds_run_out", "inactive", "package_low")
AUDIENCES = ("customer", "staff")
RULE_TYPES = ("balance_below", "runs_out", "inactive", "package_below")
ACCOUNT_STATUSES = ("active", "inactive", "suspended", "closed")
BILLING_MODES = ("prepaid", "postpaid")

# Which notice type each rule type produces.
NOTICE_TYPE_OF_RULE = {
    "balance_below": "balance_low",
    "runs_out": "funds_run_out",
    "inactive": "inactive",
    "package_below": "package_low",
}
MONEY_RULE_TYPES = frozenset({"balance_below", "runs_out", "inactive"})


@dataclass(frozen=True)
class Entry:
    """One ledger fact as on_usage sees it (parsed from the stream's NEW_IMAGE)."""

    entry_id: str
    kind: str
    recorded_at: datetime
    amount: Decimal | None = None
    occurred_at: datetime | None = None
    voids: str | None = None
    void_delta: Decimal | None = None
    voided_kind: str | None = None

    @property
    def delta(self) -> Decimal:
        """The signed change this entry makes to the money balance."""
        amount = self.amount or Decimal(0)
        if self.kind == "charge" or self.kind == "refund":
            return -amount
        if self.kind == "credit" or self.kind == "adjustment":
            return amount
        if self.kind == "void":
            return self.void_delta or Decimal(0)
        return Decimal(0)

    @property
    def is_activity(self) -> bool:
        return self.kind == "charge"


@dataclass(frozen=True)
class Rule:
    id: str
    type: str
    notify: tuple[str, ...] = ("customer",)
    threshold: Decimal | None = None
    notify_recovery: bool = False
    days: tuple[int, ...] = ()
    inactive_days: int | None = None
    remaining: Decimal | None = None
    percent: Decimal | None = None
    service: str | None = None
    cc_emails: tuple[str, ...] = ()
    staff_emails: tuple[str, ...] = ()

    @property
    def notice_type(self) -> str:
        return NOTICE_TYPE_OF_RULE[self.type]


@dataclass(frozen=True)
class Profile:
    id: str
    name: str = ""
    rules: tuple[Rule, ...] = ()
    reminder_every_hours: int | None = None
    max_reminders: int = 0

    def rules_of(self, rule_type: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.type == rule_type)


@dataclass
class Latch:
    """Where one rule stands for one account: the current episode and what was sent in it."""

    episode: int = 0
    open: bool = False
    notified: bool = False
    reminders: int = 0
    last_notice_at: str | None = None
    marks: list[int] = field(default_factory=list)  # runs_out: marks sent and not re-armed

    def to_dict(self) -> dict[str, Any]:
        return {
            "episode": self.episode,
            "open": self.open,
            "notified": self.notified,
            "reminders": self.reminders,
            "last_notice_at": self.last_notice_at,
            "marks": list(self.marks),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Latch:
        return cls(
            episode=int(data.get("episode", 0)),
            open=bool(data.get("open", False)),
            notified=bool(data.get("notified", False)),
            reminders=int(data.get("reminders", 0)),
            last_notice_at=data.get("last_notice_at"),
            marks=[int(mark) for mark in data.get("marks") or ()],
        )


@dataclass
class AccountState:
    """The part of an account item that entries and rules change, plus its settings."""

    tenant_id: str
    account_id: str
    balance: Decimal = Decimal(0)
    status: str = "active"
    billing: str = "prepaid"
    currency: str = "USD"
    profile_id: str | None = None
    customer_class: str | None = None
    created_at: str | None = None
    last_charge_at: str | None = None
    first_charge_at: str | None = None
    spend: dict[str, Decimal] = field(default_factory=dict)  # UTC day -> charges
    version: int = 0
    applied: dict[str, int] = field(default_factory=dict)
    latches: dict[str, Latch] = field(default_factory=dict)

    @property
    def eligible_for_money_notices(self) -> bool:
        return self.status == "active" and self.billing == "prepaid"

    def latch(self, rule_id: str) -> Latch:
        if rule_id not in self.latches:
            self.latches[rule_id] = Latch()
        return self.latches[rule_id]


@dataclass(frozen=True)
class NoticeDraft:
    """A notice that became due. Its key makes the same notice impossible to create twice."""

    rule_id: str
    type: str
    episode: int
    level: str
    reminder: int
    audiences: tuple[str, ...]
    created_at: str
    variables: dict[str, Any]
    status: str = "pending"
    reason: str = ""
    entry_id: str | None = None

    @property
    def key(self) -> str:
        level = "recovered" if self.type == "balance_recovered" else self.level
        return f"{self.rule_id}#{self.episode}#{level}#{self.reminder}"
