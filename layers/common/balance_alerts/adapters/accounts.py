"""Account items <-> AccountState, and the single conditional write that commits an
account's new state together with the notices that became due."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from ..domain.model import AccountState, Latch, NoticeDraft, Package, Units
from .tables import AccountItem, LedgerItem, NoticeItem, account_key, transaction_connection

BATCH_GET_LIMIT = 100
MAX_TRANSACT_ITEMS = 100
"""DynamoDB's limit of items in one TransactWriteItems."""


def state_of(item: AccountItem) -> AccountState:
    return AccountState(
        tenant_id=item.tenant_id,
        account_id=item.account_id,
        balance=item.balance,
        status=item.status,
        billing=item.billing,
        currency=item.currency,
        profile_id=item.profile_id,
        customer_class=item.customer_class,
        created_at=item.created_at,
        last_charge_at=item.last_charge_at,
        first_charge_at=item.first_charge_at,
        spend=dict(item.spend or {}),
        version=int(item.version or 0),
        applied={key: int(value) for key, value in (item.applied or {}).items()},
        latches={key: Latch.from_dict(value) for key, value in (item.latches or {}).items()},
        units=Units.from_dict(item.units),
    )


def read_retired(tenant_id: str, account_id: str, entry_ids: Iterable[str]) -> dict[str, Package]:
    """Retired packages, from their ledger entries (``package_archive``), by package id.
    Only a void of a charge whose package has left the account item needs this."""
    key = account_key(tenant_id, account_id)
    found: dict[str, Package] = {}
    for item in LedgerItem.batch_get([(key, entry_id) for entry_id in set(entry_ids)],
                                     consistent_read=True):
        if item.package_archive:
            package = Package.from_dict(item.package_archive)
            found[package.package_id] = package
    return found


def read_accounts(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], AccountItem]:
    """BatchGetItem (100 keys a request; pynamodb retries unprocessed keys)."""
    unique = list(dict.fromkeys(keys))
    found: dict[tuple[str, str], AccountItem] = {}
    if not unique:
        return found
    for item in AccountItem.batch_get(unique, consistent_read=True):
        found[(item.tenant_id, item.account_id)] = item
    return found


class VersionConflict(Exception):
    """The account changed since it was read (another writer, or the API)."""


class NoticeExists(Exception):
    """A notice with this key already exists; the caller drops it and retries."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(", ".join(keys))
        self.keys = keys


@dataclass
class WriteResult:
    requests: int = 0


def notice_item(state: AccountState, draft: NoticeDraft, ordinal: int = 0) -> NoticeItem:
    """``ordinal`` orders notices created by one write (in the order they became due)."""
    key = account_key(state.tenant_id, state.account_id)
    return NoticeItem(
        key,
        draft.key,
        created_seq=f"{draft.created_at}#{ordinal:04d}#{draft.key}",
        tenant_id=state.tenant_id,
        account_id=state.account_id,
        type=draft.type,
        rule_id=draft.rule_id,
        level=draft.level,
        episode=draft.episode,
        reminder=draft.reminder,
        audiences=list(draft.audiences),
        status=draft.status,
        reason=draft.reason or None,
        created_at=draft.created_at,
        variables=draft.variables,
        entry_id=draft.entry_id,
        attempts=0,
    )


def commit(
    before: AccountState,
    after: AccountState,
    notices: list[NoticeDraft],
    *,
    watch: int | None,
) -> None:
    """Write ``after`` over ``before`` (conditional on the version read) and create the
    notices, in one request: UpdateItem alone, or TransactWriteItems when notices are due.

    Raises VersionConflict or NoticeExists; the caller re-reads or drops and retries.
    """
    item = AccountItem(before.tenant_id, before.account_id)
    actions: list[Action] = [
        AccountItem.balance.set(after.balance),
        AccountItem.version.set(after.version),
        AccountItem.applied.set(after.applied),
        AccountItem.latches.set({key: latch.to_dict() for key, latch in after.latches.items()}),
    ]
    if after.last_charge_at is not None:
        actions.append(AccountItem.last_charge_at.set(after.last_charge_at))
    if after.first_charge_at is not None:
        actions.append(AccountItem.first_charge_at.set(after.first_charge_at))
    if after.spend != before.spend:
        actions.append(AccountItem.spend.set(after.spend))
    if after.units != before.units:
        actions.append(AccountItem.units.set(after.units.to_dict()))
    if watch is None:
        actions.append(AccountItem.watch.remove())
    else:
        actions.append(AccountItem.watch.set(watch))
    condition = AccountItem.version == before.version
    if before.version == 0:
        condition = AccountItem.account_id.exists() & (
            AccountItem.version.does_not_exist() | (AccountItem.version == 0)
        )
    if not notices:
        try:
            AccountItem._get_connection().update_item(
                before.tenant_id,
                before.account_id,
                actions=actions,
                condition=condition,
                return_values="NONE",
            )
        except UpdateError as error:
            if _is_conditional(error):
                raise VersionConflict(before.account_id) from error
            raise
        return
    try:
        with TransactWrite(connection=transaction_connection()) as transaction:
            transaction.update(item, actions=actions, condition=condition)
            for ordinal, draft in enumerate(notices):
                transaction.save(
                    notice_item(after, draft, ordinal),
                    condition=NoticeItem.notice_key.does_not_exist(),
                )
    except TransactWriteError as error:
        # pynamodb sends puts before updates: reasons[0:n] are the notices, [n] the account.
        reasons = list(error.cancellation_reasons or [])
        account_reason = reasons[len(notices)] if len(reasons) > len(notices) else None
        if account_reason is not None and account_reason.code == "ConditionalCheckFailed":
            raise VersionConflict(before.account_id) from error
        existing = [
            notices[index].key
            for index, reason in enumerate(reasons[: len(notices)])
            if reason is not None and reason.code == "ConditionalCheckFailed"
        ]
        if existing:
            raise NoticeExists(existing) from error
        raise


def archive_packages(tenant_id: str, account_id: str, packages: Iterable[Package],
                     retired_at: str) -> None:
    """Store the final state of packages about to leave the account item on their own
    ledger entries (``package_archive``; a MODIFY, which the stream filter drops).

    Written *before* the account write that removes them, and idempotent: if that write
    never happens, the packages are still on the account item, which readers prefer,
    and the next retirement writes the archive again. Once in a package's life.
    """
    key = account_key(tenant_id, account_id)
    for package in packages:
        annotate_entry(key, package.entry_id, LedgerItem.package_archive.set(
            package.to_dict() | {"retired_at": retired_at}))


def annotate_entry(key: str, entry_id: str, action: Action) -> None:
    """Set one attribute of an existing ledger item: a low-level update that returns
    nothing (the item may not even deserialize), a MODIFY, which the stream filter drops,
    so the entry never comes back to on_usage."""
    LedgerItem._get_connection().update_item(
        key, entry_id, actions=[action], condition=LedgerItem.entry_id.exists(),
        return_values="NONE")


def create_notice(state: AccountState, draft: NoticeDraft) -> bool:
    """Create one notice on its own (the scan's catch-up); False if it already exists."""
    try:
        notice_item(state, draft).save(condition=NoticeItem.notice_key.does_not_exist())
    except PutError as error:
        if _is_conditional(error):
            return False
        raise
    return True


def _is_conditional(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


REWATCH_PREFIX = "~rewatch#"


def request_rewatch(tenant_id: str, profile_id: str, now: str) -> None:
    """Ask the next scan to re-evaluate ``watch`` for the accounts using a profile that
    changed. The request is an item in the watch index itself (shard 0), so the scan
    finds it at no extra cost; account ids never start with "~" (the API refuses it)."""
    account_id = f"{REWATCH_PREFIX}{profile_id}"
    AccountItem(
        tenant_id, account_id, account_key=account_key(tenant_id, account_id),
        watch=0, created_at=now,
    ).save()


def is_rewatch_request(item: AccountItem) -> bool:
    return item.account_id.startswith(REWATCH_PREFIX)


def set_watch(item: AccountItem, watch: int | None) -> None:
    """Change only ``watch`` (the scan's re-evaluation after a profile change)."""
    action = AccountItem.watch.remove() if watch is None else AccountItem.watch.set(watch)
    AccountItem._get_connection().update_item(
        item.tenant_id, item.account_id, actions=[action],
        condition=AccountItem.version == item.version, return_values="NONE",
    )
