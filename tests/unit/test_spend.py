"""Spend statistics (what runs_out forecasts from) add money exactly, as balances do."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from balance_alerts.domain import spend

DAY = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
# 30 significant digits: Python's default context would round this sum at 28.
AMOUNT = Decimal("12345678901234567890123456.7891")


def test_a_days_charges_add_up_exactly_beyond_28_digits():
    stats: dict[str, Decimal] = {}
    spend.record_charge(stats, DAY, AMOUNT)
    spend.record_charge(stats, DAY, Decimal("0.0001"))
    assert stats == {"2026-11-30": Decimal("12345678901234567890123456.7892")}
    assert spend.window_spend(stats, DAY) == Decimal("12345678901234567890123456.7892")


def test_a_voided_charge_comes_back_out_exactly():
    stats: dict[str, Decimal] = {}
    spend.record_charge(stats, DAY, AMOUNT)
    spend.record_charge(stats, DAY, Decimal("1.0001"))
    spend.reverse_charge(stats, DAY, Decimal("1.0001"))
    assert stats == {"2026-11-30": AMOUNT}
