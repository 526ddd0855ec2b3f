"""Section 6: render and send, per notice, through the SendNoticeFunction handler on moto
(SES v2 and EventBridge included), first notice of a container against warm ones.

Each round starts as a new container would after its imports (``reset_warm_state``:
no compiled template, no cached tenant config), sends one notice (the first: loads
the config and compiles the templates it uses), then a batch of 25 more (warm: the
stream mapping's batch size). Every notice is a ``balance_low`` to the customer and the
staff, so two emails each. Also timed alone: ``template_store.render`` cold (compiling)
and warm, per email.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from .workload import Sequence, item_record, local_aws, measured, median

ROUNDS = 3
WARM_BATCH = 25
RENDERS = 50
TENANT = "t-notices"
SENDER = "billing@acme.test"
SERVICES = ("dynamodb", "sesv2", "events")


def _seed(accounts: int) -> None:
    from balance_alerts.adapters import config_store
    from balance_alerts.adapters.tables import AccountItem, account_key

    config_store.put_doc(TENANT, "settings", {
        "name": "Acme Energy", "from_email": SENDER, "staff_emails": ["ops@acme.test"],
        "default_currency": "USD", "default_profile_id": "standard"})
    for number in range(accounts):
        account_id = f"n{number:03d}"
        AccountItem(TENANT, account_id, account_key=account_key(TENANT, account_id),
                    created_at="2026-11-01T00:00:00+00:00", name=f"Customer {number}",
                    email=f"{account_id}@customer.test").save()


def _notices(numbers: range, sequence: Sequence) -> dict[str, Any]:
    from balance_alerts.adapters.tables import NoticeItem, account_key

    created = datetime.now(timezone.utc).isoformat()
    records = []
    for number in numbers:
        account_id = f"n{number:03d}"
        notice = NoticeItem(
            account_key(TENANT, account_id), "low#1#20.00#0",
            created_seq=f"{created}#low#1#20.00#0", tenant_id=TENANT, account_id=account_id,
            type="balance_low", rule_id="low", level="20.00", episode=1, reminder=0,
            audiences=["customer", "staff"], status="pending", created_at=created,
            variables={"balance": "12.50", "threshold": "20.00", "currency": "USD",
                       "rule": {"cc_emails": [], "staff_emails": []}},
            entry_id=f"e{number}", attempts=0)
        notice.save()
        records.append(item_record(notice, "NoticesTable", sequence.next()))
    return {"Records": records}


def _send(aws: Any, event: dict[str, Any]) -> dict[str, Any]:
    with measured(*SERVICES) as run:
        response = aws.invoke("SendNoticeFunction", event)
    if (response or {}).get("batchItemFailures"):
        raise RuntimeError(f"send_notice reported failures: {response}")
    count = len(event["Records"])
    return {
        "notices": count,
        "handler_ms_per_notice": 1000 * run.clock.handler_wall / count,
        "handler_cpu_ms_per_notice": 1000 * run.clock.handler_cpu / count,
        "requests_per_notice": {service: run.requests(service) / count for service in SERVICES},
        "calls": {service: run.calls(service) for service in SERVICES},
    }


def _render_timings() -> dict[str, Any]:
    from balance_alerts.adapters import rendering, template_store
    from balance_alerts.adapters.preview import sample_variables

    variables = sample_variables("balance_low")
    cold, warm = [], []
    for _ in range(ROUNDS):
        rendering.reset_cache()
        template_store.reset_cache()
        started = time.perf_counter()
        template_store.render("balance_low", "customer", variables)
        cold.append(time.perf_counter() - started)
        for _ in range(RENDERS):
            started = time.perf_counter()
            template_store.render("balance_low", "customer", variables)
            warm.append(time.perf_counter() - started)
    return {
        "first_render_ms": 1000 * median(cold),
        "warm_render_ms": 1000 * median(warm),
        "ratio": median(cold) / median(warm),
    }


def run() -> dict[str, Any]:
    from local.runtime import reset_warm_state

    rounds = []
    with local_aws(verified_senders=(SENDER,)) as aws:
        _seed(ROUNDS * (1 + WARM_BATCH))
        sequence = Sequence()
        aws.handler("SendNoticeFunction")  # imported, as in a container past its init
        for number in range(ROUNDS):
            base = number * (1 + WARM_BATCH)
            first_event = _notices(range(base, base + 1), sequence)
            warm_event = _notices(range(base + 1, base + 1 + WARM_BATCH), sequence)
            reset_warm_state()
            rounds.append({"first": _send(aws, first_event), "warm": _send(aws, warm_event)})
        sent = len(aws.sent_emails())
    expected_emails = 2 * ROUNDS * (1 + WARM_BATCH)
    assert sent == expected_emails, f"SES accepted {sent} emails, expected {expected_emails}"

    def summary(which: str) -> dict[str, Any]:
        runs = [entry[which] for entry in rounds]
        return {
            "handler_ms_per_notice": median([r["handler_ms_per_notice"] for r in runs]),
            "handler_cpu_ms_per_notice": median([r["handler_cpu_ms_per_notice"] for r in runs]),
            "requests_per_notice": runs[-1]["requests_per_notice"],
            "calls": runs[-1]["calls"],
            "notices_per_run": runs[-1]["notices"],
        }

    first, warm = summary("first"), summary("warm")
    return {
        "rounds": ROUNDS,
        "emails_per_notice": 2,
        "first": first,
        "warm": warm,
        "first_to_warm_ratio": first["handler_ms_per_notice"] / warm["handler_ms_per_notice"],
        "render_only": _render_timings(),
    }
