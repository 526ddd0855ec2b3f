"""A small reference model of what the product must do, written from CONTRACT.md and
independent of the product code: exact Decimal balances, and ``balance_below`` episodes
with their notices (low, recovered, reminders). The property tests run random histories
through the real system under faults and compare it with this model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

EXACT_DIGITS = 200  # far beyond any sum a history makes: the model never rounds


@dataclass(frozen=True)
class Level:
    """One ``balance_below`` rule of the profile."""

    rule_id: str
    threshold: Decimal
    recovery: bool

    @property
    def level(self) -> str:
        return format(self.threshold, "f")


@dataclass(frozen=True)
class Profile:
    levels: tuple[Level, ...]
    reminder_every: timedelta | None
    max_reminders: int

    @classmethod
    def from_doc(cls, doc: dict) -> Profile:
        levels = tuple(
            Level(rule["id"], Decimal(rule["threshold"]), bool(rule.get("notify_recovery")))
            for rule in doc["rules"] if rule["type"] == "balance_below")
        every = doc.get("reminder_every_hours")
        return cls(levels, timedelta(hours=every) if every else None,
                   int(doc.get("max_reminders") or 0))


@dataclass
class Episode:
    number: int = 0
    open: bool = False
    notified: bool = False
    reminders: int = 0
    last_notice: datetime | None = None


@dataclass
class AccountModel:
    """One account: its balance and, per level, the episode it is in."""

    account_id: str
    eligible: bool  # status active and billing prepaid
    balance: Decimal = Decimal(0)
    episodes: dict[str, Episode] = field(default_factory=dict)
    due: list[str] = field(default_factory=list)  # notice keys, in the order they fell due
    #: the account's settings were saved: the next scan evaluates its levels (contract
    #: §3: "evaluated when entries are applied and again on every scan"; the product's
    #: scan reads an account once after its settings change)
    evaluate_at_scan: bool = False

    def apply(self, delta: Decimal, profile: Profile, at: datetime) -> None:
        """An entry changes the balance; then the levels are evaluated (contract §3)."""
        with localcontext() as context:
            context.prec = EXACT_DIGITS
            self.balance = self.balance + delta
        if not self.eligible:
            return
        opened = []
        for level in profile.levels:
            episode = self.episodes.setdefault(level.rule_id, Episode())
            below = self.balance < level.threshold
            if below and not episode.open:
                episode.number += 1
                episode.open, episode.notified, episode.reminders = True, False, 0
                episode.last_notice = None
                opened.append(level)
            elif not below and episode.open:
                if level.recovery and episode.notified:
                    self.due.append(f"{level.rule_id}#{episode.number}#recovered#0")
                episode.open, episode.notified, episode.reminders = False, False, 0
        if opened:  # one change across several levels: only the lowest is sent, the
            # others count as sent (their recovery is due) but do not remind
            for level in opened:
                self.episodes[level.rule_id].notified = True
            lowest = min(opened, key=lambda level: level.threshold)
            episode = self.episodes[lowest.rule_id]
            self.due.append(f"{lowest.rule_id}#{episode.number}#{lowest.level}#0")
            episode.last_notice = at

    def scan(self, profile: Profile, at: datetime) -> None:
        """Reminders while an episode lasts: the lowest open level, every period, at most
        ``max_reminders`` per episode; and the levels, when the settings were saved."""
        if self.evaluate_at_scan:
            self.evaluate_at_scan = False
            self.apply(Decimal(0), profile, at)
        if not self.eligible or profile.reminder_every is None or profile.max_reminders <= 0:
            return
        open_levels = [level for level in profile.levels
                       if self.episodes.get(level.rule_id, Episode()).open]
        if not open_levels:
            return
        lowest = min(open_levels, key=lambda level: level.threshold)
        episode = self.episodes[lowest.rule_id]
        if (not episode.notified or episode.last_notice is None
                or episode.reminders >= profile.max_reminders
                or episode.last_notice + profile.reminder_every > at):
            return
        episode.reminders += 1
        episode.last_notice = at
        self.due.append(f"{lowest.rule_id}#{episode.number}#{lowest.level}#{episode.reminders}")


def delta(kind: str, amount: Decimal) -> Decimal:
    """The signed change of an entry (contract §2)."""
    return {"charge": -amount, "refund": -amount, "credit": amount, "adjustment": amount,
            "void": amount}[kind]
