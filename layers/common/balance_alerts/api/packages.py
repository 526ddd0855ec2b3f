"""Packages as the API sees them: buy one (a ledger entry, exactly once per
``package_id``) and read the package balances.

A purchase is the ledger item ``(account_key, "package#<package_id>")``, kind
``package``. Client entry ids cannot contain ``#``, so a package can never collide with
an entry posted to ``.../entries``, and all of an account's purchases are one key range
(``begins_with(entry_id, "package#")``). The write is conditional like an entry's:
the same body again returns the stored purchase (200), another body under the same
``package_id`` is 409. It flows through the ledger stream like any entry; on_usage puts
the package on the account item. Buying a package does not move the money balance.

Reading lists every package of the account, oldest purchase first (the order units are
used in), each with a ``status``: ``current`` (on the account item), ``retired`` (used
up; it left the account item and its final state is stored on its ledger item,
``package_archive`` - ``domain/packages.py`` says when) or ``pending`` (bought, not yet
applied by the stream: nothing used); a purchase whose ledger item cannot be read is
left out, logged and counted (``rows``). The account item is read first and the ledger's
package range after it, both strongly consistent: a package retired in between is found
in the ledger, so no package is ever shown twice or missed. A page costs one GetItem and
one Query of the account's purchases (about 0.3 KB each; retired ones a little more).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from pynamodb.exceptions import PutError

from ..adapters.tables import AccountItem, LedgerItem, account_key
from ..domain.model import PACKAGE_KIND, Package, PackageItem, Units, package_entry_id
from ..domain.money import to_str
from ..domain.packages import MAX_CURRENT_PACKAGES, product
from .auth import Identity
from .entries import canonical_digest, get_entry
from .errors import Conflict
from .paging import ListScope, Page
from .rows import Readable, query_rows
from .schemas import PackageIn

PACKAGE_PREFIX = package_entry_id("")


# ------------------------------------------------------------------ responses
class PackageItemOut(BaseModel):
    service: str
    purchased: str
    used: str
    remaining: str
    unit_price: str
    amount_used: str
    amount_remaining: str

    @classmethod
    def of(cls, item: PackageItem) -> PackageItemOut:
        return cls(
            service=item.service,
            purchased=to_str(item.purchased),
            used=to_str(item.used),
            remaining=to_str(item.remaining),
            unit_price=to_str(item.unit_price),
            amount_used=to_str(product(item.used, item.unit_price)),
            amount_remaining=to_str(product(item.remaining, item.unit_price)),
        )


class PackageOut(BaseModel):
    package_id: str
    name: str
    member_id: str | None
    purchased_at: str
    price: str
    status: str
    retired_at: str | None
    items: list[PackageItemOut]

    @classmethod
    def of(cls, listed: Listed) -> PackageOut:
        package = listed.package
        return cls(
            package_id=package.package_id,
            name=package.name,
            member_id=package.member_id,
            purchased_at=package.purchased_at,
            price=to_str(package.price),
            status=listed.status,
            retired_at=listed.retired_at,
            items=[PackageItemOut.of(item) for item in package.items],
        )


class UnallocatedOut(BaseModel):
    service: str
    member_id: str | None
    quantity: str


class PurchasedItemOut(BaseModel):
    service: str
    quantity: str
    unit_price: str


class PurchaseOut(BaseModel):
    """The stored purchase (the POST response; the balances are in GET)."""

    package_id: str
    entry_id: str
    name: str
    member_id: str | None
    price: str
    currency: str | None
    items: list[PurchasedItemOut]
    purchased_at: str
    recorded_at: str
    actor: str | None
    rejected_reason: str | None

    @classmethod
    def of(cls, item: LedgerItem) -> PurchaseOut:
        doc = item.package or {}
        return cls(
            package_id=str(doc.get("package_id", "")),
            entry_id=item.entry_id,
            name=str(doc.get("name", "")),
            member_id=doc.get("member_id"),
            price=to_str(Decimal(doc.get("price", 0))),
            currency=item.currency,
            items=[
                PurchasedItemOut(service=str(row["service"]),
                                 quantity=to_str(Decimal(row["quantity"])),
                                 unit_price=to_str(Decimal(row["unit_price"])))
                for row in doc.get("items") or ()
            ],
            purchased_at=item.occurred_at,
            recorded_at=item.recorded_at,
            actor=item.actor,
            rejected_reason=item.rejected_reason,
        )


# ---------------------------------------------------------------------- write
def purchase_doc(package: PackageIn) -> dict[str, Any]:
    """The ``package`` map of the ledger item; ``price`` filled in when absent."""
    items = [
        {"service": item.service, "quantity": item.quantity, "unit_price": item.unit_price}
        for item in package.items
    ]
    price = package.price
    if price is None:
        price = sum((product(item.quantity, item.unit_price) for item in package.items),
                    Decimal(0))
    return {"package_id": package.package_id, "name": package.name,
            "member_id": package.member_id, "price": price, "items": items}


def body_hash(doc: dict[str, Any], currency: str) -> str:
    """The purchase's digest (an absent price hashes as the price it defaults to, since
    ``doc`` is the stored document); see ``entries.canonical_digest``."""
    return canonical_digest(doc, currency)


def _replay(existing: LedgerItem, digest: str, package_id: str) -> tuple[LedgerItem, bool]:
    if existing.body_hash != digest:
        raise Conflict(f"package {package_id} was already recorded with different content")
    return existing, False


def record_package(
    identity: Identity, account: AccountItem, package: PackageIn
) -> tuple[LedgerItem, bool]:
    """Store the purchase. Returns the stored item and whether it is new."""
    key = account_key(account.tenant_id, account.account_id)
    entry_id = package_entry_id(package.package_id)
    doc = purchase_doc(package)
    digest = body_hash(doc, account.currency)
    existing = get_entry(key, entry_id)
    if existing is not None:
        return _replay(existing, digest, package.package_id)
    current = len(Units.from_dict(account.units).packages)
    if current >= MAX_CURRENT_PACKAGES:
        raise Conflict(
            f"the account holds {current} current packages (at most "
            f"{MAX_CURRENT_PACKAGES}); use some up before buying more")
    recorded_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    item = LedgerItem(
        key,
        entry_id,
        recorded_seq=f"{recorded_at}#{entry_id}",
        tenant_id=account.tenant_id,
        account_id=account.account_id,
        kind=PACKAGE_KIND,
        currency=account.currency,
        member_id=package.member_id,
        occurred_at=recorded_at,
        recorded_at=recorded_at,
        description=package.name,
        actor=identity.actor,
        body_hash=digest,
        package=doc,
    )
    try:
        item.save(condition=LedgerItem.entry_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        existing = get_entry(key, entry_id)  # recorded concurrently
        if existing is None:
            raise
        return _replay(existing, digest, package.package_id)
    return item, True


# ----------------------------------------------------------------------- read
@dataclass(frozen=True)
class Listed:
    package: Package
    status: str  # "current" | "retired" | "pending"
    retired_at: str | None = None
    recorded_seq: str = ""

    @property
    def position(self) -> str:
        """Sorts in purchase order: applied packages by ``seq``, pending ones after."""
        if self.status == "pending":
            return f"1:{self.recorded_seq}"
        return f"0:{self.package.seq:012d}"


def _pending(item: LedgerItem) -> Package:
    doc = item.package or {}
    return Package(
        package_id=str(doc.get("package_id", item.entry_id[len(PACKAGE_PREFIX):])),
        entry_id=item.entry_id,
        name=str(doc.get("name", "")),
        seq=0,
        purchased_at=item.occurred_at,
        price=Decimal(doc.get("price", 0)),
        member_id=doc.get("member_id"),
        items=[PackageItem(service=str(row["service"]), purchased=Decimal(row["quantity"]),
                           unit_price=Decimal(row["unit_price"]))
               for row in doc.get("items") or ()],
    )


def _listed(item: LedgerItem, current: dict[str, Package]) -> Listed | None:
    """How the purchase ``item`` is listed (None: rejected, never applied); raises when
    the item cannot be read or shown (``rows.UNREADABLE``)."""
    package_id = item.entry_id[len(PACKAGE_PREFIX):]
    if package_id in current:
        listed = Listed(current[package_id], "current")
    elif item.package_archive:
        listed = Listed(Package.from_dict(item.package_archive), "retired",
                        item.package_archive.get("retired_at"))
    elif not item.rejected_reason:
        listed = Listed(_pending(item), "pending", recorded_seq=item.recorded_seq)
    else:
        return None
    PackageOut.of(listed)  # it can be shown: a row that cannot is skipped, not a 500
    return listed


def every_package(account: AccountItem, units: Units) -> list[Listed]:
    """Every package of the account (``units``: its item's), oldest purchase first (see
    the module docstring). A purchase whose ledger item cannot be read is left out
    (logged, ``LedgerRowsUnreadable``) - unless it is current: then the account item
    has it."""
    current = {p.package_id: p for p in units.packages}
    key = account_key(account.tenant_id, account.account_id)
    listed: list[Listed] = []
    rows = Readable(LedgerItem, query_rows(
        LedgerItem, key, range_key_condition=LedgerItem.entry_id.startswith(PACKAGE_PREFIX),
        consistent_read=True,
    ), lambda item: _listed(item, current))
    for _, entry in rows:
        if entry is None:
            continue
        if entry.status == "current":
            current.pop(entry.package.package_id, None)
        listed.append(entry)
    rows.report()
    listed += [Listed(package, "current") for package in current.values()]
    return sorted(listed, key=lambda entry: entry.position)


def list_packages(account: AccountItem, units: Units, limit: int,
                  cursor: str | None) -> Page[Listed]:
    scope = ListScope(account.tenant_id, "packages", account.account_id, ("after",))
    start = scope.start(cursor)
    listed = every_package(account, units)
    if start is not None:
        listed = [entry for entry in listed if entry.position > start["after"]]
    more = len(listed) > limit
    items = listed[:limit]
    next_cursor = scope.cursor_after({"after": items[-1].position}) if more and items else None
    return Page(items=items, next_cursor=next_cursor)


def unallocated_out(units: Units) -> list[UnallocatedOut]:
    """Units charged with no package to take them from, per service and member."""
    return [
        UnallocatedOut(service=service, member_id=member, quantity=to_str(quantity))
        for (member, service), quantity in sorted(
            units.unallocated.items(), key=lambda kv: (kv[0][1], kv[0][0] or ""))
    ]
