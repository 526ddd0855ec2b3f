"""The package_below rule as pure domain code (CONTRACT.md section 3): per package item,
due when its remaining is at or below the rule's level (units, or a percent of
purchased); once per package item, ever; only the lowest of several levels reached at
once; with track_packages_by = member, only packages of a member. And what becomes of a
used-up package: it leaves the account item once a newer package would take its
service's overdraws."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balance_alerts.domain import packages
from balance_alerts.domain.ledger import Applied, apply_entries
from balance_alerts.domain.model import (
    AccountState,
    Entry,
    Package,
    PackagePurchase,
    Profile,
    PurchasedItem,
    package_entry_id,
)
from balance_alerts.domain.rules import RuleContext
from balance_alerts.domain.rules.package_below import item_key, level_of
from tests.unit.history import at, profile

D = Decimal
LESSONS = profile({"id": "lessons", "type": "package_below", "remaining": "2",
                   "notify": ["customer", "staff"]})


class Shop:
    """One account's package history: purchases, unit charges and voids, each applied as
    it comes (as on_usage applies a stream record), keeping what retired."""

    def __init__(self, rules: Profile = LESSONS, *, state: AccountState | None = None,
                 **context) -> None:
        self.state = state or AccountState("t1", "a1")
        self.context = RuleContext(profile=rules, **context)
        self.notices: list = []
        self.retired: dict[str, Package] = {}
        self.charges: dict[str, Entry] = {}
        self.count = 0

    def _apply(self, entry: Entry) -> Applied:
        needed = packages.retired_needed(self.state.units, [entry])
        result = apply_entries(self.state, [entry], self.context, entry.recorded_at,
                               {pid: self.retired[pid] for pid in needed})
        assert [o.result for o in result.outcomes] == ["applied"], result.outcomes
        self.state = result.state
        self.notices += result.notices
        self.retired.update((p.package_id, p) for p in result.retired)
        for package in self.state.units.packages:
            self.retired.pop(package.package_id, None)  # brought back by a void
        return result

    def _next(self) -> int:
        self.count += 1
        return self.count

    def buy(self, package_id: str, *items: tuple[str, str], member: str | None = None
            ) -> Applied:
        """A package of (service, quantity) items."""
        purchase = PackagePurchase(package_id=package_id, name=f"Pack {package_id}",
                                   member_id=member, price=D(0),
                                   items=tuple(PurchasedItem(s, D(q), D(1)) for s, q in items))
        return self._apply(Entry(entry_id=package_entry_id(package_id), kind="package",
                                 recorded_at=at(0, minute=self._next()), package=purchase))

    def use(self, service: str, quantity: str | Decimal, member: str | None = None
            ) -> Applied:
        number = self._next()
        entry = Entry(entry_id=f"c{number}", kind="charge", recorded_at=at(0, minute=number),
                      service=service, quantity=D(quantity), member_id=member)
        self.charges[entry.entry_id] = entry
        return self._apply(entry)

    def void(self, charge_id: str) -> Applied:
        charge = self.charges.pop(charge_id)
        number = self._next()
        return self._apply(Entry(entry_id=f"v{number}", kind="void",
                                 recorded_at=at(0, minute=number), voids=charge_id,
                                 void_delta=D(0), voided_kind="charge",
                                 service=charge.service, quantity=charge.quantity,
                                 member_id=charge.member_id))

    def keys(self) -> list[str]:
        return [n.key for n in self.notices]

    def current(self) -> list[str]:
        return [p.package_id for p in self.state.units.packages]


# ------------------------------------------------------------------- levels
def test_due_when_remaining_reaches_the_level_inclusive():
    shop = Shop()
    shop.buy("p1", ("piano", "5"))
    assert shop.use("piano", "2").notices == []  # 3 left
    (notice,) = shop.use("piano", "1").notices   # 2 left: at the level
    assert (notice.type, notice.rule_id, notice.level, notice.key) == (
        "package_low", "lessons", "2", "lessons#p1/piano#2#0")
    assert notice.audiences == ("customer", "staff")
    assert notice.variables["item"] == {"service": "piano", "remaining": "2",
                                        "purchased": "5"}
    assert notice.variables["package"]["name"] == "Pack p1"


def test_a_percent_level_is_a_share_of_the_units_purchased():
    shop = Shop(profile({"id": "quarter", "type": "package_below", "percent": "25"}))
    shop.buy("p1", ("piano", "8"))
    assert shop.use("piano", "5").notices == []          # 3 of 8 left: 37.5 %
    assert [n.level for n in shop.use("piano", "1").notices] == ["25%"]  # 2 of 8: 25 %


def test_a_percent_level_may_fall_between_whole_units():
    rules = profile({"id": "tenth", "type": "package_below", "percent": "10"})
    shop = Shop(rules)
    shop.buy("p1", ("piano", "15"))  # 10 % = 1.5 units
    item = shop.state.units.packages[0].items[0]
    assert level_of(rules.rules[0], item) == D("1.5")
    assert shop.use("piano", "13").notices == []          # 2 left
    assert len(shop.use("piano", "0.5").notices) == 1      # 1.5 left


def test_a_package_bought_at_or_below_the_level_is_due_at_once():
    shop = Shop()
    assert shop.buy("p1", ("piano", "2")).notices[0].key == "lessons#p1/piano#2#0"


def test_a_rule_for_one_service_watches_that_service_only():
    shop = Shop(profile({"id": "theory", "type": "package_below", "remaining": "1",
                         "service": "theory"}))
    shop.buy("p1", ("piano", "3"), ("theory", "3"))
    assert shop.use("piano", "3").notices == []
    assert [n.key for n in shop.use("theory", "2").notices] == ["theory#p1/theory#1#0"]


# -------------------------------------------------------------- once, ever
def test_once_per_package_item_ever():
    shop = Shop()
    shop.buy("p1", ("piano", "4"))
    shop.use("piano", "2")                     # 2 left: due
    shop.use("piano", "1")                     # 1 left
    shop.use("piano", "3")                     # overdrawn to -2
    assert shop.keys() == ["lessons#p1/piano#2#0"]


def test_units_given_back_by_a_void_do_not_rearm_it():
    shop = Shop()
    shop.buy("p1", ("piano", "4"))
    shop.use("piano", "3")                     # 1 left: due
    shop.void("c2")                            # 4 left again
    shop.use("piano", "3")                     # 1 left again
    assert shop.keys() == ["lessons#p1/piano#2#0"]


def test_each_item_and_each_new_package_has_its_own():
    shop = Shop()
    shop.buy("p1", ("piano", "3"), ("violin", "3"))
    shop.use("piano", "1")
    shop.use("violin", "2")
    shop.buy("p2", ("piano", "3"))
    shop.use("piano", "2")                     # p1 used up, p2 untouched
    shop.use("piano", "1")                     # p2: 2 left
    assert shop.keys() == ["lessons#p1/piano#2#0", "lessons#p1/violin#2#0",
                           "lessons#p2/piano#2#0"]


def test_only_the_lowest_of_several_levels_reached_at_once_is_sent():
    rules = profile(
        {"id": "five", "type": "package_below", "remaining": "5"},
        {"id": "two", "type": "package_below", "remaining": "2"},
        {"id": "sixty", "type": "package_below", "percent": "60"},  # 6 of 10
    )
    shop = Shop(rules)
    shop.buy("p1", ("piano", "10"))
    assert [n.rule_id for n in shop.use("piano", "9").notices] == ["two"]  # 1 left
    # the others count as sent: nothing more, ever
    shop.use("piano", "1")
    assert shop.keys() == ["two#p1/piano#2#0"]


def test_levels_reached_one_after_another_are_each_sent():
    rules = profile(
        {"id": "five", "type": "package_below", "remaining": "5"},
        {"id": "two", "type": "package_below", "remaining": "2"},
        {"id": "sixty", "type": "package_below", "percent": "60"},
    )
    shop = Shop(rules)
    shop.buy("p1", ("piano", "10"))
    assert [n.rule_id for n in shop.use("piano", "4").notices] == ["sixty"]  # 6 left
    assert [n.rule_id for n in shop.use("piano", "1").notices] == ["five"]   # 5 left
    assert [n.rule_id for n in shop.use("piano", "3").notices] == ["two"]    # 2 left


# ----------------------------------------------------------- who is alerted
def test_member_tracking_considers_only_packages_of_a_member():
    for tracking, expected in (("member", ["lessons#ann-1/piano#2#0"]),
                               ("account", ["lessons#family/piano#2#0",
                                            "lessons#ann-1/piano#2#0"])):
        shop = Shop(track_packages_by=tracking)
        shop.buy("family", ("piano", "3"))
        shop.buy("ann-1", ("piano", "3"), member="ann")
        shop.use("piano", "1")
        shop.use("piano", "1", member="ann")
        assert shop.keys() == expected, tracking
    assert shop.notices[-1].variables["member_id"] == "ann"


@pytest.mark.parametrize("status, billing, told", [
    ("active", "prepaid", True), ("active", "postpaid", True),
    ("inactive", "prepaid", False), ("suspended", "prepaid", False),
    ("closed", "postpaid", False),
])
def test_package_notices_go_to_active_accounts_prepaid_or_postpaid(status, billing, told):
    shop = Shop(state=AccountState("t1", "a1", status=status, billing=billing))
    shop.buy("p1", ("piano", "3"))
    shop.use("piano", "1")
    assert bool(shop.notices) is told


def test_the_item_key_names_the_package_and_the_service():
    shop = Shop()
    shop.buy("mia-piano-2", ("piano", "9"))
    package = shop.state.units.packages[0]
    assert item_key(package, package.items[0]) == "mia-piano-2/piano"


# ------------------------------------------------------------------ retiring
def test_a_used_up_package_stays_while_it_is_the_newest_of_its_service():
    shop = Shop()
    shop.buy("p1", ("piano", "2"))
    shop.use("piano", "3")                         # used up and overdrawn: -1
    shop.buy("p2", ("violin", "5"))                # newer, but another service
    assert shop.current() == ["p1", "p2"] and shop.retired == {}
    # the next shortfall still overdraws it
    shop.use("piano", "1")
    assert shop.state.units.packages[0].items[0].remaining == -2


def test_a_used_up_package_retires_once_a_newer_one_of_its_service_exists():
    shop = Shop()
    shop.buy("p1", ("piano", "2"))
    shop.use("piano", "2")
    result = shop.buy("p2", ("piano", "5"))
    assert [p.package_id for p in result.retired] == ["p1"]
    assert result.retired[0].items[0].used == 2, "kept in its final state"
    assert shop.current() == ["p2"]


def test_a_package_not_used_up_stays_however_many_newer_ones_exist():
    shop = Shop()
    shop.buy("p1", ("piano", "2"), ("violin", "2"))
    shop.use("piano", "2")                         # violin still has 2
    shop.buy("p2", ("piano", "5"), ("violin", "5"))
    shop.buy("p3", ("piano", "5"))
    assert shop.current() == ["p1", "p2", "p3"]


def test_a_members_package_retires_only_for_a_newer_package_of_that_member():
    shop = Shop()
    shop.buy("ann-1", ("piano", "1"), member="ann")
    shop.use("piano", "1", member="ann")
    shop.buy("bob-1", ("piano", "5"), member="bob")
    assert shop.current() == ["ann-1", "bob-1"]
    shop.buy("ann-2", ("piano", "5"), member="ann")
    assert shop.current() == ["bob-1", "ann-2"]
    assert list(shop.retired) == ["ann-1"]


# ------------------------------------------------------------------ property
SERVICES = ("piano", "violin")
MEMBERS = (None, "ann")
quantities = st.decimals(min_value=D("0.5"), max_value=D(5), places=1)
operations = st.lists(st.one_of(
    st.tuples(st.just("buy"), st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2,
                                       unique=True), quantities, st.sampled_from(MEMBERS)),
    st.tuples(st.just("use"), st.sampled_from(SERVICES), quantities,
              st.sampled_from(MEMBERS)),
    st.tuples(st.just("void"), st.integers(min_value=0, max_value=40)),
), max_size=40)
RULES = profile({"id": "two", "type": "package_below", "remaining": "2"},
                {"id": "half", "type": "package_below", "percent": "50"})


@settings(max_examples=150, deadline=None)
@given(operations, st.sampled_from(["account", "member"]))
def test_units_are_conserved_and_each_item_alerts_at_most_once(ops, tracking):
    """Units used across every package (current or retired) plus the unallocated ones
    equal the units charged minus those voided. A package item gets at most one
    package_low per entry and one per rule, ever, and only at or below a level."""
    shop = Shop(RULES, track_packages_by=tracking)
    net = {service: D(0) for service in SERVICES}
    for number, op in enumerate(ops):
        if op[0] == "buy":
            _, services, quantity, member = op
            result = shop.buy(f"p{number}", *[(s, str(quantity)) for s in services],
                              member=member)
        elif op[0] == "use":
            _, service, quantity, member = op
            result = shop.use(service, quantity, member)
            net[service] += quantity
        elif shop.charges:
            charge_id = sorted(shop.charges)[op[1] % len(shop.charges)]
            charge = shop.charges[charge_id]
            result = shop.void(charge_id)
            net[charge.service] -= charge.quantity
        else:
            continue
        items = [n.episode_key for n in result.notices]
        assert len(items) == len(set(items)), "one notice per item and entry"
        for notice in result.notices:
            package_id, service = notice.episode_key.split("/", 1)
            package = shop.state.units.package(package_id) or shop.retired[package_id]
            item = package.item(service)
            assert item.remaining <= max(D(2), item.purchased / 2)
            assert tracking == "account" or package.member_id is not None
    every = shop.state.units.packages + list(shop.retired.values())
    for service in SERVICES:
        used = sum((item.used for p in every for item in p.items if item.service == service),
                   D(0))
        unallocated = sum((q for (_, s), q in shop.state.units.unallocated.items()
                           if s == service), D(0))
        assert used + unallocated == net[service]
    sent = [(n.rule_id, n.episode_key) for n in shop.notices]
    assert len(sent) == len(set(sent)), "one package_low per item and rule, ever"
