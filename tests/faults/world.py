"""A small world for fault tests: one tenant, a few accounts, ledger entries written the
way the API writes them, the reference model kept in step, and the checks of every
invariant once the faults stop and the streams drain."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import count
from typing import Any

from local.faults import Ledger
from local.runtime import LocalAws
from tests import builders as given

from .model import AccountModel, Profile, delta

TENANT = "t1"

#: Two levels (the higher one with recovery) and reminders: every notice type the
#: immediate rules and the scan create for money.
PROFILE = {
    "name": "Faults",
    "reminder_every_hours": 24,
    "max_reminders": 2,
    "rules": [
        {"id": "low", "type": "balance_below", "threshold": "20", "notify": ["customer"],
         "notify_recovery": True},
        {"id": "empty", "type": "balance_below", "threshold": "0",
         "notify": ["customer", "staff"]},
    ],
}
MODEL_PROFILE = Profile.from_doc(PROFILE)

#: Scans happen on a calendar that starts two days after "now", so that every decision
#: on_usage makes with the wall clock lies before every scan (24 h reminders included).
SCAN_EPOCH = (datetime.now(timezone.utc) + timedelta(days=2)).replace(
    minute=0, second=0, microsecond=0)
USAGE_TIME = datetime.now(timezone.utc)

ELIGIBILITY = {
    "active": {},
    "postpaid": {"billing": "postpaid"},
    "suspended": {"status": "suspended"},
}


@dataclass
class World:
    aws: LocalAws
    ledger: Ledger
    accounts: dict[str, AccountModel] = field(default_factory=dict)
    pending: list[tuple[str, Decimal]] = field(default_factory=list)  # written, not delivered
    entries: dict[str, list[tuple[str, str, Decimal]]] = field(default_factory=dict)
    poison: list[tuple[str, str]] = field(default_factory=list)  # (account_key, entry_id)
    voided: set[str] = field(default_factory=set)
    clock: datetime = SCAN_EPOCH
    ids: Any = field(default_factory=lambda: count(1))

    # ------------------------------------------------------------------ given
    def open_account(self, account_id: str, kind: str = "active") -> None:
        given.account(TENANT, account_id, **ELIGIBILITY[kind])
        self.accounts[account_id] = AccountModel(account_id, eligible=kind == "active")
        self.entries[account_id] = []

    def write(self, account_id: str, kind: str, amount: Decimal) -> str:
        """A valid entry, as the API records it."""
        entry_id = f"e{next(self.ids)}"
        given.entry(entry_id, kind, format(amount, "f"), tenant_id=TENANT,
                    account_id=account_id)
        self.pending.append((account_id, delta(kind, amount)))
        self.entries[account_id].append((entry_id, kind, amount))
        return entry_id

    def void(self, account_id: str, pick: int) -> str | None:
        """A void of an earlier charge or credit (void_delta as the API computes it)."""
        candidates = [(entry_id, kind, amount) for entry_id, kind, amount in
                      self.entries[account_id]
                      if kind in ("charge", "credit") and entry_id not in self.voided]
        if not candidates:
            return None
        voided_id, kind, amount = candidates[pick % len(candidates)]
        reversal = amount if kind == "charge" else -amount
        entry_id = f"v{next(self.ids)}"
        given.entry(entry_id, "void", None, tenant_id=TENANT, account_id=account_id,
                    voids=voided_id, void_delta=reversal, voided_kind=kind)
        self.voided.add(voided_id)
        self.pending.append((account_id, reversal))
        self.entries[account_id].append((entry_id, "void", reversal))
        return entry_id

    def write_raw(self, item: dict[str, Any]) -> None:
        """A ledger item written around the API (the model ignores it: it must be
        rejected with a reason)."""
        self.aws.client("dynamodb").put_item(TableName="balance-alerts-LedgerTable", Item=item)
        self.poison.append((item["account_key"]["S"], item["entry_id"]["S"]))

    # ------------------------------------------------------------------ when
    def delivered(self) -> None:
        """The model applies what was written (the streams were drained)."""
        for account_id, change in self.pending:
            self.accounts[account_id].apply(change, MODEL_PROFILE, USAGE_TIME)
        self.pending.clear()

    def scanned(self, at: datetime) -> None:
        for model in self.accounts.values():
            model.scan(MODEL_PROFILE, at)

    # ------------------------------------------------------------------ then
    def check(self, *, tolerated_duplicates: int = 0, allow_failed: bool = False) -> None:
        """Every invariant, once the faults stopped and the streams drained."""
        recorded = []
        for account_id, model in self.accounts.items():
            assert given.balance(TENANT, account_id) == model.balance, account_id
            notices = given.notices(TENANT, account_id)
            keys = [notice.notice_key for notice in notices]
            assert sorted(keys) == sorted(model.due), (account_id, keys, model.due)
            for notice in notices:
                assert notice.status in (("sent", "failed") if allow_failed else ("sent",)), (
                    notice.notice_key, notice.status, notice.reason)
                assert notice.published == notice.status, notice.notice_key
                recorded += list((notice.delivered or {}).values())
        for key, times in self.ledger.created.items():
            assert times == 1, f"notice {key} was created {times} times"
        assert len(recorded) == len(set(recorded))
        assert set(recorded) <= set(self.ledger.accepted)
        assert len(self.ledger.accepted) - len(recorded) == tolerated_duplicates, (
            "an email went out that no notice accounts for")
        for account_key, entry_id in self.poison:
            item = self.aws.client("dynamodb").get_item(
                TableName="balance-alerts-LedgerTable", ConsistentRead=True,
                Key={"account_key": {"S": account_key}, "entry_id": {"S": entry_id}})["Item"]
            assert item.get("rejected_reason", {}).get("S"), entry_id


def scan_time(hours: float) -> datetime:
    return SCAN_EPOCH + timedelta(hours=hours)
