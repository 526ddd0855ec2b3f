"""pynamodb models of the four tables. Their keys and indexes mirror template.yaml
(tests/integration/test_template.py proves it); table names come from the settings."""

from __future__ import annotations

from decimal import Decimal

from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model

from . import session
from .attributes import DecimalAttribute, DocumentAttribute
from .settings import settings

session.install()


def account_key(tenant_id: str, account_id: str) -> str:
    """The partition key shared by an account's ledger entries and notices."""
    return f"{tenant_id}#{account_id}"


def transaction_connection() -> Connection:
    """The connection for the container's TransactWriteItems: the accounts table's own,
    which pynamodb keeps for the container (every transaction writes an account), so a
    transaction costs no client of its own - a client costs tens of milliseconds and a
    new TLS session."""
    return AccountItem._get_connection().connection


class _Meta:
    region = settings().region
    host = settings().dynamodb_endpoint
    max_retry_attempts = 3


# --------------------------------------------------------------------------- ledger
class LedgerByRecorded(LocalSecondaryIndex["LedgerItem"]):
    class Meta:
        index_name = "ByRecorded"
        projection = AllProjection()

    account_key = UnicodeAttribute(hash_key=True)
    recorded_seq = UnicodeAttribute(range_key=True)


class LedgerItem(Model):
    """One ledger entry (append-only). ``entry_id`` is the client's idempotency key."""

    class Meta(_Meta):
        table_name = settings().ledger_table

    account_key = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)
    recorded_seq = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    amount = DecimalAttribute(null=True)
    currency = UnicodeAttribute(null=True)
    service = UnicodeAttribute(null=True)
    quantity = DecimalAttribute(null=True)
    member_id = UnicodeAttribute(null=True)
    voids = UnicodeAttribute(null=True)
    void_delta = DecimalAttribute(null=True)
    voided_kind = UnicodeAttribute(null=True)
    voided_by = UnicodeAttribute(null=True)
    occurred_at = UnicodeAttribute()
    recorded_at = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    actor = UnicodeAttribute(null=True)
    body_hash = UnicodeAttribute()
    rejected_reason = UnicodeAttribute(null=True)
    # kind "package" (entry id "package#<package_id>"): the package as bought, and -
    # once it has left the account item, used up - its final state (see domain/packages).
    package = DocumentAttribute(null=True)
    package_archive = DocumentAttribute(null=True)

    by_recorded = LedgerByRecorded()


# ------------------------------------------------------------------------- accounts
class AccountsWatchIndex(GlobalSecondaryIndex["AccountItem"]):
    """Sparse: only accounts for which a periodic rule could become due carry ``watch``."""

    class Meta:
        index_name = "WatchIndex"
        projection = AllProjection()

    watch = NumberAttribute(hash_key=True)
    account_key = UnicodeAttribute(range_key=True)


class AccountItem(Model):
    """Settings, balance, latches, current packages and the ids of recently applied
    entries of one account."""

    class Meta(_Meta):
        table_name = settings().accounts_table

    tenant_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute(range_key=True)
    account_key = UnicodeAttribute()
    watch = NumberAttribute(null=True)
    name = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    extra_emails = ListAttribute(of=UnicodeAttribute, null=True)
    status = UnicodeAttribute(default="active")
    billing = UnicodeAttribute(default="prepaid")
    currency = UnicodeAttribute(default="USD")
    profile_id = UnicodeAttribute(null=True)
    customer_class = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(default="UTC")
    locale = UnicodeAttribute(default="en_US")
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    balance = DecimalAttribute(default=Decimal)  # a callable: Decimal() is 0
    last_charge_at = UnicodeAttribute(null=True)
    first_charge_at = UnicodeAttribute(null=True)
    spend = DocumentAttribute(null=True)
    version = NumberAttribute(default=0)
    applied = DocumentAttribute(null=True)
    latches = DocumentAttribute(null=True)
    units = DocumentAttribute(null=True)  # packages, unallocated units, recent allocations

    by_watch = AccountsWatchIndex()


# -------------------------------------------------------------------------- notices
class NoticesByCreated(LocalSecondaryIndex["NoticeItem"]):
    class Meta:
        index_name = "ByCreated"
        projection = AllProjection()

    account_key = UnicodeAttribute(hash_key=True)
    created_seq = UnicodeAttribute(range_key=True)


class NoticeItem(Model):
    """One notice: the outbox entry and the audit log. Its key makes duplicates impossible:
    ``<rule>#<episode>#<level>#<reminder>`` within the account."""

    class Meta(_Meta):
        table_name = settings().notices_table

    account_key = UnicodeAttribute(hash_key=True)
    notice_key = UnicodeAttribute(range_key=True)
    created_seq = UnicodeAttribute()
    tenant_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    type = UnicodeAttribute()
    rule_id = UnicodeAttribute()
    level = UnicodeAttribute()
    episode = NumberAttribute()
    reminder = NumberAttribute(default=0)
    audiences = ListAttribute(of=UnicodeAttribute)
    status = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    sent_at = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    message_ids = ListAttribute(of=UnicodeAttribute, null=True)
    variables = DocumentAttribute(null=True)
    entry_id = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    delivered = DocumentAttribute(null=True)  # send_notice: audience -> SES message id
    published = UnicodeAttribute(null=True)  # send_notice: status last sent to EventBridge

    by_created = NoticesByCreated()


# --------------------------------------------------------------------------- config
class ConfigItem(Model):
    """Per-tenant documents: ``settings``, ``profile#<id>``, ``class#<id>``,
    ``template#<set>#<type>#<audience>``."""

    class Meta(_Meta):
        table_name = settings().config_table

    tenant_id = UnicodeAttribute(hash_key=True)
    config_key = UnicodeAttribute(range_key=True)
    doc = DocumentAttribute()
    updated_at = UnicodeAttribute(null=True)
