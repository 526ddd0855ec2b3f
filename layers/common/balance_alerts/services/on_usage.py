"""on_usage: apply one stream batch of ledger entries: group by account, read every account once,
apply the entries in stream order (pure domain), write each account once.

Returns the sequence numbers that failed for a transient reason; the handler reports
them so Lambda resumes from the lowest. Everything else is done or recorded:
- a record that cannot be parsed, or an entry that can never be applied, is recorded on
  its ledger item (``rejected_reason``) and skipped;
- a redelivered record is recognised by the account's ``applied`` ids and skipped.

An account's entries are normally committed in one write. A transaction holds at most
100 items, so when the notices due would not fit, the entries are committed in more
than one write, each a prefix of the rest in stream order (rare: about 100 notices for
one account in one batch). A package that leaves the account item (used up, see
domain/packages.py) costs one more UpdateItem, once in its life: its final state is
stored on its ledger entry just before the account write.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from ..adapters import accounts, config_store
from ..adapters.attributes import to_plain
from ..adapters.settings import settings
from ..adapters.tables import AccountItem, LedgerItem
from ..domain import packages
from ..domain.entry import from_image as entry_from_image
from ..domain.ledger import Applied, apply_entries
from ..domain.model import AccountState, Entry, EntryRejected, package_entry_id
from ..domain.watch import watch_of
from ..observability import logger

MAX_CONFLICT_RETRIES = 3


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
    accounts.annotate_entry(key[0], key[1], LedgerItem.rejected_reason.set(reason[:500]))


def process_batch(records: list[dict[str, Any]], now: datetime | None = None) -> BatchReport:
    now = now or datetime.now(timezone.utc)
    report = BatchReport()
    grouped: dict[tuple[str, str], list[ParsedRecord]] = defaultdict(list)
    for record in records:
        sequence = record["dynamodb"]["SequenceNumber"]
        try:
            image = to_plain({"M": record["dynamodb"]["NewImage"]})
            tenant_id, account_id = str(image["tenant_id"]), str(image["account_id"])
            entry = entry_from_image(image)
        except (EntryRejected, KeyError, TypeError, ValueError) as error:
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
    item: AccountItem | None,
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
    state = accounts.state_of(item)
    while entries:
        state, done = _commit_entries(key, state, entries, now, report)
        entries = entries[done:]


def _fitting(result: Applied, entries: list[Entry]) -> int:
    """How many of ``entries`` (a prefix) one transaction can commit: the account and
    its notices must fit in it. At least one entry (which brings at most about 50)."""
    room = accounts.MAX_TRANSACT_ITEMS - 1
    per_entry: dict[str | None, int] = defaultdict(int)
    for notice in result.notices:
        per_entry[notice.entry_id] += 1
    count, total = 0, 0
    for entry in entries:
        total += per_entry.get(entry.entry_id, 0)
        if total > room and count:
            break
        count += 1
    return count


def _commit_entries(
    key: tuple[str, str],
    state: AccountState,
    entries: list[Entry],
    now: datetime,
    report: BatchReport,
) -> tuple[AccountState, int]:
    """Apply ``entries`` (or the prefix of them that fits one write) to ``state`` and
    commit them. Returns the state written and how many entries were consumed."""
    dropped: set[str] = set()
    for attempt in range(MAX_CONFLICT_RETRIES + 1):
        if attempt:
            state = accounts.state_of(
                AccountItem.get(key[0], key[1], consistent_read=True))
        context = config_store.load_tenant(key[0]).context(state)
        needed = packages.retired_needed(state.units, entries)
        retired = (
            accounts.read_retired(key[0], key[1], map(package_entry_id, needed))
            if needed else {}
        )
        result = apply_entries(state, entries, context, now, retired)
        count = _fitting(result, entries)
        if count < len(entries):
            entries = entries[:count]
            result = apply_entries(state, entries, context, now, retired)
        notices = [notice for notice in result.notices if notice.key not in dropped]
        if not result.changed:
            break
        # Forecast "as of" the newest entry when it is dated ahead of the clock.
        as_of = max([now] + [e.occurred_at or e.recorded_at for e in entries])
        watch = watch_of(result.state, context.profile, as_of, settings().watch_shards)
        try:
            if result.retired:
                accounts.archive_packages(key[0], key[1], result.retired, now.isoformat())
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
    else:  # the last attempt found a notice existing: nothing was written, retry later
        raise accounts.VersionConflict(key[1])
    for outcome in result.outcomes:
        if outcome.result == "applied":
            report.applied += 1
        elif outcome.result == "duplicate":
            report.duplicates += 1
        else:
            report.rejected += 1
            _mark_rejected((f"{key[0]}#{key[1]}", outcome.entry_id), outcome.reason)
    return result.state, len(entries)
