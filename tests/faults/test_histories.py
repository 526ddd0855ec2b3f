"""Random histories under random faults, against the reference model (tests/faults/model.py).

Each generated history opens a few accounts (active, post-paid, suspended), writes random
entries (charges, credits, refunds, adjustments, voids) and poison records, delivers the
streams under a random fault plan (redelivery, random batch cuts, a crash after the
account write, a lost response, an SDK re-send, throttling, a second invocation or an
admin edit or a scan between read and write; SES throttling, rejection, a crash after SES
accepted, a lost status update, EventBridge throttling) and fires the schedule (twice,
concurrently, late). Then the faults stop, the streams drain, failed notices are
re-driven with the operator tool, and:

- every balance equals the model's exact Decimal sum;
- the notices are exactly the ones the model says are due (none missing, none extra),
  and each was created once (every creation the service executed is counted);
- no notice is left pending, each was published for its final status;
- every email SES accepted is recorded on its notice, except one per crash between SES
  accepting and the notice being marked (the duplicate DESIGN.md tolerates);
- every poison record carries its reason.

One LocalAws serves every history (tables emptied in between); ``make test`` runs a
bounded number, ``make test-long`` more (BALANCE_ALERTS_HISTORIES).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from local.faults import fire_schedule, fire_schedule_concurrently, reset_tables
from tests import builders as given

from .conftest import HISTORIES, Env, histories
from .test_poison_records import POISON
from .world import ELIGIBILITY, PROFILE, TENANT, World

ACCOUNTS = "AccountsTable"
HISTORY_COUNT = histories(250)

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("60"), places=2) | \
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5"), places=3)
entries = st.tuples(st.sampled_from(["charge", "charge", "credit", "refund", "adjustment"]),
                    amounts, st.booleans())
USAGE_FAULTS = [None, "crash_after_write", "lose_response", "send_twice", "throttle",
                "second_invocation", "admin_edit", "scan_between"]
NOTICE_FAULTS = [None, "ses_throttle", "ses_reject", "ses_crash_after", "lost_status_update",
                 "events_throttle"]


class Histories(RuleBasedStateMachine):
    env: ClassVar[Env]

    def __init__(self) -> None:
        super().__init__()
        env = self.env
        reset_tables(env.aws)
        env.faults.clear()
        env.ledger.clear()
        env.aws.redeliver = env.aws.split_batches = False
        self.world = World(env.aws, env.ledger)
        self.kinds: dict[str, str] = {}
        self.poisoned = 0
        HISTORIES["random histories"] += 1

    # ------------------------------------------------------------------ given
    @initialize(kinds=st.lists(st.sampled_from(["active", "active", "active", "postpaid",
                                                "suspended"]), min_size=1, max_size=3),
                seed=st.integers(0, 2**32 - 1))
    def open_accounts(self, kinds: list[str], seed: int) -> None:
        self.env.aws.random.seed(seed)
        self.env.faults.random.seed(seed)
        for number, kind in enumerate(kinds):
            self.world.open_account(f"a{number}", kind)
            self.kinds[f"a{number}"] = kind

    def _account(self, index: int) -> str:
        return sorted(self.world.accounts)[index % len(self.world.accounts)]

    @rule(index=st.integers(0, 2), batch=st.lists(entries, min_size=1, max_size=4))
    def write_entries(self, index: int, batch: list[tuple[str, Decimal, bool]]) -> None:
        account_id = self._account(index)
        for kind, amount, negative in batch:
            if kind == "adjustment" and negative:
                amount = -amount
            self.world.write(account_id, kind, amount)

    @rule(index=st.integers(0, 2), pick=st.integers(0, 20))
    def write_void(self, index: int, pick: int) -> None:
        self.world.void(self._account(index), pick)

    @rule(index=st.integers(0, 2), case=st.sampled_from(POISON))
    def write_poison(self, index: int, case: tuple[str, dict[str, Any], str]) -> None:
        name, item, _ = case
        self.poisoned += 1
        item = dict(item, entry_id={"S": f"poison{self.poisoned}-{name}"})
        if item["account_key"]["S"].startswith("t1#a"):  # aim it at one of the accounts
            account_id = self._account(index)
            item["account_key"] = {"S": f"{TENANT}#{account_id}"}
            if "account_id" in item:
                item["account_id"] = {"S": account_id}
        self.world.write_raw(item)

    # ------------------------------------------------------------------ when
    @rule(redeliver=st.booleans(), split=st.booleans(),
          usage_fault=st.sampled_from(USAGE_FAULTS), notice_fault=st.sampled_from(NOTICE_FAULTS),
          hours=st.sampled_from([0, 6, 25]))
    def deliver(self, redeliver: bool, split: bool, usage_fault: str | None,
                notice_fault: str | None, hours: int) -> None:
        aws, faults = self.env.aws, self.env.faults
        aws.redeliver, aws.split_batches = redeliver, split
        scan_at = self.world.clock + timedelta(hours=hours)
        self._usage_fault(usage_fault, scan_at)
        self._notice_fault(notice_fault)
        interleaved = faults.count("interleave")
        aws.pump()
        if usage_fault == "scan_between" and faults.count("interleave") > interleaved:
            self.world.clock = scan_at
            self.world.scanned(scan_at)
        self.world.delivered()
        faults.rules.clear()  # this plan's faults end with its delivery
        aws.hooks.pop("OnUsageFunction", None)
        aws.redeliver = aws.split_batches = False

    def _usage_fault(self, fault: str | None, scan_at: Any) -> None:
        aws, faults = self.env.aws, self.env.faults
        write = ("UpdateItem", "TransactWriteItems")

        def account_write(call: Any) -> bool:
            return call.touches(ACCOUNTS)

        usage = {"function": "OnUsageFunction"}
        if fault == "crash_after_write":
            faults.crash_after("dynamodb", write, when=account_write, times=1, **usage)
        elif fault == "lose_response":
            faults.lose_response("dynamodb", write, when=account_write, times=2, **usage)
        elif fault == "send_twice":
            faults.send_twice("dynamodb", write, when=account_write, times=2, **usage)
        elif fault == "throttle":
            faults.throttle("dynamodb", (), probability=0.2, times=4, **usage)
        elif fault == "second_invocation":
            batch: dict[str, Any] = {}
            aws.hooks["OnUsageFunction"] = lambda event: batch.setdefault("event", event)
            faults.interleave("dynamodb", "BatchGetItem",
                              lambda: aws.invoke("OnUsageFunction", batch["event"]), **usage)
        elif fault == "admin_edit":
            seen: dict[str, Any] = {}

            def edit() -> None:
                account_id = min(seen["call"].accounts()).split("#", 1)[1]
                kind = ELIGIBILITY[self.kinds[account_id]]
                response = aws.api("PUT", f"/accounts/{account_id}", tenant=TENANT, body={
                    "name": f"Customer {account_id}", "email": f"{account_id}@customer.test",
                    **kind})
                assert response.status == 200, response.body
                self.world.accounts[account_id].evaluate_at_scan = True

            faults.interleave("dynamodb", ("BatchGetItem", "GetItem"), edit, times=2,
                              when=lambda call: call.touches(ACCOUNTS)
                              and bool(seen.update(call=call) or True), **usage)
        elif fault == "scan_between":
            faults.interleave("dynamodb", "BatchGetItem", lambda: aws.scan(scan_at), **usage)

    def _notice_fault(self, fault: str | None) -> None:
        faults = self.env.faults
        if fault == "ses_throttle":
            faults.throttle("sesv2", "SendEmail", probability=0.4, times=6)
        elif fault == "ses_reject":
            faults.fail("sesv2", "SendEmail", "MessageRejected", times=1,
                        message="Email address is not verified.")
        elif fault == "ses_crash_after":
            faults.crash_after("sesv2", "SendEmail", times=1)
        elif fault == "lost_status_update":
            faults.lose_response("dynamodb", "UpdateItem", function="SendNoticeFunction",
                                 times=1)
        elif fault == "events_throttle":
            faults.throttle("events", "PutEvents", times=2)

    @rule(hours=st.sampled_from([0, 6, 24, 25, 48, 24 * 7]),
          mode=st.sampled_from(["once", "twice", "concurrently"]))
    def fire_schedule(self, hours: int, mode: str) -> None:
        aws, faults = self.env.aws, self.env.faults
        at = self.world.clock + timedelta(hours=hours)
        if mode == "concurrently":
            reports = fire_schedule_concurrently(aws, faults, at)
            faults.rules.clear()
        else:
            reports = fire_schedule(aws, at, times=2 if mode == "twice" else 1)
        while any(report["errors"] for report in reports):  # a scan that lost a race
            reports = fire_schedule(aws, at)  # is caught up by the next firing
        self.world.clock = at
        self.world.scanned(at)

    # ------------------------------------------------------------------ then
    def teardown(self) -> None:
        from ops.redrive import find, redrive
        from ops.replay import replay_queue

        env = self.env
        env.faults.stop()
        env.aws.pump()
        self.world.delivered()
        assert env.aws.failed_batches("OnUsageFunction") == [], "no ledger batch is dropped"
        if env.aws.failed_batches("SendNoticeFunction"):
            assert all(r.ok for r in replay_queue(env.stack, "send-notice"))
        if env.faults.count("fail:MessageRejected"):  # the one way a notice ends failed
            failed = find(env.stack, TENANT)
            assert all(r.after == "sent" for r in redrive(env.stack, failed))
            env.aws.pump()
        self.world.check(tolerated_duplicates=env.faults.count("crash_after", "sesv2"))


def test_random_histories_under_faults_keep_every_promise(env):
    given.tenant(TENANT, profile=PROFILE)
    Histories.env = env
    run_state_machine_as_test(Histories, settings=settings(
        max_examples=HISTORY_COUNT, stateful_step_count=8, deadline=None,
        suppress_health_check=list(HealthCheck)))
