"""Random histories of packages and unit charges under stream faults: every package
item's remaining, and the unallocated units, equal a Decimal model of the contract
(CONTRACT.md §2: units come from the account's packages for the service - only the
member's when the charge names one - oldest purchase first, spanning packages; a
shortfall overdraws the newest such package; no package: the units are unallocated; a
void gives the units back to the packages they came from, a used-up package that left
the account item included), and each package item's ``package_below`` notice exists iff
the model says it is due, created exactly once (CONTRACT.md §3: once per package item,
ever; units given back by a void do not re-arm it).

The accounts' class disables ``package_low``, so the notices are recorded as
``suppressed`` and no email is rendered: delivery under faults is test_histories.py's."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from balance_alerts.adapters import config_store
from local.faults import reset_tables
from tests import builders as given

from .conftest import HISTORIES, Env, histories

TENANT = "t1"
LEVEL = Decimal(1)
PROFILE = {"name": "Packages", "rules": [
    {"id": "low", "type": "package_below", "remaining": format(LEVEL, "f")}]}
SERVICES = ("piano", "violin")
MEMBERS = (None, "kid1", "kid2")
HISTORY_COUNT = histories(50)
ACCOUNTS = "AccountsTable"

quantities = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("12"), places=1)


@dataclass
class PackageModel:
    package_id: str
    member_id: str | None
    purchased: dict[str, Decimal]
    used: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class Charge:
    """A unit charge as the model applied it: where its units went (for its void)."""

    service: str
    quantity: Decimal
    member_id: str | None
    parts: dict[str, Decimal] = field(default_factory=dict)  # package id -> units
    unallocated: Decimal = Decimal(0)
    voided: bool = False


@dataclass
class UnitsModel:
    packages: list[PackageModel] = field(default_factory=list)
    unallocated: dict[tuple[str | None, str], Decimal] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    #: package items that were at or below LEVEL after some entry: their notice is due
    alerted: set[tuple[str, str]] = field(default_factory=set)

    def buy(self, package: PackageModel) -> None:
        self.packages.append(package)
        self._after_entry()

    def use(self, charge_id: str, service: str, quantity: Decimal,
            member_id: str | None) -> None:
        charge = self.charges[charge_id] = Charge(service, quantity, member_id)
        sources = [p for p in self.packages if service in p.purchased
                   and (member_id is None or p.member_id == member_id)]
        with localcontext() as exact:
            exact.prec = 100
            if not sources:
                key = (member_id, service)
                self.unallocated[key] = self.unallocated.get(key, Decimal(0)) + quantity
                charge.unallocated = quantity
                self._after_entry()
                return
            left = quantity
            for package in sources:
                free = package.purchased[service] - package.used.get(service, Decimal(0))
                take = min(max(free, Decimal(0)), left)
                if take > 0:
                    self._take(charge, package, take)
                    left -= take
            if left > 0:
                self._take(charge, sources[-1], left)
        self._after_entry()

    def void(self, charge_id: str) -> None:
        """The units go back to the packages they came from (CONTRACT.md §2, void)."""
        charge = self.charges[charge_id]
        charge.voided = True
        with localcontext() as exact:
            exact.prec = 100
            for package in self.packages:
                back = charge.parts.get(package.package_id, Decimal(0))
                package.used[charge.service] = package.used.get(charge.service, 0) - back
            key = (charge.member_id, charge.service)
            owed = self.unallocated.get(key, Decimal(0)) - charge.unallocated
            if owed > 0:
                self.unallocated[key] = owed
            else:
                self.unallocated.pop(key, None)
        self._after_entry()

    @staticmethod
    def _take(charge: Charge, package: PackageModel, units: Decimal) -> None:
        package.used[charge.service] = package.used.get(charge.service, Decimal(0)) + units
        charge.parts[package.package_id] = charge.parts.get(package.package_id, 0) + units

    def _after_entry(self) -> None:
        """Once per package item, ever: units given back by a void do not re-arm it."""
        for package in self.packages:
            for service, purchased in package.purchased.items():
                if purchased - package.used.get(service, Decimal(0)) <= LEVEL:
                    self.alerted.add((package.package_id, service))


class PackageHistories(RuleBasedStateMachine):
    env: ClassVar[Env]

    def __init__(self) -> None:
        super().__init__()
        reset_tables(self.env.aws)
        self.env.faults.clear()
        self.env.ledger.clear()
        self.env.aws.redeliver = self.env.aws.split_batches = False
        self.models: dict[str, UnitsModel] = {}
        self.bought = self.charged = self.voids = 0
        HISTORIES["package histories"] += 1

    @initialize(accounts=st.integers(1, 2), seed=st.integers(0, 2**32 - 1))
    def open_accounts(self, accounts: int, seed: int) -> None:
        self.env.aws.random.seed(seed)
        self.env.faults.random.seed(seed)
        for number in range(accounts):
            given.account(TENANT, f"a{number}", customer_class="quiet")
            self.models[f"a{number}"] = UnitsModel()

    def _account(self, index: int) -> str:
        return sorted(self.models)[index % len(self.models)]

    @rule(index=st.integers(0, 1), member=st.sampled_from(MEMBERS),
          items=st.dictionaries(st.sampled_from(SERVICES), quantities, min_size=1, max_size=2))
    def buy(self, index: int, member: str | None, items: dict[str, Decimal]) -> None:
        account_id = self._account(index)
        self.bought += 1
        package_id = f"p{self.bought}"
        body: dict[str, Any] = {
            "package_id": package_id, "name": f"Pack {self.bought}",
            "items": [{"service": s, "quantity": format(q, "f"), "unit_price": "2.50"}
                      for s, q in items.items()]}
        if member:
            body["member_id"] = member
        response = self.env.aws.api("POST", f"/accounts/{account_id}/packages", tenant=TENANT,
                                    body=body)
        assert response.status == 202, response.body
        self.models[account_id].buy(PackageModel(package_id, member, dict(items)))

    @rule(index=st.integers(0, 1), service=st.sampled_from(SERVICES + ("drums",)),
          quantity=quantities, member=st.sampled_from(MEMBERS))
    def use(self, index: int, service: str, quantity: Decimal, member: str | None) -> None:
        account_id = self._account(index)
        self.charged += 1
        fields = {"service": service, "quantity": quantity}
        if member:
            fields["member_id"] = member
        given.entry(f"u{self.charged}", "charge", None, tenant_id=TENANT,
                    account_id=account_id, **fields)
        self.models[account_id].use(f"u{self.charged}", service, quantity, member)

    @rule(index=st.integers(0, 1), pick=st.integers(0, 20))
    def void(self, index: int, pick: int) -> None:
        """A void of an earlier unit charge, as the API records it (the charge's
        service, quantity and member copied; no money to reverse)."""
        account_id = self._account(index)
        model = self.models[account_id]
        open_charges = [cid for cid, charge in model.charges.items() if not charge.voided]
        if not open_charges:
            return
        charge_id = open_charges[pick % len(open_charges)]
        charge = model.charges[charge_id]
        self.voids += 1
        given.entry(f"v{self.voids}", "void", None, tenant_id=TENANT, account_id=account_id,
                    voids=charge_id, void_delta=Decimal(0), voided_kind="charge",
                    service=charge.service, quantity=charge.quantity,
                    member_id=charge.member_id)
        model.void(charge_id)

    @rule(redeliver=st.booleans(), split=st.booleans(),
          fault=st.sampled_from([None, "crash_after_write", "lose_response",
                                 "second_invocation"]))
    def deliver(self, redeliver: bool, split: bool, fault: str | None) -> None:
        aws, faults = self.env.aws, self.env.faults
        aws.redeliver, aws.split_batches = redeliver, split
        write = ("UpdateItem", "TransactWriteItems")
        usage = {"function": "OnUsageFunction", "when": lambda call: call.touches(ACCOUNTS)}
        if fault == "crash_after_write":
            faults.crash_after("dynamodb", write, times=1, **usage)
        elif fault == "lose_response":
            faults.lose_response("dynamodb", write, times=2, **usage)
        elif fault == "second_invocation":
            batch: dict[str, Any] = {}
            aws.hooks["OnUsageFunction"] = lambda event: batch.setdefault("event", event)
            faults.interleave("dynamodb", "BatchGetItem",
                              lambda: aws.invoke("OnUsageFunction", batch["event"]),
                              function="OnUsageFunction")
        aws.pump()
        faults.rules.clear()
        aws.hooks.pop("OnUsageFunction", None)
        aws.redeliver = aws.split_batches = False

    def teardown(self) -> None:
        aws = self.env.aws
        self.env.faults.stop()
        aws.pump()
        assert aws.failed_batches("OnUsageFunction") == []
        for account_id, model in self.models.items():
            body = aws.api("GET", f"/accounts/{account_id}/packages", tenant=TENANT,
                           query={"limit": "100"}).body
            assert all(p["status"] != "pending" for p in body["packages"]), body
            got = {(p["package_id"], i["service"]): Decimal(i["remaining"])
                   for p in body["packages"] for i in p["items"]}
            want = {(p.package_id, service): purchased - p.used.get(service, Decimal(0))
                    for p in model.packages for service, purchased in p.purchased.items()}
            assert got == want, account_id
            unallocated = {(row["member_id"], row["service"]): Decimal(row["quantity"])
                           for row in body["unallocated"]}
            assert unallocated == model.unallocated, account_id
            assert given.balance(TENANT, account_id) == 0  # units never move money
            due = {f"low#{package_id}/{service}#{LEVEL}#0"
                   for package_id, service in model.alerted}
            notices = given.notices(TENANT, account_id)
            assert sorted(n.notice_key for n in notices) == sorted(due), account_id
            assert {n.status for n in notices} <= {"suppressed"}
        for key, times in self.env.ledger.created.items():
            assert times == 1, f"notice {key} was created {times} times"


def test_random_package_histories_under_faults_keep_remainders_exact_and_alert_once(env):
    given.tenant(TENANT, profile=PROFILE)
    config_store.put_doc(TENANT, "class#quiet", {"name": "Quiet", "enabled": []})
    PackageHistories.env = env
    run_state_machine_as_test(PackageHistories, settings=settings(
        max_examples=HISTORY_COUNT, stateful_step_count=10, deadline=None,
        suppress_health_check=list(HealthCheck)))
