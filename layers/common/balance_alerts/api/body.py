"""The strict JSON reader used for every request body (Powertools' ``json_body_deserializer``).

Money must survive the trip exactly, so a JSON number becomes a ``Decimal`` (never a
float) and is refused when it is not a plain exact decimal: exponent forms (``1e5``),
NaN/Infinity and more than 38 significant digits are 422s, as are duplicate keys (which
would silently pick one of two amounts), nesting deeper than a document needs, strings
that are not valid Unicode and bodies over ``MAX_BODY_BYTES``.

Every request body of this API is a JSON object. Anything else - an array, a string, a
number, a boolean, ``null`` - is refused with 400 before any route sees it: Powertools'
request validation would otherwise take the first element of an array as the body
(it reads form fields as lists), so ``[{...}]`` would be recorded as if it were ``{...}``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ..domain.money import MAX_SIGNIFICANT_DIGITS, MoneyError, parse_decimal
from .errors import BadRequest, Unprocessable

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 16


def _number(text: str) -> Decimal:
    return parse_decimal(text, field="a JSON number")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_SIGNIFICANT_DIGITS:
        raise MoneyError(f"a JSON number has more than {MAX_SIGNIFICANT_DIGITS} significant digits")
    return int(text)


def _constant(name: str) -> Any:
    raise MoneyError(f"{name} is not a number this API accepts")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r:.70}")
        result[key] = value
    return result


def _check(value: Any, level: int = 0) -> None:
    """Refuse nesting beyond ``MAX_DEPTH`` and strings that are not valid Unicode (a lone
    surrogate from a ``\\ud800`` escape cannot be stored)."""
    if level > MAX_DEPTH:
        raise Unprocessable(f"the request body nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Unprocessable("the request body holds a string that is not valid Unicode") \
                from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, level + 1)
            _check(item, level + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, level + 1)


def _kind(value: Any) -> str:
    """What a JSON value is, for a message: ``an array``, ``a string``, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


def parse_json_body(text: str) -> dict[str, Any]:
    """Parse a request body into a JSON object. Raise ``Unprocessable`` (422) for JSON
    this API does not accept, ``BadRequest`` (400) for a body that is not an object."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_BODY_BYTES:
        raise Unprocessable(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        value = json.loads(
            text,
            parse_float=_number,
            parse_int=_integer,
            parse_constant=_constant,
            object_pairs_hook=_object,
        )
    except MoneyError as error:
        raise Unprocessable(str(error)) from None
    except json.JSONDecodeError as error:
        raise Unprocessable(
            f"the request body is not valid JSON ({error.msg} at line {error.lineno} "
            f"column {error.colno})"
        ) from None
    except (ValueError, RecursionError) as error:
        raise Unprocessable(f"the request body is not acceptable JSON: {error}") from None
    _check(value)
    if not isinstance(value, dict):
        raise BadRequest(f"the request body must be a JSON object, not {_kind(value)}")
    return value
