"""on_usage's work for one stream batch: group by account, read every account once,
apply the entries in stream order (pure domain), write each account once.

Returns the sequence numbers that failed for a transient reason; the handler reports
them so Lambda resumes from the lowest. Everything else is done or recorded:
- a record that cannot be parsed, or an entry that can never be applied, is recorded on
  its ledger item (``rejected_reason``) and skipped;
- a redelivered record is recognised by the account's ``applied`` ids and skipped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from .adapters import accounts, config_store
from .adapters.attributes import to_plain
from .adapters.settings import watch_shards
from .adapters.tables import LedgerItem
from .domain.ledger import Context, apply_entries
from .domain.model import ENTRY_KINDS, Entry
from .domain.money import MoneyError, parse_decimal
from .domain.watch import needs_watch, watch_shard
from .observability import logger

MAX_CONFLICT_RETRIES = 3


class PoisonRecord(ValueError):
    """A stream record that can never become an entry."""


@dataclass
class ParsedRecord:
    sequence_number: str
    tenant_id: str
    account_id: str
    entry: Entry


@dataclass
class BatchReport:
    failed_sequence_numbers: list[str] = field(default_factory=list)
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    notices: int = 0
    accounts_written: int = 0


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise PoisonRecord(f"{name} is missing")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise PoisonRecord(f"{name} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise PoisonRecord(f"{name} has no UTC offset")
    return moment


def _decimal(value: Any, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_decimal(value if not isinstance(value, Decimal) else value, field=name)
    except MoneyError as error:
        raise PoisonRecord(str(error)) from error


def parse_entry(image: dict[str, Any]) -> Entry:
    """A ledger item's NEW_IMAGE (plain values) -> Entry. Raises PoisonRecord."""
    kind = image.get("kind")
    if kind not in ENTRY_KINDS:
        raise PoisonRecord(f"unknown entry kind {kind!r}")
    recorded_at = _time(image.get("recorded_at"), "recorded_at")
    occurred = image.get("occurred_at")
    return Entry(
        entry_id=str(image["entry_id"]),
        kind=kind,
        recorded_at=recorded_at,
        amount=_decimal(image.get("amount"), "amount"),
        occurred_at=_time(occurred, "occurred_at") if occurred is not None else None,
        voids=image.get("voids"),
        void_delta=_decimal(image.get("void_delta"), "void_delta"),
        voided_kind=image.get("voided_kind"),
    )


def _record_key(record: dict[str, Any]) -> tuple[str, str] | None:
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    try:
        return keys["account_key"]["S"], keys["entry_id"]["S"]
    except (KeyError, TypeError):
        return None


def _mark_rejected(key: tuple[str, str] | None, reason: str) -> None:
    """Record why an entry was skipped on the ledger item itself (a MODIFY, which the
    stream mapping filters out, so it never comes back)."""
    logger.warning("ledger entry rejected", extra={"entry_key": key, "reason": reason})
    if key is None:
        return
    # Low-level update returning nothing: the item may not even deserialize.
    LedgerItem._get_connection().update_item(
        key[0],
        key[1],
        actions=[LedgerItem.rejected_reason.set(reason[:500])],
        condition=LedgerItem.entry_id.exists(),
        return_values="NONE",
    )


def process_batch(records: list[dict[str, Any]], now: datetime | None = None) -> BatchReport:
    now = now or datetime.now(timezone.utc)
    report = BatchReport()
    grouped: dict[tuple[str, str], list[ParsedRecord]] = defaultdict(list)
    for record in records:
        sequence = record["dynamodb"]["SequenceNumber"]
        try:
            image = to_plain({"M": record["dynamodb"]["NewImage"]})
            tenant_id, account_id = str(image["tenant_id"]), str(image["account_id"])
            entry = parse_entry(image)
        except (PoisonRecord, KeyError, TypeError, ValueError) as error:
            report.rejected += 1
            try:
                _mark_rejected(_record_key(record), f"unreadable ledger record: {error}")
            except (PynamoDBException, ClientError, BotoCoreError):
                report.failed_sequence_numbers.append(sequence)
            continue
        grouped[(tenant_id, account_id)].append(
            ParsedRecord(sequence, tenant_id, account_id, entry)
        )

    items = accounts.read_accounts(grouped.keys()) if grouped else {}
    for key, parsed in grouped.items():
        try:
            _process_account(key, parsed, items.get(key), now, report)
        except (PynamoDBException, ClientError, BotoCoreError, accounts.VersionConflict) as error:
            logger.warning(
                "account batch failed, will be retried",
                extra={"tenant_id": key[0], "account_id": key[1], "error": type(error).__name__},
            )
            report.failed_sequence_numbers.append(parsed[0].sequence_number)
    return report


def _process_account(
    key: tuple[str, str],
    parsed: list[ParsedRecord],
    item: accounts.AccountItem | None,
    now: datetime,
    report: BatchReport,
) -> None:
    if item is None:
        for record in parsed:
            report.rejected += 1
            _mark_rejected(
                (f"{key[0]}#{key[1]}", record.entry.entry_id), "account does not exist"
            )
        return
    entries = [record.entry for record in parsed]
    dropped: set[str] = set()
    for attempt in range(MAX_CONFLICT_RETRIES + 1):
        if attempt:
            item = accounts.AccountItem.get(key[0], key[1], consistent_read=True)
        state = accounts.state_of(item)
        tenant = config_store.load_tenant(key[0])
        profile = tenant.profile(state.profile_id)
        class_id = tenant.class_id(state.customer_class)
        context = Context(
            profile=profile, enabled_types=tenant.enabled_types(class_id), class_id=class_id
        )
        result = apply_entries(state, entries, context, now)
        notices = [notice for notice in result.notices if notice.key not in dropped]
        if not result.changed:
            break
        # Forecast "as of" the newest entry when it is dated ahead of the clock.
        as_of = max([now] + [e.occurred_at or e.recorded_at for e in entries])
        watch = (
            watch_shard(key[0], key[1], watch_shards())
            if needs_watch(result.state, profile, as_of)
            else None
        )
        try:
            accounts.commit(state, result.state, notices, watch=watch)
        except accounts.VersionConflict:
            if attempt == MAX_CONFLICT_RETRIES:
                raise
            continue
        except accounts.NoticeExists as exists:
            dropped.update(exists.keys)
            continue
        report.accounts_written += 1
        report.notices += len(notices)
        break
    for outcome in result.outcomes:
        if outcome.result == "applied":
            report.applied += 1
        elif outcome.result == "duplicate":
            report.duplicates += 1
        else:
            report.rejected += 1
            _mark_rejected((f"{key[0]}#{key[1]}", outcome.entry_id), outcome.reason)
