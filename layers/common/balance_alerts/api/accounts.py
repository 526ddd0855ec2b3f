"""Accounts as the API sees them: create, update the settings, read, list.

The API owns only the *settings* of an account item. Balance, applied entries, latches,
``last_charge_at`` belong to the stream consumer (on_usage), which writes them
conditionally on ``version``; an update also puts the account in the watch index once
(see ``_update``). So an update is an UpdateItem that SETs (or REMOVEs)
just the settings fields and ADDs 1 to ``version`` - never a whole-item put - and the
consumer's next conditional write sees the new version, re-reads and retries.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import PutError

from ..adapters import config_store
from ..adapters import settings as config
from ..adapters.tables import AccountItem, LedgerItem, account_key
from ..domain.watch import watch_shard
from .errors import Conflict, NotFound
from .paging import ListScope, Page, exclusive_start, take_page
from .rows import query_rows
from .schemas import AccountIn

DEFAULT_CURRENCY = "USD"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def get_account(tenant_id: str, account_id: str) -> AccountItem | None:
    try:
        return AccountItem.get(tenant_id, account_id, consistent_read=True)
    except AccountItem.DoesNotExist:
        return None


def require_account(tenant_id: str, account_id: str) -> AccountItem:
    """The tenant's account, or 404 (also for another tenant's account of the same id)."""
    item = get_account(tenant_id, account_id)
    if item is None:
        raise NotFound("no such account")
    return item


def tenant_default_currency(tenant_id: str) -> str:
    settings = config_store.get_doc(tenant_id, config_store.SETTINGS_KEY) or {}
    return str(settings.get("default_currency") or DEFAULT_CURRENCY)


def put_account(tenant_id: str, account_id: str, settings: AccountIn) -> tuple[AccountItem, bool]:
    """Create the account, or replace its settings. Returns the item and whether it is new."""
    existing = get_account(tenant_id, account_id)
    if existing is None:
        created = _create(tenant_id, account_id, settings)
        if created is not None:
            return created, True
        existing = require_account(tenant_id, account_id)  # created concurrently: update it
    return _update(existing, settings), False


def _create(tenant_id: str, account_id: str, settings: AccountIn) -> AccountItem | None:
    now = now_iso()
    item = AccountItem(
        tenant_id,
        account_id,
        account_key=account_key(tenant_id, account_id),
        name=settings.name,
        email=settings.email,
        extra_emails=list(settings.extra_emails),
        status=settings.status,
        billing=settings.billing,
        currency=settings.currency or tenant_default_currency(tenant_id),
        profile_id=settings.profile_id,
        customer_class=settings.customer_class,
        timezone=settings.timezone,
        locale=settings.locale,
        created_at=now,
        updated_at=now,
        balance=Decimal(0),
        version=0,
    )
    try:
        item.save(condition=AccountItem.account_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return item


def _update(item: AccountItem, settings: AccountIn) -> AccountItem:
    currency = settings.currency or item.currency
    if currency != item.currency and _has_entries(item):
        raise Conflict("the currency of an account with ledger entries cannot change")
    values: list[tuple[Any, Any]] = [
        (AccountItem.name, settings.name),
        (AccountItem.email, settings.email),
        (AccountItem.extra_emails, list(settings.extra_emails)),
        (AccountItem.status, settings.status),
        (AccountItem.billing, settings.billing),
        (AccountItem.currency, currency),
        (AccountItem.profile_id, settings.profile_id),
        (AccountItem.customer_class, settings.customer_class),
        (AccountItem.timezone, settings.timezone),
        (AccountItem.locale, settings.locale),
        (AccountItem.updated_at, now_iso()),
    ]
    actions = [
        attribute.remove() if value is None else attribute.set(value)
        for attribute, value in values
    ]
    actions.append(AccountItem.version.add(1))
    # A settings change (status back to active, another profile) can make a notice due
    # that no entry will trigger: the next scan looks at the account once (catch-up) and
    # takes it out of the watch index again when nothing is at risk.
    actions.append(AccountItem.watch.set(
        watch_shard(item.tenant_id, item.account_id, config.settings().watch_shards)))
    item.update(actions=actions, condition=AccountItem.account_id.exists())
    return item


def _has_entries(item: AccountItem) -> bool:
    """Whether any ledger item exists (read raw: a malformed one counts, unread)."""
    key = account_key(item.tenant_id, item.account_id)
    return next(query_rows(LedgerItem, key, limit=1), None) is not None


def list_accounts(tenant_id: str, limit: int, cursor: str | None) -> Page[AccountItem]:
    scope = ListScope(tenant_id, "accounts", "", ("account_id",))
    start = scope.start(cursor)
    results = AccountItem.query(
        tenant_id,
        # account ids never contain "~": this leaves out the scan's rewatch requests
        AccountItem.account_id < "~",
        limit=limit + 1,
        last_evaluated_key=exclusive_start(tenant_id=tenant_id, **start) if start else None,
    )
    return take_page(results, limit, scope, lambda item: {"account_id": item.account_id})
