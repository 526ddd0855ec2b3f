"""Packages of units: buy, use oldest-first, overdraw the newest, give back on a void,
the ``package_below`` rule, and retiring used-up packages from the account item.

All of it works on ``AccountState.units`` (a ``Units``), in the order the account's
entries are applied, so the result never depends on how the stream batched them.

- **Buying** appends the package, numbered by purchase order (``seq``). It does not
  move the money balance: a tenant that takes the price from the balance posts a charge.
- **Using**: a charge with ``service`` and ``quantity`` takes units from the account's
  packages that hold that service - only ``member_id``'s packages when the charge names
  a member - oldest purchase first, spanning packages. What is left over overdraws the
  newest of those packages (its remaining goes negative). With no such package at all,
  the units are *unallocated* (counted per member and service on the account).
- **Voiding** such a charge gives its units back where they came from. The account
  remembers the allocation of its ``MAX_ALLOCATIONS`` most recent unit charges that were
  not voided; a package that has since been retired is brought back from the ledger
  (``retired``). A void of an older charge gives its units back to the current
  packages of that service, newest first, up to what each has used, then takes them
  off the unallocated count; anything left goes to the newest such package.
- **Alerts** on package items are the ``package_below`` rule (rules/package_below.py).
- **Retiring**: a package leaves the account item when every item is used up
  (remaining <= 0) and, for each of its services, a newer package exists that would
  take any overdraw instead. Nothing more can be due for it then: its alerts were
  created when it was used up, and no charge can draw from it again.
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterable, Mapping
from decimal import Decimal, localcontext

from .model import (
    Allocation,
    Entry,
    EntryRejected,
    Package,
    PackageItem,
    PackagePurchase,
    Units,
)

MAX_CURRENT_PACKAGES = 50
"""Packages an account may hold on its item at once (the API refuses more with 409)."""
MAX_PACKAGE_ITEMS = 20
MAX_ALLOCATIONS = 200
"""Allocations of the most recent unit charges kept on the account item, for voids."""

ZERO = Decimal(0)
EXACT = 120  # digits for products of two 38-digit decimals: never rounded



def product(quantity: Decimal, price: Decimal) -> Decimal:
    """``quantity * price`` exactly (the default context would round at 28 digits)."""
    with localcontext() as context:
        context.prec = EXACT
        return quantity * price


# ------------------------------------------------------------------------- buying
def buy(units: Units, purchase: PackagePurchase, entry_id: str, purchased_at: str) -> Package:
    if units.package(purchase.package_id) is not None:
        raise EntryRejected(f"package {purchase.package_id} is already on the account")
    if len(units.packages) >= MAX_CURRENT_PACKAGES:
        raise EntryRejected(
            f"the account already holds {MAX_CURRENT_PACKAGES} current packages")
    if not purchase.items or len(purchase.items) > MAX_PACKAGE_ITEMS:
        raise EntryRejected(f"a package needs 1 to {MAX_PACKAGE_ITEMS} items")
    services = [item.service for item in purchase.items]
    if len(set(services)) != len(services):
        raise EntryRejected("a package holds each service once")
    if any(item.quantity <= 0 or item.unit_price < 0 for item in purchase.items):
        raise EntryRejected("package items need a quantity > 0 and a unit price >= 0")
    package = Package(
        package_id=purchase.package_id,
        entry_id=entry_id,
        name=purchase.name,
        seq=units.next_seq,
        purchased_at=purchased_at,
        price=purchase.price,
        member_id=purchase.member_id,
        items=[PackageItem(service=item.service, purchased=item.quantity,
                           unit_price=item.unit_price) for item in purchase.items],
    )
    units.next_seq += 1
    units.packages.append(package)
    return package


# -------------------------------------------------------------------------- using
def _serves(package: Package, service: str, member_id: str | None) -> bool:
    """May a charge of ``service`` (by ``member_id``, if any) draw from ``package``?"""
    if package.item(service) is None:
        return False
    return member_id is None or package.member_id == member_id


def candidates(units: Units, service: str, member_id: str | None) -> list[Package]:
    """The packages a charge may draw from, oldest purchase first."""
    return [p for p in units.packages if _serves(p, service, member_id)]


def use(units: Units, entry_id: str, service: str, quantity: Decimal,
        member_id: str | None) -> Allocation:
    """Take ``quantity`` units of ``service``: oldest package first, a shortfall
    overdraws the newest, no package at all leaves them unallocated."""
    allocation = Allocation(entry_id=entry_id, service=service, member_id=member_id)
    sources = candidates(units, service, member_id)
    left = quantity
    for package in sources:
        if left <= 0:
            break
        item = package.item(service)
        assert item is not None
        if item.remaining <= 0:
            continue
        take = min(item.remaining, left)
        item.used += take
        allocation.parts.append((package.package_id, take))
        left -= take
    if left > 0 and sources:
        newest = sources[-1]
        item = newest.item(service)
        assert item is not None
        item.used += left
        if allocation.parts and allocation.parts[-1][0] == newest.package_id:
            allocation.parts[-1] = (newest.package_id, allocation.parts[-1][1] + left)
        else:
            allocation.parts.append((newest.package_id, left))
    elif left > 0:
        key = (member_id, service)
        units.unallocated[key] = units.unallocated.get(key, ZERO) + left
        allocation.unallocated = left
    units.allocations.append(allocation)
    del units.allocations[:-MAX_ALLOCATIONS]
    return allocation


# ------------------------------------------------------------------------ voiding
def allocation_of(units: Units, entry_id: str) -> Allocation | None:
    return next((a for a in units.allocations if a.entry_id == entry_id), None)


def retired_needed(units: Units, entries: Iterable[Entry]) -> set[str]:
    """Packages a batch's voids will give units back to that are no longer on the
    account item (retired): the caller reads them from the ledger first."""
    needed: set[str] = set()
    for entry in entries:
        if entry.kind != "void" or not entry.voids:
            continue
        allocation = allocation_of(units, entry.voids)
        if allocation is None:
            continue
        needed.update(pid for pid, _ in allocation.parts if units.package(pid) is None)
    return needed


def revive(units: Units, package: Package) -> Package:
    """Put a retired package back on the account item, in its purchase position."""
    seqs = [p.seq for p in units.packages]
    units.packages.insert(bisect.bisect(seqs, package.seq), package)
    return package


def give_back(units: Units, entry: Entry, retired: Mapping[str, Package]) -> None:
    """Reverse the units of the charge ``entry`` voids (see the module docstring)."""
    assert entry.voids is not None
    allocation = allocation_of(units, entry.voids)
    if allocation is None:
        if entry.service is not None and entry.quantity:
            _give_back_newest_first(units, entry.service, entry.quantity, entry.member_id)
        return
    units.allocations.remove(allocation)
    for package_id, quantity in allocation.parts:
        package = units.package(package_id)
        if package is None and package_id in retired:
            package = revive(units, copy.deepcopy(retired[package_id]))
        item = package.item(allocation.service) if package else None
        if item is None:  # not found anywhere: the fallback still gives the units back
            _give_back_newest_first(units, allocation.service, quantity, allocation.member_id)
            continue
        item.used -= quantity
    if allocation.unallocated:
        _take_off_unallocated(units, allocation.member_id, allocation.service,
                              allocation.unallocated)


def _give_back_newest_first(units: Units, service: str, quantity: Decimal,
                            member_id: str | None) -> None:
    """The fallback when the allocation is not known: back to the current packages of
    that service (and member), newest first, up to what each has used; then off the
    unallocated count; what is left goes to the newest package anyway (the units were
    charged, so they come back; they came from a package that has since retired)."""
    left = quantity
    sources = candidates(units, service, member_id)
    for package in reversed(sources):
        item = package.item(service)
        assert item is not None
        back = min(item.used, left)
        if back > 0:
            item.used -= back
            left -= back
    if left > 0:
        owed = units.unallocated.get((member_id, service), ZERO)
        _take_off_unallocated(units, member_id, service, min(owed, left))
        left -= min(owed, left)
    if left > 0 and sources:
        item = sources[-1].item(service)
        assert item is not None
        item.used -= left


def _take_off_unallocated(units: Units, member_id: str | None, service: str,
                          quantity: Decimal) -> None:
    if quantity <= 0:
        return
    key = (member_id, service)
    left = units.unallocated.get(key, ZERO) - quantity
    if left > 0:
        units.unallocated[key] = left
    else:
        units.unallocated.pop(key, None)


# ----------------------------------------------------------------------- retiring
def retirable(units: Units) -> list[Package]:
    """Used-up packages that no charge can draw from again, oldest first."""
    found = []
    for package in units.packages:
        if not package.used_up:
            continue
        if all(_has_newer(units, package, item.service) for item in package.items):
            found.append(package)
    return found


def _has_newer(units: Units, package: Package, service: str) -> bool:
    return any(
        other.seq > package.seq and other.item(service) is not None
        and (package.member_id is None or other.member_id == package.member_id)
        for other in units.packages
    )


def retire(units: Units) -> list[Package]:
    """Take the retirable packages off ``units`` and return them (the caller stores
    their final state with their ledger entries before it writes the account)."""
    leaving = retirable(units)
    gone = {package.package_id for package in leaving}
    units.packages = [p for p in units.packages if p.package_id not in gone]
    return leaving
