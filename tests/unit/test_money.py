"""Decimal parsing at the edges: what the API and the stream consumer accept."""

from decimal import Decimal

import pytest

from balance_alerts.domain.money import MoneyError, parse_decimal, to_str


@pytest.mark.parametrize("text, expected", [
    ("12.50", Decimal("12.50")), ("0", Decimal(0)), ("-3.1", Decimal("-3.1")),
    (7, Decimal(7)), ("1" * 38, Decimal("1" * 38)), (Decimal("0.1"), Decimal("0.1")),
])
def test_accepts_plain_decimals(text, expected):
    assert parse_decimal(text) == expected


@pytest.mark.parametrize("bad", [
    "NaN", "Infinity", "-inf", "1e5", "1E-2", "", "12,50", "abc", "1" * 39, 1.5, True, None,
    [], Decimal("NaN"),
])
def test_refuses_everything_else_with_a_message(bad):
    with pytest.raises(MoneyError) as error:
        parse_decimal(bad)
    assert "amount" in str(error.value)


def test_renders_without_exponent():
    assert to_str(Decimal("1E+3")) == "1000"
    assert to_str(Decimal("0.10")) == "0.10"
