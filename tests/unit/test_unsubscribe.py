"""The tenant's ``unsubscribe`` setting: validated by the API, turned into the
``List-Unsubscribe`` header by delivery, never able to break out of the header."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from balance_alerts.adapters.channels.email import list_unsubscribe, suppressed_reason
from balance_alerts.api.schemas import SettingsIn

GOOD = [
    "mailto:unsubscribe@acme.test",
    "mailto:billing@acme.test?subject=unsubscribe",
    "https://acme.test/email-preferences",
    "https://acme.test/u?list=alerts&id=42",
]
BAD = [
    "https://acme.test/u\r\nBcc: victim@example.test",
    "https://acme.test/u\nX: y",
    "https://acme.test/u>, <mailto:x@evil.test",
    "https://acme.test/a b",
    'https://acme.test/"x"',
    "http://acme.test/unsubscribe",
    "javascript:alert(1)",
    "mailto:",
    "mailto:not-an-address",
    "https://",
    "acme.test/unsubscribe",
    "https://acme.test/" + "x" * 500,
]


@pytest.mark.parametrize("value", GOOD)
def test_a_mailto_address_or_an_https_url_is_accepted(value):
    assert SettingsIn(unsubscribe=value).unsubscribe == value
    assert list_unsubscribe({"unsubscribe": value}) == f"<{value}>"


@pytest.mark.parametrize("value", BAD)
def test_anything_else_is_refused_by_the_api(value):
    with pytest.raises(ValidationError, match="mailto: address or an https:// URL"):
        SettingsIn(unsubscribe=value)


@pytest.mark.parametrize("value", BAD)
def test_delivery_never_puts_a_bad_value_in_a_header(value):
    # A value stored before validation existed, or written around the API
    header = list_unsubscribe({"unsubscribe": value})

    assert header is None or ("\r" not in header and "\n" not in header
                              and header.count("<") == 1 and header.count(">") == 1)


def test_no_setting_no_header():
    assert list_unsubscribe({}) is None
    assert list_unsubscribe({"unsubscribe": None}) is None
    assert list_unsubscribe({"unsubscribe": "  "}) is None


def test_suppression_reasons_name_no_address():
    assert suppressed_reason(["BOUNCE"], total=1) == (
        "recipient on the SES suppression list (BOUNCE)")
    assert suppressed_reason(["BOUNCE", "COMPLAINT"], total=2) == (
        "2 recipients on the SES suppression list (BOUNCE, COMPLAINT)")
    assert suppressed_reason(["BOUNCE"], total=3) == (
        "1 of 3 recipients on the SES suppression list (BOUNCE)")
