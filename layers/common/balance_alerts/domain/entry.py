"""One validation of a ledger entry, used by the API (the request schema), the stream
consumer (reading a ledger item) and the ledger (applying it), so that whatever the API
accepts the stream applies, and the reverse.

``problem`` judges an entry as the client states it; ``check`` judges a stored entry
(what the API adds: the reversal amount of a void, the package of a purchase, the
currency); ``from_image`` reads a ledger item's stream image, refusing what can never
become an entry. Every refusal is an ``EntryRejected`` with a reason a person can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from .model import (
    ENTRY_KINDS,
    LEDGER_KINDS,
    PACKAGE_KIND,
    Entry,
    EntryRejected,
    PackagePurchase,
    PurchasedItem,
)
from .money import MoneyError, parse_decimal

__all__ = ["ENTRY_KINDS", "EntryRejected", "check", "from_image", "problem"]


def problem(
    kind: str,
    *,
    amount: Decimal | None = None,
    service: str | None = None,
    quantity: Decimal | None = None,
    member_id: str | None = None,
    voids: str | None = None,
    entry_id: str | None = None,
) -> str | None:
    """Why an entry of ``kind`` with these fields can never be applied, or None."""
    if kind not in ENTRY_KINDS:
        return f"unknown entry kind {kind!r}"
    if kind != "charge" and (service is not None or quantity is not None
                             or member_id is not None):
        return "service, quantity and member_id belong to a charge"
    if kind != "void" and voids is not None:
        return "voids belongs to a void"
    if kind == "charge":
        if amount is not None and amount <= 0:
            return "charge needs an amount > 0"
        if (service is None) != (quantity is None):
            return "charge takes service and quantity together"
        if quantity is not None and quantity <= 0:
            return "charge needs a quantity > 0"
        if amount is None and quantity is None:
            return "charge needs an amount > 0, or a service and a quantity"
    elif kind in ("credit", "refund"):
        if amount is None or amount <= 0:
            return f"{kind} needs an amount > 0"
    elif kind == "adjustment":
        if amount is None or amount == 0:
            return "adjustment needs a non-zero amount"
    elif kind == "void":
        if not voids:
            return "void needs voids: the entry_id of a charge or credit"
        if voids == entry_id:
            return "an entry cannot void itself"
        if amount is not None:
            return "a void takes no amount: it reverses the voided entry"
    return None


def check(entry: Entry, currency: str) -> None:
    """Refuse a stored entry that can never be applied to an account kept in ``currency``."""
    if entry.currency is not None and entry.currency != currency:
        # The API refuses this (422); a ledger item written around it is poison: its
        # amounts (or a package's prices) would be counted in the wrong currency.
        raise EntryRejected(
            f"currency {entry.currency} is not the account's currency {currency}")
    if entry.kind == PACKAGE_KIND:
        if entry.package is None:
            raise EntryRejected("package entry carries no package")
        return
    # A void of a charge carries the charge's service, quantity and member (copied by
    # the API, not stated by the client) besides the reversal amount.
    copied = entry.kind == "void" and entry.voided_kind == "charge"
    found = problem(entry.kind, amount=entry.amount, entry_id=entry.entry_id,
                    voids=entry.voids,
                    service=None if copied else entry.service,
                    quantity=None if copied else entry.quantity,
                    member_id=None if copied else entry.member_id)
    if found is None and entry.kind == "void" and entry.void_delta is None:
        found = "void needs the voided entry and its reversal amount"
    if found is not None:
        raise EntryRejected(found)


# --------------------------------------------------------------- stream images
def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise EntryRejected(f"{name} is missing")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise EntryRejected(f"{name} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise EntryRejected(f"{name} has no UTC offset")
    return moment


def _decimal(value: Any, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return parse_decimal(value, field=name)
    except MoneyError as error:
        raise EntryRejected(str(error)) from error


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise EntryRejected(f"{name} must be a non-empty string")
    return value


def _purchase(value: Any) -> PackagePurchase:
    """The ``package`` map of a package purchase entry."""
    if not isinstance(value, dict):
        raise EntryRejected("package entry carries no package")
    items = value.get("items")
    if not isinstance(items, list) or not items:
        raise EntryRejected("package has no items")
    try:
        return PackagePurchase(
            package_id=str(value["package_id"]),
            name=str(value.get("name") or value["package_id"]),
            member_id=_text(value.get("member_id"), "member_id"),
            price=_decimal(value.get("price", 0), "price") or Decimal(0),
            items=tuple(
                PurchasedItem(
                    service=str(_text(item["service"], "service")),
                    quantity=_decimal(item["quantity"], "quantity") or Decimal(0),
                    unit_price=_decimal(item.get("unit_price", 0), "unit_price") or Decimal(0),
                )
                for item in items
            ),
        )
    except (KeyError, TypeError) as error:
        raise EntryRejected(f"package is incomplete: {error}") from error


def from_image(image: Mapping[str, Any]) -> Entry:
    """A ledger item's stream image (plain values) -> Entry. Raises EntryRejected."""
    kind = image.get("kind")
    if kind not in LEDGER_KINDS:
        raise EntryRejected(f"unknown entry kind {kind!r}")
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
        service=_text(image.get("service"), "service"),
        quantity=_decimal(image.get("quantity"), "quantity"),
        member_id=_text(image.get("member_id"), "member_id"),
        package=_purchase(image.get("package")) if kind == PACKAGE_KIND else None,
        currency=_text(image.get("currency"), "currency"),
    )
