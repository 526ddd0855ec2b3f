"""Spend statistics kept on the account item, so the scan never reads the ledger:
charges per UTC day for the last 14 days, and the time of the first charge ever.

Sums are taken to 38 significant digits, what a DynamoDB number holds (Python's default
context would round at 28): exact for any amount the ledger accepts, and always
storable."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Context, Decimal

WINDOW_DAYS = 14
_SUMS = Context(prec=38)


def record_charge(spend: dict[str, Decimal], moment: datetime, amount: Decimal) -> None:
    """Add a charge's money to its day (top-ups are not negative spend)."""
    day = moment.date().isoformat()
    spend[day] = _SUMS.add(spend.get(day, Decimal(0)), amount)


def reverse_charge(spend: dict[str, Decimal], moment: datetime, amount: Decimal) -> None:
    """A voided charge is taken back out of the spend, newest day first, never below 0."""
    remaining = amount
    for day in sorted(spend, reverse=True):
        if remaining <= 0:
            break
        taken = min(spend[day], remaining)
        spend[day] = _SUMS.subtract(spend[day], taken)
        remaining = _SUMS.subtract(remaining, taken)
    for day in [d for d, value in spend.items() if value <= 0]:
        del spend[day]


def prune(spend: dict[str, Decimal], today: date) -> dict[str, Decimal]:
    horizon = (today - timedelta(days=WINDOW_DAYS)).isoformat()
    return {day: value for day, value in spend.items() if day > horizon}


def window_spend(spend: dict[str, Decimal], as_of: datetime) -> Decimal:
    """Charges in the 14 days up to and including ``as_of``'s day."""
    today = as_of.date()
    start = (today - timedelta(days=WINDOW_DAYS - 1)).isoformat()
    end = today.isoformat()
    total = Decimal(0)
    for day, value in spend.items():
        if start <= day <= end:
            total = _SUMS.add(total, value)
    return total
