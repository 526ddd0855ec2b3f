"""Fixtures of the fault-injection suite, and the count of generated histories it prints
at the end of the session (``make test`` runs a bounded number, ``make test-long`` more:
``BALANCE_ALERTS_HISTORIES`` sets it)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import pytest

from local.faults import Faults, Ledger, fast_moto_serializer
from local.runtime import LocalAws

SENDERS = ("billing@acme.test",)

#: Generated histories run in this session, by test (the session-finish line prints them).
HISTORIES: Counter[str] = Counter()


def histories(default: int) -> int:
    """How many histories a property test generates: ``default`` in ``make test``,
    ``BALANCE_ALERTS_HISTORIES`` when set (``make test-long``)."""
    value = os.environ.get("BALANCE_ALERTS_HISTORIES", "").strip()
    return int(value) if value else default


def pytest_terminal_summary(terminalreporter) -> None:
    if HISTORIES:
        parts = ", ".join(f"{name} {count}" for name, count in sorted(HISTORIES.items()))
        terminalreporter.write_line(
            f"fault-injection: {sum(HISTORIES.values())} generated histories ran ({parts})")


class Harness:
    """A LocalAws with fault rules and a record of what the services really did."""

    def __init__(self, aws: LocalAws, faults: Faults, ledger: Ledger) -> None:
        self.aws, self.faults, self.ledger = aws, faults, ledger

    def settle(self) -> list:
        """The faults stop, every stream is delivered to the end, and what went to an
        on-failure queue meanwhile is replayed with the operator tool (as the runbook
        says), then delivered too. Returns the replay results."""
        from ops.replay import replay_queue
        from ops.stack import Stack

        self.faults.stop()
        self.aws.pump()
        results = []
        if any(self.aws.failed_batches(f) for f in ("OnUsageFunction", "SendNoticeFunction")):
            stack = Stack.local(invoke=self.aws.invoke)
            for queue in ("on-usage", "send-notice"):
                results += replay_queue(stack, queue)
            assert all(result.ok and result.deleted for result in results), results
            self.aws.pump()
        return results


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "local_aws(**options): options of the harness's LocalAws (batch_size...)")


@dataclass
class Env:
    """One LocalAws for every generated history of a module (tables emptied in between)."""

    aws: LocalAws
    faults: Faults
    ledger: Ledger
    stack: Any = None  # the operator tools' view of it (ops.stack.Stack)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    from balance_alerts.adapters import settings
    from balance_alerts.observability import logger

    from ops.stack import Stack

    level = logger.log_level
    with fast_moto_serializer(), \
            LocalAws(verified_senders=SENDERS, log_level="CRITICAL") as aws, \
            Faults(aws) as faults:
        saved = os.environ.get("WATCH_SHARDS")
        os.environ["WATCH_SHARDS"] = "1"  # a valid deployment; one watch query per scan
        settings.reset_cache()  # read at cold start: the containers from now on see it
        logger.setLevel("CRITICAL")
        ledger = Ledger()
        faults.observe(ledger)
        try:
            yield Env(aws, faults, ledger, Stack.local(invoke=aws.invoke))
        finally:
            logger.setLevel(level)
            os.environ["WATCH_SHARDS"] = saved or "8"
            settings.reset_cache()


@pytest.fixture
def harness(request) -> Iterator[Harness]:
    """A LocalAws (options from a ``local_aws`` marker) with fault rules and a ledger of
    what the services did; moto's responses serialized the fast way unless ``fast=False``."""
    marker = request.node.get_closest_marker("local_aws")
    options = {"seed": 1, **(marker.kwargs if marker else {})}
    fast = options.pop("fast", True)
    with fast_moto_serializer() if fast else nullcontext(), \
            LocalAws(verified_senders=SENDERS, log_level="CRITICAL", **options) as aws, \
            Faults(aws, seed=options["seed"]) as faults:
        ledger = Ledger()
        faults.observe(ledger)
        yield Harness(aws, faults, ledger)
