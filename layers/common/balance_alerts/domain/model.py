"""Plain dataclasses the domain works on. Adapters convert items to and from these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

ENTRY_KINDS = ("charge", "credit", "refund", "adjustment", "void")
# What the ledger holds: the entries above (POST .../entries) and package purchases
# (POST .../packages, ledger entry id ``package#<package_id>``).
PACKAGE_KIND = "package"
LEDGER_KINDS = ENTRY_KINDS + (PACKAGE_KIND,)
AUDIENCES = ("customer", "staff")
ACCOUNT_STATUSES = ("active", "inactive", "suspended", "closed")
BILLING_MODES = ("prepaid", "postpaid")
# Rule types and the notice types they create: domain/rules/ (REGISTRY, NOTICE_TYPES).


class EntryRejected(ValueError):
    """An entry that can never be applied (a permanent reason, recorded and skipped)."""


def package_entry_id(package_id: str) -> str:
    """The ledger entry id of a package purchase. Client entry ids cannot contain "#",
    so this never collides with an entry posted to ``.../entries``."""
    return f"package#{package_id}"


@dataclass(frozen=True)
class PurchasedItem:
    service: str
    quantity: Decimal
    unit_price: Decimal


@dataclass(frozen=True)
class PackagePurchase:
    """What a package purchase entry carries (the ``package`` map of its ledger item)."""

    package_id: str
    name: str
    items: tuple[PurchasedItem, ...]
    price: Decimal
    member_id: str | None = None


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
    # Units: a charge's service and quantity (and whose packages); a void of such a
    # charge carries the same three, copied from the charge.
    service: str | None = None
    quantity: Decimal | None = None
    member_id: str | None = None
    package: PackagePurchase | None = None
    # The currency the ledger item was recorded in (the API writes the account's); an
    # item without one is taken to be in the account's currency.
    currency: str | None = None

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
        return Decimal(0)  # a package purchase does not move the money balance

    @property
    def uses_units(self) -> bool:
        return self.kind == "charge" and self.service is not None and bool(self.quantity)

    @property
    def is_activity(self) -> bool:
        return self.kind == "charge"


@dataclass(frozen=True)
class Rule:
    """One rule of a profile: what every type has (id, type, audiences, extra
    recipients), and the fields its type reads, parsed by its module in domain/rules/
    (a type with fields of its own keeps them in ``options``)."""

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
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)


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


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass
class PackageItem:
    """One service of a package: units bought and used. ``alerted`` names the
    ``package_below`` rules whose notice this item has had (once per item, ever)."""

    service: str
    purchased: Decimal
    unit_price: Decimal
    used: Decimal = Decimal(0)
    alerted: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.purchased - self.used

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "purchased": self.purchased,
                "unit_price": self.unit_price, "used": self.used,
                "alerted": list(self.alerted)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PackageItem:
        return cls(service=str(data["service"]), purchased=_dec(data["purchased"]),
                   unit_price=_dec(data.get("unit_price", 0)), used=_dec(data.get("used", 0)),
                   alerted=[str(rule) for rule in data.get("alerted") or ()])


@dataclass
class Package:
    """A package on the account, in purchase order (``seq``, given when it is applied)."""

    package_id: str
    entry_id: str
    name: str
    seq: int
    purchased_at: str
    price: Decimal
    items: list[PackageItem]
    member_id: str | None = None

    def item(self, service: str) -> PackageItem | None:
        return next((item for item in self.items if item.service == service), None)

    @property
    def used_up(self) -> bool:
        return all(item.remaining <= 0 for item in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {"package_id": self.package_id, "entry_id": self.entry_id, "name": self.name,
                "seq": self.seq, "purchased_at": self.purchased_at, "price": self.price,
                "member_id": self.member_id, "items": [item.to_dict() for item in self.items]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Package:
        return cls(package_id=str(data["package_id"]),
                   entry_id=str(data.get("entry_id") or package_entry_id(data["package_id"])),
                   name=str(data.get("name", "")), seq=int(data.get("seq", 0)),
                   purchased_at=str(data.get("purchased_at", "")),
                   price=_dec(data.get("price", 0)), member_id=data.get("member_id"),
                   items=[PackageItem.from_dict(item) for item in data.get("items") or ()])


@dataclass
class Allocation:
    """Where the units of one charge went, kept so that a void gives them back to the
    same packages: ``parts`` are (package_id, quantity), oldest package first."""

    entry_id: str
    service: str
    member_id: str | None
    parts: list[tuple[str, Decimal]] = field(default_factory=list)
    unallocated: Decimal = Decimal(0)

    def to_dict(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "service": self.service, "member_id": self.member_id,
                "parts": [{"package_id": pid, "quantity": qty} for pid, qty in self.parts],
                "unallocated": self.unallocated}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Allocation:
        return cls(entry_id=str(data["entry_id"]), service=str(data["service"]),
                   member_id=data.get("member_id"),
                   parts=[(str(part["package_id"]), _dec(part["quantity"]))
                          for part in data.get("parts") or ()],
                   unallocated=_dec(data.get("unallocated", 0)))


UnallocatedKey = tuple[str | None, str]  # (member_id, service)


@dataclass
class Units:
    """The package side of an account: its current packages (oldest purchase first), the
    units charged with no package to take them from, and the allocations of the most
    recent unit charges (for voids). Stored as the ``units`` map of the account item."""

    packages: list[Package] = field(default_factory=list)
    next_seq: int = 1
    unallocated: dict[UnallocatedKey, Decimal] = field(default_factory=dict)
    allocations: list[Allocation] = field(default_factory=list)

    def package(self, package_id: str) -> Package | None:
        return next((p for p in self.packages if p.package_id == package_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "packages": [package.to_dict() for package in self.packages],
            "next_seq": self.next_seq,
            "unallocated": [
                {"member_id": member, "service": service, "quantity": quantity}
                for (member, service), quantity in sorted(
                    self.unallocated.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))
            ],
            "allocations": [allocation.to_dict() for allocation in self.allocations],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Units:
        data = data or {}
        return cls(
            packages=sorted((Package.from_dict(p) for p in data.get("packages") or ()),
                            key=lambda package: package.seq),
            next_seq=int(data.get("next_seq", 1)),
            unallocated={(row.get("member_id"), str(row["service"])): _dec(row["quantity"])
                         for row in data.get("unallocated") or ()},
            allocations=[Allocation.from_dict(a) for a in data.get("allocations") or ()],
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
    units: Units = field(default_factory=Units)

    @property
    def eligible_for_money_notices(self) -> bool:
        return self.status == "active" and self.billing == "prepaid"

    @property
    def eligible_for_package_notices(self) -> bool:
        """Package notices go to post-paid accounts too; only the status matters."""
        return self.status == "active"

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
    # Package notices: the package item ("<package_id>/<service>") takes the place of
    # the episode number in the key, since each package item has one episode, ever.
    episode_key: str | None = None

    @property
    def key(self) -> str:
        level = "recovered" if self.type == "balance_recovered" else self.level
        episode = self.episode_key if self.episode_key is not None else self.episode
        return f"{self.rule_id}#{episode}#{level}#{self.reminder}"
