"""Request bodies as strict Pydantic models: unknown fields, wrong JSON types and unknown
enum values are refused (422). Money and quantities are ``Decimal`` parsed by
``domain.money.parse_decimal`` (a decimal string, or a JSON number that is an exact
decimal; never a float, an exponent, NaN or more than 38 digits) and are written back as
strings."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..domain.entry import problem as entry_problem
from ..domain.money import parse_decimal, to_str

# ---------------------------------------------------------------- value types
ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
"""Ids chosen by clients (accounts, entries, profiles, rules, classes): 1-64 of
``[A-Za-z0-9._:-]``. ``#`` is excluded because keys are joined with it."""

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

_LABEL = re.compile(r"^[^\x00-\x1f\x7f#]{1,64}$")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _label(value: str) -> str:
    if not _LABEL.match(value) or not value.strip():
        raise ValueError("must be 1-64 printable characters without '#'")
    return value


def _email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address")
    return value


def _unsubscribe(value: str) -> str:
    """Where customers unsubscribe (the List-Unsubscribe header): ``mailto:`` with an
    address, or an ``https://`` URL; nothing that could break out of the header."""
    from urllib.parse import urlsplit

    bad = len(value) > 500 or any(c.isspace() or ord(c) < 0x20 or c in '<>,"' for c in value)
    lowered = value.lower()
    if not bad and lowered.startswith("mailto:"):
        address = value[len("mailto:"):].split("?", 1)[0]
        bad = not _EMAIL.fullmatch(address)
    elif not bad and lowered.startswith("https://"):
        bad = not urlsplit(value).hostname
    else:
        bad = True
    if bad:
        raise ValueError("must be a mailto: address or an https:// URL")
    return value


def _money(value: object, info: ValidationInfo) -> Decimal:
    return parse_decimal(value, field=info.field_name or "value")


def _currency(value: str) -> str:
    from babel.numbers import is_currency

    if not re.fullmatch(r"[A-Z]{3}", value) or not is_currency(value):
        raise ValueError("must be an ISO 4217 currency code such as USD")
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("must be an IANA time zone such as Europe/Berlin") from None
    return value


def _locale(value: str) -> str:
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(value)
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError("must be a locale such as en_US") from None
    return value


def _timestamp(value: str) -> str:
    """ISO 8601 with an offset, normalised to UTC with microseconds (sortable as text)."""
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError
        moment = moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError("must be an ISO 8601 timestamp with an offset") from None
    return moment.isoformat(timespec="microseconds")


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(to_str, return_type=str, when_used="json"),
]
Label = Annotated[str, AfterValidator(_label)]
Email = Annotated[str, AfterValidator(_email)]
Currency = Annotated[str, AfterValidator(_currency)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
LocaleName = Annotated[str, AfterValidator(_locale)]
Timestamp = Annotated[str, AfterValidator(_timestamp)]
Unsubscribe = Annotated[str, AfterValidator(_unsubscribe)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=1000)]
Emails = Annotated[list[Email], Field(max_length=20), AfterValidator(_unique)]

Audience = Literal["customer", "staff"]
NoticeType = Literal["balance_low", "balance_recovered", "funds_run_out", "inactive", "package_low"]
EntryKind = Literal["charge", "credit", "refund", "adjustment", "void"]
AccountStatus = Literal["active", "inactive", "suspended", "closed"]
Billing = Literal["prepaid", "postpaid"]


class StrictModel(BaseModel):
    """No unknown fields, no type coercion (``"true"`` is not a boolean, ``"5"`` not an int)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _rule_error(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_rule", message)


# ------------------------------------------------------------------- settings
class SettingsIn(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Demo Co", "from_email": "billing@demo.test", "staff_emails": ["ops@demo.test"],
        "default_currency": "USD", "default_profile_id": "standard",
        "track_packages_by": "account"}]})

    name: Name | None = None
    from_email: Email | None = None
    staff_emails: Emails = []
    default_currency: Currency = "USD"
    default_profile_id: Identifier | None = None
    default_class: Identifier | None = None
    track_packages_by: Literal["account", "member"] = "account"
    unsubscribe: Unsubscribe | None = None


# ------------------------------------------------------------------- profiles
class _RuleBase(StrictModel):
    id: Identifier
    notify: Annotated[list[Audience], Field(min_length=1), AfterValidator(_unique)] = [
        "customer"
    ]
    cc_emails: Emails = []
    staff_emails: Emails = []


class BalanceBelowRule(_RuleBase):
    type: Literal["balance_below"]
    threshold: Money
    notify_recovery: bool = False


class RunsOutRule(_RuleBase):
    type: Literal["runs_out"]
    days: Annotated[
        list[Annotated[int, Field(ge=0, le=3650)]],
        Field(min_length=1, max_length=20),
        AfterValidator(_unique),
    ] = [10, 5, 3, 1, 0]


class InactiveRule(_RuleBase):
    type: Literal["inactive"]
    threshold: Money
    inactive_days: Annotated[int, Field(ge=1, le=3650)]


class PackageBelowRule(_RuleBase):
    type: Literal["package_below"]
    remaining: Money | None = None
    percent: Money | None = None
    service: Label | None = None

    @model_validator(mode="after")
    def _one_level(self) -> PackageBelowRule:
        if (self.remaining is None) == (self.percent is None):
            raise _rule_error("package_below takes either remaining or percent")
        if self.remaining is not None and self.remaining < 0:
            raise _rule_error("remaining must be >= 0")
        if self.percent is not None and not Decimal(0) <= self.percent <= Decimal(100):
            raise _rule_error("percent must be between 0 and 100")
        return self


Rule = Annotated[
    BalanceBelowRule | RunsOutRule | InactiveRule | PackageBelowRule,
    Field(discriminator="type"),
]


class ProfileIn(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Standard", "reminder_every_hours": 24, "max_reminders": 3,
        "rules": [{"id": "low", "type": "balance_below", "threshold": "20.00",
                   "notify": ["customer", "staff"], "notify_recovery": True}]}]})

    name: Annotated[str, StringConstraints(max_length=200)] = ""
    reminder_every_hours: Annotated[int, Field(ge=1, le=24 * 365)] | None = None
    max_reminders: Annotated[int, Field(ge=0, le=100)] = 0
    rules: Annotated[list[Rule], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _consistent(self) -> ProfileIn:
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise _rule_error("rule ids must be unique within a profile")
        if self.max_reminders and self.reminder_every_hours is None:
            raise _rule_error("max_reminders needs reminder_every_hours")
        return self

    def to_doc(self) -> dict:
        """The stored document: decimals as strings, absent optionals left out."""
        return self.model_dump(mode="json", exclude_none=True)


# -------------------------------------------------------------------- classes
class ClassIn(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Retail", "template_set": "default",
        "enabled": ["balance_low", "balance_recovered"]}]})

    name: Name | None = None
    template_set: Identifier = "default"
    enabled: Annotated[list[NoticeType], AfterValidator(_unique)] | None = None


# ------------------------------------------------------------------- accounts
class AccountIn(StrictModel):
    """PUT /accounts/{account_id}: the settings of an account (a full replacement: an
    omitted field takes its default, except ``currency``, which keeps its value)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "Ana Souza", "email": "ana@example.test", "profile_id": "standard",
        "timezone": "America/Sao_Paulo", "locale": "pt_BR"}]})

    name: Name | None = None
    email: Email | None = None
    extra_emails: Emails = []
    status: AccountStatus = "active"
    billing: Billing = "prepaid"
    currency: Currency | None = None
    profile_id: Identifier | None = None
    customer_class: Identifier | None = None
    timezone: TimeZoneName = "UTC"
    locale: LocaleName = "en_US"


# -------------------------------------------------------------------- entries
class EntryIn(StrictModel):
    """POST /accounts/{account_id}/entries."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"entry_id": "top-1", "kind": "credit", "amount": "50.00"},
        {"entry_id": "use-1", "kind": "charge", "amount": "35.00",
         "occurred_at": "2026-11-02T10:00:00+00:00", "description": "October usage"}]})

    entry_id: Identifier
    kind: EntryKind
    amount: Money | None = None
    currency: Currency | None = None
    service: Label | None = None
    quantity: Money | None = None
    member_id: Label | None = None
    voids: Identifier | None = None
    occurred_at: Timestamp | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> EntryIn:
        found = entry_problem(self.kind, amount=self.amount, service=self.service,
                              quantity=self.quantity, member_id=self.member_id,
                              voids=self.voids, entry_id=self.entry_id)
        if found is not None:
            raise _rule_error(found)
        return self


# ------------------------------------------------------------------- packages
MAX_PACKAGE_ITEMS = 20  # = domain.packages.MAX_PACKAGE_ITEMS (a test keeps them equal)


class PackageItemIn(StrictModel):
    service: Label
    quantity: Money
    unit_price: Money

    @model_validator(mode="after")
    def _positive(self) -> PackageItemIn:
        if self.quantity <= 0:
            raise _rule_error("an item quantity must be > 0")
        if self.unit_price < 0:
            raise _rule_error("a unit_price must be >= 0")
        return self


class PackageIn(StrictModel):
    """POST /accounts/{account_id}/packages. ``price`` defaults to the sum of the items'
    quantity x unit_price; it is recorded, and does not move the money balance."""

    package_id: Identifier
    name: Name
    member_id: Label | None = None
    items: Annotated[list[PackageItemIn], Field(min_length=1, max_length=MAX_PACKAGE_ITEMS)]
    price: Money | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PackageIn:
        services = [item.service for item in self.items]
        if len(set(services)) != len(services):
            raise _rule_error("a package holds each service once")
        if self.price is not None and self.price < 0:
            raise _rule_error("price must be >= 0")
        return self
