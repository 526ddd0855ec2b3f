"""Packages of units as pure domain code: examples and properties (no AWS)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balance_alerts.adapters.attributes import DocumentAttribute
from balance_alerts.api import schemas
from balance_alerts.domain import packages
from balance_alerts.domain.ledger import apply_entries
from balance_alerts.domain.rules import RuleContext
from balance_alerts.domain.model import (
    AccountState,
    Entry,
    Package,
    PackagePurchase,
    PurchasedItem,
    Units,
    package_entry_id,
)
from balance_alerts.domain.profiles import profile_from_dict

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
D = Decimal

LESSONS = profile_from_dict("school", {"rules": [
    {"id": "lessons", "type": "package_below", "remaining": "2",
     "notify": ["customer", "staff"]},
]})


class Ledger:
    """Builds entries the way the stream delivers them, numbered in order."""

    def __init__(self) -> None:
        self.count = 0

    def _at(self) -> datetime:
        self.count += 1
        return T0 + timedelta(minutes=self.count)

    def buy(self, package_id: str, *items: tuple[str, str, str], member: str | None = None,
            price: str = "0") -> Entry:
        purchase = PackagePurchase(
            package_id=package_id, name=f"Package {package_id}", member_id=member,
            price=D(price),
            items=tuple(PurchasedItem(s, D(q), D(p)) for s, q, p in items))
        return Entry(entry_id=package_entry_id(package_id), kind="package",
                     recorded_at=self._at(), member_id=member, package=purchase)

    def charge(self, entry_id: str, service: str | None, quantity: str | None,
               member: str | None = None, amount: str | None = None) -> Entry:
        return Entry(entry_id=entry_id, kind="charge", recorded_at=self._at(),
                     amount=None if amount is None else D(amount), service=service,
                     quantity=None if quantity is None else D(quantity), member_id=member)

    def void(self, entry_id: str, charge: Entry) -> Entry:
        return Entry(entry_id=entry_id, kind="void", recorded_at=self._at(),
                     voids=charge.entry_id, void_delta=charge.amount or D(0),
                     voided_kind="charge", service=charge.service,
                     quantity=charge.quantity, member_id=charge.member_id)


def apply(state, entries, profile=LESSONS, retired=None, **context):
    return apply_entries(state, entries, RuleContext(profile=profile, **context), T0, retired)


def used(state: AccountState) -> dict[tuple[str, str], tuple[str, str]]:
    """(package, service) -> (used, remaining) as strings, of the current packages."""
    return {(p.package_id, i.service): (str(i.used), str(i.remaining))
            for p in state.units.packages for i in p.items}


def everything(result) -> dict[tuple[str, str], tuple[str, str]]:
    """Like ``used``, with the packages that left the account item (purchase order)."""
    every = sorted(result.state.units.packages + result.retired, key=lambda p: p.seq)
    return {(p.package_id, i.service): (str(i.used), str(i.remaining))
            for p in every for i in p.items}


# --------------------------------------------------------------------- buying
def test_a_purchase_adds_a_package_and_leaves_the_money_balance_alone():
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "10", "25.00"), member="kid", price="250.00")])
    (package,) = result.state.units.packages
    assert (package.package_id, package.entry_id, package.seq) == ("p1", "package#p1", 1)
    assert package.member_id == "kid" and package.price == D("250.00")
    assert package.purchased_at == (T0 + timedelta(minutes=1)).isoformat()
    assert result.state.balance == 0
    assert result.notices == []


def test_a_package_beyond_the_limit_is_rejected_and_changes_nothing():
    ledger = Ledger()
    full = apply(AccountState("t", "a"), [
        ledger.buy(f"p{n}", ("piano", "1", "1")) for n in range(packages.MAX_CURRENT_PACKAGES)])
    result = apply(full.state, [ledger.buy("one-more", ("piano", "1", "1"))])
    assert [(o.result, o.reason) for o in result.outcomes] == [
        ("rejected", "the account already holds 50 current packages")]
    assert len(result.state.units.packages) == packages.MAX_CURRENT_PACKAGES


def test_the_api_and_the_domain_agree_on_the_item_limit():
    assert schemas.MAX_PACKAGE_ITEMS == packages.MAX_PACKAGE_ITEMS


# ---------------------------------------------------------------------- using
def test_units_come_from_the_oldest_package_first_spanning_packages():
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "3", "25")),
        ledger.buy("p2", ("piano", "5", "20")),
        ledger.charge("c1", "piano", "2"),
        ledger.charge("c2", "piano", "2"),  # 1 from p1, 1 from p2
    ])
    assert everything(result) == {("p1", "piano"): ("3", "0"), ("p2", "piano"): ("1", "4")}
    assert [p.package_id for p in result.retired] == ["p1"], "used up, p2 takes overdraws"
    (c1, c2) = result.state.units.allocations
    assert c2.parts == [("p1", D(1)), ("p2", D(1))]
    assert c1.parts == [("p1", D(2))]


def test_a_shortfall_overdraws_the_newest_package():
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "2", "25")),
        ledger.buy("p2", ("piano", "1", "20")),
        ledger.charge("c1", "piano", "5"),
    ])
    assert everything(result) == {("p1", "piano"): ("2", "0"), ("p2", "piano"): ("3", "-2")}
    assert result.state.units.allocations[0].parts == [("p1", D(2)), ("p2", D(3))]


def test_units_without_a_package_are_unallocated_per_member_and_service():
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "2", "25"), member="ann"),
        ledger.charge("c1", "violin", "1"),
        ledger.charge("c2", "piano", "1.5", member="bob"),  # bob has no package
        ledger.charge("c3", "piano", "1", member="ann"),
    ])
    assert result.state.units.unallocated == {(None, "violin"): D(1), ("bob", "piano"): D("1.5")}
    assert used(result.state) == {("p1", "piano"): ("1", "1")}


def test_a_member_charge_uses_only_that_members_packages_and_a_plain_one_any():
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("family", ("piano", "5", "20")),
        ledger.buy("ann", ("piano", "5", "20"), member="ann"),
        ledger.charge("c1", "piano", "2", member="ann"),
        ledger.charge("c2", "piano", "1"),
    ])
    assert used(result.state) == {("family", "piano"): ("1", "4"), ("ann", "piano"): ("2", "3")}


def test_a_charge_may_carry_money_and_units_and_is_activity():
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "2", "25")),
        ledger.charge("c1", "piano", "1", amount="3.50"),
    ])
    assert result.state.balance == D("-3.50")
    assert result.state.last_charge_at == (T0 + timedelta(minutes=2)).isoformat()
    assert used(result.state) == {("p1", "piano"): ("1", "1")}


@pytest.mark.parametrize("entry, reason", [
    (Entry("x", "charge", T0), "charge needs an amount > 0, or a service and a quantity"),
    (Entry("x", "charge", T0, service="piano"), "charge takes service and quantity together"),
    (Entry("x", "charge", T0, service="piano", quantity=D(0)), "charge needs a quantity > 0"),
    (Entry("x", "package", T0), "package entry carries no package"),
])
def test_entries_that_can_never_be_applied_are_rejected(entry, reason):
    result = apply(AccountState("t", "a"), [entry])
    assert [(o.result, o.reason) for o in result.outcomes] == [("rejected", reason)]


# -------------------------------------------------------------------- voiding
def test_a_void_gives_the_units_back_to_the_packages_they_came_from():
    ledger = Ledger()
    c2 = ledger.charge("c2", "piano", "2")
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "3", "25")),
        ledger.buy("p2", ("piano", "5", "20")),
        ledger.charge("c1", "piano", "2"),
        c2,                                   # 1 from p1, 1 from p2
        ledger.charge("c3", "piano", "1"),    # p2
        ledger.void("v2", c2),
    ])
    assert used(result.state) == {("p1", "piano"): ("2", "1"), ("p2", "piano"): ("1", "4")}
    assert [a.entry_id for a in result.state.units.allocations] == ["c1", "c3"]


def test_a_void_of_unallocated_units_takes_them_off_the_count():
    ledger = Ledger()
    c1 = ledger.charge("c1", "violin", "2")
    result = apply(AccountState("t", "a"), [c1, ledger.charge("c2", "violin", "1"),
                                            ledger.void("v1", c1)])
    assert result.state.units.unallocated == {(None, "violin"): D(1)}


def test_a_void_brings_a_retired_package_back_in_its_purchase_position():
    ledger = Ledger()
    c1 = ledger.charge("c1", "piano", "2")
    bought = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "2", "25")), c1,
        ledger.buy("p2", ("piano", "5", "20")), ledger.buy("p3", ("piano", "5", "20")),
    ])
    # p1 left the account item when p2 was bought (p2 would take any overdraw)
    (gone,) = bought.retired
    assert (gone.package_id, gone.items[0].used) == ("p1", 2)
    state = bought.state
    assert [p.package_id for p in state.units.packages] == ["p2", "p3"]
    voided = ledger.void("v1", c1)
    assert packages.retired_needed(state.units, [voided]) == {"p1"}
    # When the void arrives with the retired package read back from the ledger
    result = apply(state, [voided], retired={"p1": gone})
    # Then p1 is current again, first in line, with its units back; its alert is kept
    assert [p.package_id for p in result.state.units.packages] == ["p1", "p2", "p3"]
    assert used(result.state)[("p1", "piano")] == ("0", "2")
    assert result.state.units.packages[0].items[0].alerted == ["lessons"]
    assert result.notices == [] and result.retired == []
    assert gone.items[0].used == 2, "the caller's copy is not changed"


def test_a_package_retired_and_brought_back_within_one_batch_is_not_retired():
    ledger = Ledger()
    c1 = ledger.charge("c1", "piano", "2")
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "2", "25")), c1, ledger.buy("p2", ("piano", "5", "20")),
        ledger.void("v1", c1)])
    assert result.retired == []
    assert used(result.state) == {("p1", "piano"): ("0", "2"), ("p2", "piano"): ("0", "5")}


def test_retiring_after_each_entry_keeps_the_limit_independent_of_batching():
    ledger = Ledger()
    entries = []
    for n in range(packages.MAX_CURRENT_PACKAGES + 10):
        entries += [ledger.buy(f"p{n}", ("piano", "1", "1")), ledger.charge(f"c{n}", "piano", "1")]
    result = apply(AccountState("t", "a"), entries)
    assert all(o.result == "applied" for o in result.outcomes)
    assert [p.package_id for p in result.state.units.packages] == ["p59"]
    assert len(result.retired) == 59


def test_a_void_of_a_forgotten_charge_gives_units_back_newest_first():
    ledger = Ledger()
    first = ledger.charge("old", "piano", "1", member="ann")
    state = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "5", "25"), member="ann"),
        ledger.buy("p2", ("piano", "5", "25"), member="ann"), first,
        ledger.charge("new", "piano", "1", member="ann"),
    ]).state
    state.units.allocations.clear()  # older than the last MAX_ALLOCATIONS unit charges
    result = apply(state, [ledger.void("v", first)])
    assert used(result.state) == {("p1", "piano"): ("1", "4"), ("p2", "piano"): ("0", "5")}


def test_a_forgotten_charge_whose_package_retired_still_gives_every_unit_back():
    ledger = Ledger()
    first = ledger.charge("old", "piano", "3")
    state = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "2", "25")), ledger.buy("p2", ("piano", "2", "25")), first,
    ]).state  # p1 (2 used) retired
    state.units.allocations.clear()
    result = apply(state, [ledger.void("v", first)])
    assert used(result.state) == {("p2", "piano"): ("-2", "4")}


def test_only_the_most_recent_allocations_are_kept():
    ledger = Ledger()
    entries = [ledger.buy("p1", ("piano", "1000", "1"))] + [
        ledger.charge(f"c{n}", "piano", "1") for n in range(packages.MAX_ALLOCATIONS + 5)]
    units = apply(AccountState("t", "a"), entries).state.units
    assert len(units.allocations) == packages.MAX_ALLOCATIONS
    assert units.allocations[0].entry_id == "c5"


# --------------------------------------------------------------------- alerts
def test_a_package_item_alerts_once_when_it_reaches_the_level():
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "4", "25")),
        ledger.charge("c1", "piano", "1"),  # 3 left
        ledger.charge("c2", "piano", "1"),  # 2 left: due
        ledger.charge("c3", "piano", "1"),  # 1 left: sent already
        ledger.charge("c4", "piano", "3"),  # -2: still sent already
    ])
    (notice,) = result.notices
    assert notice.key == "lessons#p1/piano#2#0"
    assert (notice.type, notice.level, notice.episode, notice.entry_id) == (
        "package_low", "2", 1, "c2")
    assert notice.variables["package"]["name"] == "Package p1"
    assert notice.variables["item"] == {"service": "piano", "remaining": "2", "purchased": "4"}
    assert notice.variables["member_id"] is None


def test_a_new_package_has_its_own_alert():
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "3", "25")), ledger.charge("c1", "piano", "1"),
        ledger.buy("p2", ("piano", "3", "25")), ledger.charge("c2", "piano", "3"),
    ])
    assert [n.key for n in result.notices] == ["lessons#p1/piano#2#0", "lessons#p2/piano#2#0"]


def test_percent_levels_service_filters_and_only_the_lowest_of_several():
    profile = profile_from_dict("p", {"rules": [
        {"id": "quarter", "type": "package_below", "percent": "25"},
        {"id": "last", "type": "package_below", "remaining": "0"},
        {"id": "theory", "type": "package_below", "remaining": "5", "service": "theory"},
    ]})
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "8", "25"), ("theory", "8", "10")),
        ledger.charge("c1", "piano", "6"),   # 2 left = 25% of 8: quarter
        ledger.charge("c2", "piano", "9"),   # -7: last
        ledger.charge("c3", "theory", "8"),  # 0: theory, quarter and last at once: last
    ], profile=profile)
    assert [(n.key, n.level) for n in result.notices] == [
        ("quarter#p1/piano#25%#0", "25%"), ("last#p1/piano#0#0", "0"),
        ("last#p1/theory#0#0", "0")]
    theory = result.state.units.packages[0].item("theory")
    assert sorted(theory.alerted) == ["last", "quarter", "theory"]


def test_member_tracking_leaves_packages_without_a_member_silent():
    ledger = Ledger()
    entries = [ledger.buy("family", ("piano", "2", "25")),
               ledger.buy("ann", ("piano", "2", "25"), member="ann"),
               ledger.charge("c1", "piano", "2"), ledger.charge("c2", "piano", "2", member="ann")]
    by_member = apply(AccountState("t", "a"), entries, track_packages_by="member")
    by_account = apply(AccountState("t", "a"), entries)
    assert [n.key for n in by_member.notices] == ["lessons#ann/piano#2#0"]
    assert by_member.notices[0].variables["member_id"] == "ann"
    assert [n.key for n in by_account.notices] == [
        "lessons#family/piano#2#0", "lessons#ann/piano#2#0"]


@pytest.mark.parametrize("status, billing, alerted", [
    ("active", "prepaid", True), ("active", "postpaid", True),
    ("inactive", "prepaid", False), ("suspended", "postpaid", False), ("closed", "prepaid", False),
])
def test_package_notices_go_to_active_accounts_prepaid_or_postpaid(status, billing, alerted):
    ledger = Ledger()
    result = apply(AccountState("t", "a", status=status, billing=billing), [
        ledger.buy("p1", ("piano", "2", "25")), ledger.charge("c1", "piano", "1")])
    assert bool(result.notices) is alerted
    assert bool(result.state.units.packages[0].items[0].alerted) is alerted


def test_a_class_that_disables_package_low_suppresses_it_and_it_counts_as_sent():
    ledger = Ledger()
    result = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "2", "25")), ledger.charge("c1", "piano", "1")],
        enabled_types=frozenset({"balance_low"}), class_id="basic")
    (notice,) = result.notices
    assert notice.status == "suppressed" and "basic" in notice.reason


# ------------------------------------------------------------------- retiring
def _units(*steps) -> Units:
    """Units after ("buy", id, quantity, member) and ("use", quantity, member) steps."""
    units = Units()
    for step in steps:
        if step[0] == "buy":
            _, package_id, quantity, member = step
            purchase = PackagePurchase(package_id, "x", (PurchasedItem("piano", D(quantity),
                                                                       D(1)),), D(1), member)
            packages.buy(units, purchase, package_entry_id(package_id), T0.isoformat())
        else:
            packages.use(units, f"c{len(units.allocations)}", "piano", D(step[1]), step[2])
    return units


def test_a_used_up_package_retires_once_a_newer_one_would_take_any_overdraw():
    units = _units(("buy", "p1", "2", None), ("use", "2", None))
    assert packages.retirable(units) == [], "p1 takes the next overdraw"
    units = _units(("buy", "p1", "2", None), ("use", "2", None), ("buy", "p2", "2", None))
    assert [p.package_id for p in packages.retirable(units)] == ["p1"]


def test_a_members_used_up_package_waits_for_a_newer_one_of_that_member():
    steps = [("buy", "ann1", "1", "ann"), ("use", "1", "ann"), ("buy", "bob1", "5", "bob")]
    assert packages.retirable(_units(*steps)) == []
    later = _units(*steps, ("buy", "ann2", "5", "ann"))
    assert [p.package_id for p in packages.retirable(later)] == ["ann1"]


def test_a_package_without_a_member_retires_once_any_newer_package_of_its_service_exists():
    units = _units(("buy", "family", "1", None), ("use", "1", None), ("buy", "ann", "5", "ann"))
    assert [p.package_id for p in packages.retirable(units)] == ["family"]


def test_retire_takes_every_retirable_package_off_oldest_first():
    units = Units()
    for n in range(5):
        purchase = PackagePurchase(f"p{n}", "x", (PurchasedItem("piano", D(1), D(1)),), D(1))
        packages.buy(units, purchase, f"package#p{n}", T0.isoformat())
        packages.use(units, f"c{n}", "piano", D(1), None)
    assert [p.package_id for p in packages.retire(units)] == ["p0", "p1", "p2", "p3"]
    assert [p.package_id for p in units.packages] == ["p4"]
    assert packages.retire(units) == []


# ------------------------------------------------------------------ storage
def test_units_survive_the_trip_through_a_dynamodb_map():
    ledger = Ledger()
    c1 = ledger.charge("c1", "piano", "2.5", member="ann")
    state = apply(AccountState("t", "a"), [
        ledger.buy("p1", ("piano", "2", "25.10"), ("theory", "1", "0"), member="ann",
                   price="50.20"),
        c1, ledger.charge("c2", "violin", "0.75"),
    ]).state
    attribute = DocumentAttribute()
    stored = attribute.deserialize(attribute.serialize(state.units.to_dict()))
    assert Units.from_dict(stored) == state.units
    assert Units.from_dict(None) == Units()


def test_amounts_are_exact_beyond_the_default_decimal_precision():
    # 19 x 19 significant digits: the default 28-digit context would round the product
    quantity, price = D("1234567890.123456789"), D("98765432109876.54321")
    exact = packages.product(quantity, price)
    assert exact == D("121932631137021795223746.38011112635269")
    assert quantity * price != exact


# ----------------------------------------------------------------- properties
SERVICES = ("piano", "violin")
MEMBERS = (None, "ann", "bob")
quantities = st.decimals(min_value=D("0.25"), max_value=D(6), places=2)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2,
                                           unique=True), quantities, st.sampled_from(MEMBERS)),
        st.tuples(st.just("charge"), st.sampled_from(SERVICES), quantities,
                  st.sampled_from(MEMBERS)),
        st.tuples(st.just("void"), st.integers(min_value=0, max_value=50)),
    ),
    max_size=40,
)


def _run(ops, batch: int):
    """Apply ``ops`` in batches of ``batch`` entries, keeping the retired packages as
    the ledger does; returns the state, the retired packages, the net units charged per
    service and the notices."""
    ledger = Ledger()
    state = AccountState("t", "a")
    retired: dict[str, Package] = {}
    charges: list[Entry] = []
    voided: set[str] = set()
    net: dict[str, Decimal] = {s: D(0) for s in SERVICES}
    notices = []
    pending: list[Entry] = []

    def flush() -> None:
        nonlocal state
        if not pending:
            return
        needed = packages.retired_needed(state.units, pending)
        result = apply(state, list(pending), retired={k: retired[k] for k in needed})
        state = result.state
        notices.extend(result.notices)
        retired.update((package.package_id, package) for package in result.retired)
        for package in state.units.packages:
            retired.pop(package.package_id, None)  # brought back by a void
        pending.clear()

    for number, op in enumerate(ops):
        if op[0] == "buy":
            _, services, quantity, member = op
            pending.append(ledger.buy(f"p{number}", *[(s, str(quantity), "1.10")
                                                      for s in services], member=member))
        elif op[0] == "charge":
            _, service, quantity, member = op
            entry = ledger.charge(f"c{number}", service, str(quantity), member)
            charges.append(entry)
            net[service] += quantity
            pending.append(entry)
        elif op[0] == "void":
            open_charges = [c for c in charges if c.entry_id not in voided]
            if open_charges:
                charge = open_charges[op[1] % len(open_charges)]
                voided.add(charge.entry_id)
                net[charge.service] -= charge.quantity
                pending.append(ledger.void(f"v{number}", charge))
        if len(pending) >= batch:
            flush()
    flush()
    return state, retired, net, notices


@settings(max_examples=150, deadline=None)
@given(operations, st.integers(min_value=1, max_value=5))
def test_units_are_conserved(ops, batch):
    """purchased - remaining (= used), summed over every package, current or retired,
    plus the unallocated units, is exactly the units charged and not voided."""
    state, retired, net, _ = _run(ops, batch)
    every = state.units.packages + list(retired.values())
    for service in SERVICES:
        items = [i for p in every for i in p.items if i.service == service]
        purchased = sum((i.purchased for i in items), D(0))
        remaining = sum((i.remaining for i in items), D(0))
        unallocated = sum((q for (_, s), q in state.units.unallocated.items() if s == service),
                          D(0))
        assert purchased - remaining + unallocated == net[service]
        assert all(i.used >= 0 for i in items)
    assert all(q > 0 for q in state.units.unallocated.values())


@settings(max_examples=150, deadline=None)
@given(operations, st.integers(min_value=1, max_value=5))
def test_notices_never_repeat_and_batching_does_not_change_them(ops, batch):
    """Once per package item and rule, ever; the result is the same whatever the batch
    size (notices, current packages and retired ones)."""
    state, retired, _, notices = _run(ops, batch)
    alone, retired_alone, _, one_by_one = _run(ops, 1)
    keys = [n.key for n in notices]
    assert len(keys) == len(set(keys))
    assert keys == [n.key for n in one_by_one]
    assert state.units == alone.units
    assert retired == retired_alone


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("buy"), st.just(["piano"]), quantities, st.just(None)),
    st.tuples(st.just("charge"), st.just("piano"), quantities, st.just(None)),
), max_size=30))
def test_without_voids_units_are_used_oldest_first(ops):
    """Every package before the newest one in use is used up, every later one untouched."""
    state, retired, _, _ = _run(ops, batch=3)
    every = sorted(state.units.packages + list(retired.values()), key=lambda p: p.seq)
    items = [p.item("piano") for p in every]
    in_use = [n for n, item in enumerate(items) if item.used > 0]
    if in_use:
        last = in_use[-1]
        assert all(item.remaining <= 0 for item in items[:last])
        assert all(item.used == 0 for item in items[last + 1:])


def test_apply_does_not_change_the_state_it_is_given():
    ledger = Ledger()
    state = apply(AccountState("t", "a"), [ledger.buy("p1", ("piano", "2", "25"))]).state
    before = copy.deepcopy(state)
    apply(state, [ledger.charge("c1", "piano", "1")])
    assert state == before
