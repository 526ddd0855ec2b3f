"""Decimal parsing and checks shared by the API and the stream consumer.

Money and quantities travel as decimal strings; a value is refused when it is not a
finite decimal, has more than 38 significant digits (DynamoDB's limit), or uses an
exponent form.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_SIGNIFICANT_DIGITS = 38
_PLAIN_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class MoneyError(ValueError):
    """A value that cannot be a money amount or quantity."""


def parse_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Parse a decimal string (or an exact int/Decimal) strictly.

    Floats are refused: a float cannot be trusted to be the decimal the client meant.
    """
    if isinstance(value, bool):
        raise MoneyError(f"{field} must be a decimal string, not a boolean")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError(f"{field} must be a finite number")
        text = format(value, "f")
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise MoneyError(f"{field} must be a decimal string such as \"12.50\"")
    if not _PLAIN_DECIMAL.match(text):
        raise MoneyError(f"{field} must be a plain decimal such as \"12.50\" (got {value!r:.40})")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise MoneyError(f"{field} is not a decimal number") from exc
    digits = len(number.as_tuple().digits)
    if digits > MAX_SIGNIFICANT_DIGITS:
        raise MoneyError(f"{field} has more than {MAX_SIGNIFICANT_DIGITS} significant digits")
    return number


def to_str(value: Decimal) -> str:
    """Render a Decimal for JSON responses: plain notation, never an exponent."""
    exponent = value.as_tuple().exponent
    if value == value.to_integral_value() and isinstance(exponent, int) and exponent > 0:
        value = value.quantize(Decimal(1))
    return format(value, "f")
