"""periodic_scan: for each watch shard, query the sparse WatchIndex (never the
whole Accounts table), re-evaluate the due rules of each watched account "as of" the
scheduled time, and write the account once with the notices due.

Deterministic notice keys make a duplicate or late scan harmless: the same scan time
twice creates nothing new, and a late scan catches up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException

from ..adapters import accounts, config_store
from ..adapters.settings import settings
from ..adapters.tables import AccountItem
from ..domain import rules
from ..domain.model import AccountState, NoticeDraft
from ..domain.watch import watch_of
from ..observability import logger


@dataclass
class ScanReport:
    shards: int = 0
    accounts_read: int = 0
    rewatched: int = 0
    accounts_written: int = 0
    notices: int = 0
    errors: int = 0


def scan(as_of: datetime, shards: list[int] | None = None) -> ScanReport:
    report = ScanReport()
    for shard in shards if shards is not None else range(settings().watch_shards):
        report.shards += 1
        for item in AccountItem.by_watch.query(shard):
            try:
                if accounts.is_rewatch_request(item):
                    _rewatch(item, as_of, report)
                    continue
                report.accounts_read += 1
                _scan_account(item, as_of, report)
            except (PynamoDBException, ClientError, BotoCoreError, accounts.VersionConflict):
                # The next scheduled scan retries it: the account stays watched.
                report.errors += 1
                logger.warning("scan of account failed", extra={
                    "tenant_id": item.tenant_id, "account_id": item.account_id})
    return report


def _rewatch(request: AccountItem, as_of: datetime, report: ScanReport) -> None:
    """A profile changed: recompute ``watch`` for the tenant's accounts that use it
    (one Query of the tenant's partition, once per change), then drop the request."""
    profile_id = request.account_id[len(accounts.REWATCH_PREFIX):]
    tenant = config_store.load_tenant(request.tenant_id, fresh=True)
    default = tenant.settings.get("default_profile_id")
    for item in AccountItem.query(request.tenant_id):
        if accounts.is_rewatch_request(item) or (item.profile_id or default) != profile_id:
            continue
        state = accounts.state_of(item)
        watch = watch_of(state, tenant.profile(state.profile_id), as_of, settings().watch_shards)
        if watch != item.watch:
            try:
                accounts.set_watch(item, watch)
            except PynamoDBException:
                continue  # changed meanwhile: on_usage recomputed watch itself
            report.rewatched += 1
    request.delete()


@dataclass
class Decision:
    """What a scan at one moment decides for one watched account."""

    before: AccountState
    after: AccountState
    notices: list[NoticeDraft]
    watch: int | None


def decide(item: AccountItem, as_of: datetime) -> Decision:
    """Evaluate one account item as the scan does, without writing anything."""
    state = accounts.state_of(item)
    context = config_store.load_tenant(state.tenant_id).context(state)
    after, notices = rules.on_scan(state, context, as_of)
    return Decision(state, after, notices,
                    watch_of(after, context.profile, as_of, settings().watch_shards))


def _scan_account(item: AccountItem, as_of: datetime, report: ScanReport) -> None:
    decision = decide(item, as_of)
    state, after, notices, watch = (decision.before, decision.after, decision.notices,
                                    decision.watch)
    if not notices and watch == item.watch:
        return
    after.version += 1
    try:
        accounts.commit(state, after, notices, watch=watch)
    except accounts.NoticeExists:
        # Created already (a concurrent scan): write the state without them.
        accounts.commit(state, after, [], watch=watch)
        notices = []
    report.accounts_written += 1
    report.notices += len(notices)
