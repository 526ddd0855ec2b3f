"""Response bodies. Money and quantities are always decimal strings; timestamps are the
ISO 8601 strings (with offset) that were stored; absent values are ``null``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from pydantic import BaseModel, Field

from ..adapters.tables import AccountItem, LedgerItem, NoticeItem
from ..domain.money import to_str

NEXT_CURSOR = "The cursor of the next page; null on the last page"


def json_response(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def money(value: Decimal | int | None) -> str | None:
    return None if value is None else to_str(Decimal(value))


def plain(value: Any) -> Any:
    """A stored config document as JSON values: DynamoDB numbers come back as Decimal;
    the integers among them (counts, days) become ints, anything else a decimal string."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else to_str(value)
    return value


class AccountOut(BaseModel):
    account_id: str
    name: str | None
    email: str | None
    extra_emails: list[str]
    status: str
    billing: str
    currency: str
    profile_id: str | None
    customer_class: str | None
    timezone: str
    locale: str
    balance: str
    last_charge_at: str | None
    created_at: str
    updated_at: str | None

    @classmethod
    def of(cls, item: AccountItem) -> AccountOut:
        return cls(
            account_id=item.account_id,
            name=item.name,
            email=item.email,
            extra_emails=[str(address) for address in item.extra_emails or []],
            status=item.status,
            billing=item.billing,
            currency=item.currency,
            profile_id=item.profile_id,
            customer_class=item.customer_class,
            timezone=item.timezone,
            locale=item.locale,
            balance=money(item.balance) or "0",
            last_charge_at=item.last_charge_at,
            created_at=item.created_at,
            updated_at=item.updated_at,
        )


class EntryOut(BaseModel):
    entry_id: str
    account_id: str
    kind: str
    amount: str | None
    currency: str | None
    service: str | None
    quantity: str | None
    member_id: str | None
    voids: str | None
    void_delta: str | None
    voided_kind: str | None
    voided_by: str | None
    occurred_at: str
    recorded_at: str
    description: str | None
    actor: str | None
    rejected_reason: str | None

    @classmethod
    def of(cls, item: LedgerItem) -> EntryOut:
        return cls(
            entry_id=item.entry_id,
            account_id=item.account_id,
            kind=item.kind,
            amount=money(item.amount),
            currency=item.currency,
            service=item.service,
            quantity=money(item.quantity),
            member_id=item.member_id,
            voids=item.voids,
            void_delta=money(item.void_delta),
            voided_kind=item.voided_kind,
            voided_by=item.voided_by,
            occurred_at=item.occurred_at,
            recorded_at=item.recorded_at,
            description=item.description,
            actor=item.actor,
            rejected_reason=item.rejected_reason,
        )


class NoticeOut(BaseModel):
    notice_id: str
    type: str
    rule_id: str
    level: str
    reminder: int
    audiences: list[str]
    status: str
    reason: str | None
    created_at: str
    sent_at: str | None
    subject: str | None

    @classmethod
    def of(cls, item: NoticeItem) -> NoticeOut:
        return cls(
            notice_id=item.notice_key,
            type=item.type,
            rule_id=item.rule_id,
            level=item.level,
            reminder=int(item.reminder or 0),
            audiences=[str(audience) for audience in item.audiences or []],
            status=item.status,
            reason=item.reason or None,
            created_at=item.created_at,
            sent_at=item.sent_at,
            subject=item.subject,
        )


class AccountsPage(BaseModel):
    accounts: list[AccountOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class EntriesPage(BaseModel):
    entries: list[EntryOut] = Field(description="Newest first (by the time recorded)")
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class NoticesPage(BaseModel):
    notices: list[NoticeOut] = Field(description="Newest first")
    next_cursor: str | None = Field(description=NEXT_CURSOR)


# -------------------------------------------------------------- configuration
class SettingsOut(BaseModel):
    """The tenant's settings: the stored document over the defaults."""

    name: str | None
    from_email: str | None
    staff_emails: list[str]
    default_currency: str
    default_profile_id: str | None
    default_class: str | None
    track_packages_by: str
    unsubscribe: str | None


class ProfileOut(BaseModel):
    profile_id: str
    name: str
    reminder_every_hours: int | None
    max_reminders: int
    rules: list[dict[str, Any]] = Field(
        description="The rules as stored (the request's rules with their defaults filled "
                    "in; money as decimal strings)")


class ProfilesPage(BaseModel):
    profiles: list[ProfileOut] = Field(description="In profile id order")
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class ClassOut(BaseModel):
    class_id: str
    name: str | None
    template_set: str
    enabled: list[str] | None = Field(
        description="The notice types sent to this class; null: all of them")
