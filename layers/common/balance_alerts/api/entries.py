"""Recording ledger entries, exactly once per ``entry_id``, and reading the history.

Idempotency: the item key is ``(account_key, entry_id)`` and the write is conditional
(``attribute_not_exists``). ``body_hash`` is the SHA-256 of the canonical request (decimals
normalised, ``occurred_at`` in UTC, the account's currency filled in), so the same request
sent again returns the stored entry (200) and a different one under the same id is 409.

A void is written in one TransactWriteItems with an update of the voided entry that sets
``voided_by`` on condition that it is not set yet: an entry is voided at most once, and a
void never exists without its mark. ``void_delta`` is the signed change the void makes to
the balance (voiding a charge of 5 gives +5, a credit of 5 gives -5); a void of a charge
with units also carries the charge's ``service``, ``quantity`` and ``member_id``, so the
consumer needs nothing but the void item itself.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from ..adapters.tables import AccountItem, LedgerItem, account_key, transaction_connection
from .auth import Identity
from .errors import Conflict, Unprocessable
from .paging import Page, newest_first
from .responses import EntryOut
from .rows import UNREADABLE, count_unreadable, log_unreadable
from .schemas import EntryIn

VOIDABLE_KINDS = ("charge", "credit")


def canonical_digest(doc: dict[str, Any], currency: str) -> str:
    """SHA-256 of a request in canonical form, the idempotency check of entries and
    package purchases: decimals normalised ("5.0" = "5"), absent fields left out, the
    account's currency added. Equal requests hash equal, any other body does not."""

    def canonical(value: Any) -> Any:
        if isinstance(value, Decimal):
            return format(value.normalize(), "f")
        if isinstance(value, dict):
            return {key: canonical(item) for key, item in value.items() if item is not None}
        if isinstance(value, list):
            return [canonical(item) for item in value]
        return value

    text = json.dumps(canonical(doc) | {"currency": currency}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def body_hash(entry: EntryIn, currency: str) -> str:
    """The entry request's digest (see ``canonical_digest``)."""
    return canonical_digest(entry.model_dump(exclude_none=True), currency)


def get_entry(key: str, entry_id: str) -> LedgerItem | None:
    """A ledger item by its key (consistent read), or None. An item that is stored but
    cannot be read (written around the API) is a 409 for the request that names it -
    never a second item under the same id - logged and counted (``rows``)."""
    try:
        return LedgerItem.get(key, entry_id, consistent_read=True)
    except LedgerItem.DoesNotExist:
        return None
    except UNREADABLE as error:
        log_unreadable(LedgerItem, {"account_key": key, "entry_id": entry_id}, error,
                       "unreadable ledger item named by a request")
        count_unreadable(LedgerItem)
        raise Conflict(f"entry {entry_id} is stored but cannot be read; "
                       "an operator has to repair it") from None


def _replay(existing: LedgerItem, digest: str) -> tuple[LedgerItem, bool]:
    if existing.body_hash != digest:
        raise Conflict(
            f"entry {existing.entry_id} was already recorded with different content"
        )
    return existing, False


def record_entry(
    identity: Identity, account: AccountItem, entry: EntryIn
) -> tuple[LedgerItem, bool]:
    """Store ``entry`` for ``account``. Returns the stored item and whether it is new."""
    if entry.currency is not None and entry.currency != account.currency:
        raise Unprocessable(
            f"currency {entry.currency} is not the account's currency {account.currency}"
        )
    key = account_key(account.tenant_id, account.account_id)
    digest = body_hash(entry, account.currency)
    existing = get_entry(key, entry.entry_id)
    if existing is not None:
        return _replay(existing, digest)
    recorded_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    item = LedgerItem(
        key,
        entry.entry_id,
        recorded_seq=f"{recorded_at}#{entry.entry_id}",
        tenant_id=account.tenant_id,
        account_id=account.account_id,
        kind=entry.kind,
        amount=entry.amount,
        currency=account.currency,
        service=entry.service,
        quantity=entry.quantity,
        member_id=entry.member_id,
        voids=entry.voids,
        occurred_at=entry.occurred_at or recorded_at,
        recorded_at=recorded_at,
        description=entry.description,
        actor=identity.actor,
        body_hash=digest,
    )
    if entry.kind == "void":
        return _write_void(item, digest)
    try:
        item.save(condition=LedgerItem.entry_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        existing = get_entry(key, entry.entry_id)  # recorded concurrently
        if existing is None:
            raise
        return _replay(existing, digest)
    return item, True


def _voidable(key: str, voids: str) -> LedgerItem:
    voided = get_entry(key, voids)
    if voided is None:
        raise Unprocessable(f"voids: no entry {voids} in this account")
    if voided.kind not in VOIDABLE_KINDS:
        raise Unprocessable(f"voids: entry {voids} is a {voided.kind}; only a charge or a "
                            "credit can be voided")
    if voided.voided_by:
        raise Conflict(f"entry {voids} is already voided by {voided.voided_by}")
    if voided.rejected_reason:
        raise Conflict(f"entry {voids} was rejected and never applied; there is nothing to void")
    return voided


def _write_void(item: LedgerItem, digest: str) -> tuple[LedgerItem, bool]:
    assert item.voids is not None
    voided = _voidable(item.account_key, item.voids)
    amount = voided.amount or Decimal(0)
    item.voided_kind = voided.kind
    item.void_delta = amount if voided.kind == "charge" else -amount
    # The units of a charge go back too: the void names them, so the consumer can give
    # them back even when it no longer remembers the charge's allocation.
    item.service = voided.service
    item.quantity = voided.quantity
    item.member_id = voided.member_id
    try:
        with TransactWrite(connection=transaction_connection()) as transaction:
            transaction.save(item, condition=LedgerItem.entry_id.does_not_exist())
            transaction.update(
                voided,
                actions=[LedgerItem.voided_by.set(item.entry_id)],
                condition=LedgerItem.entry_id.exists() & LedgerItem.voided_by.does_not_exist(),
            )
    except TransactWriteError as error:
        if error.cause_response_code != "TransactionCanceledException":
            raise
        existing = get_entry(item.account_key, item.entry_id)
        if existing is not None:  # the same void, recorded concurrently
            return _replay(existing, digest)
        _voidable(item.account_key, item.voids)  # raises 409 when voided meanwhile
        raise
    return item, True


def list_entries(
    tenant_id: str, account_id: str, limit: int, cursor: str | None
) -> Page[EntryOut]:
    """Newest first (by ``recorded_seq`` on the ByRecorded index). A ledger item that
    cannot be read is left out of the history (logged, ``LedgerRowsUnreadable``)."""
    return newest_first(
        LedgerItem, index_name=LedgerItem.by_recorded.Meta.index_name, tenant_id=tenant_id,
        list_name="entries", account_id=account_id,
        partition_key=account_key(tenant_id, account_id),
        fields=("entry_id", "recorded_seq"), limit=limit, cursor=cursor, read=EntryOut.of,
    )
