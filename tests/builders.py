"""Given-helpers for integration tests: write config, accounts and ledger items straight
to the (moto) tables, so the stream delivers them to on_usage as it would on AWS."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

STANDARD_PROFILE = {
    "name": "Standard",
    "rules": [
        {"id": "low", "type": "balance_below", "threshold": "20.00",
         "notify": ["customer", "staff"], "notify_recovery": True},
        {"id": "empty", "type": "balance_below", "threshold": "0",
         "notify": ["customer", "staff"]},
    ],
}

_clock = {"t": datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)}


def tenant(tenant_id: str = "t1", *, profile: dict | None = None, **settings: Any) -> None:
    from balance_alerts.adapters import config_store

    config_store.put_doc(tenant_id, "settings", {
        "name": "Acme Energy", "from_email": "billing@acme.test",
        "staff_emails": ["ops@acme.test"], "default_currency": "USD",
        "default_profile_id": "standard", **settings,
    })
    config_store.put_doc(tenant_id, "profile#standard", profile or STANDARD_PROFILE)


def account(tenant_id: str = "t1", account_id: str = "a1", *,
            created_at: str = "2026-11-01T00:00:00+00:00", **fields: Any) -> None:
    from balance_alerts.adapters.tables import AccountItem, account_key

    AccountItem(
        tenant_id, account_id, account_key=account_key(tenant_id, account_id),
        created_at=created_at, name=f"Customer {account_id}",
        email=f"{account_id}@customer.test", **fields,
    ).save()


def entry(entry_id: str, kind: str, amount: str | None, *, tenant_id: str = "t1",
          account_id: str = "a1", at: datetime | None = None, **fields: Any) -> None:
    """Append a ledger item directly (as the API would after validation)."""
    from balance_alerts.adapters.tables import LedgerItem, account_key

    _clock["t"] += timedelta(seconds=1)
    recorded = (at or _clock["t"]).isoformat()
    LedgerItem(
        account_key(tenant_id, account_id), entry_id,
        recorded_seq=f"{recorded}#{entry_id}", tenant_id=tenant_id, account_id=account_id,
        kind=kind, amount=None if amount is None else Decimal(amount),
        occurred_at=recorded, recorded_at=recorded, body_hash=entry_id, **fields,
    ).save()


def balance(tenant_id: str = "t1", account_id: str = "a1") -> Decimal:
    from balance_alerts.adapters.tables import AccountItem

    return AccountItem.get(tenant_id, account_id, consistent_read=True).balance


def notices(tenant_id: str = "t1", account_id: str = "a1") -> list:
    from balance_alerts.adapters.tables import NoticeItem, account_key

    return sorted(NoticeItem.query(account_key(tenant_id, account_id)),
                  key=lambda n: n.created_seq)
