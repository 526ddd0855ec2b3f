"""No personal data in the logs: representative API calls, the streams (on_usage,
send_notice, with a sent and a failed email), the scan and an unexpected error, with
every log record captured at DEBUG - no e-mail address and no customer name appears."""

from __future__ import annotations

import io
import re
from contextlib import contextmanager

import pytest

CUSTOMER_NAME = "Ana Souza"
ADDRESSES = ["ana@customer.test", "ana.billing@customer.test", "cc-person@acme.test",
             "ops@acme.test", "billing@acme.test", "sender@unverified.test"]
ANY_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@contextmanager
def captured_logs():
    """Everything the functions' Logger writes, at every level."""
    from balance_alerts.observability import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    stream, level = handler.setStream(buffer), logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield buffer
    finally:
        handler.setStream(stream)
        logger.setLevel(level)


def test_no_email_address_or_name_reaches_the_logs(aws, monkeypatch):
    with captured_logs() as logs:
        # Given a tenant whose settings, profile and account hold addresses and a name
        aws.api("PUT", "/settings", body={
            "name": "Acme Energy", "from_email": "billing@acme.test",
            "staff_emails": ["ops@acme.test"], "default_profile_id": "standard"})
        aws.api("PUT", "/profiles/standard", body={"name": "Standard", "rules": [
            {"id": "low", "type": "balance_below", "threshold": "20.00",
             "notify": ["customer", "staff"], "cc_emails": ["cc-person@acme.test"]}]})
        aws.api("PUT", "/accounts/a1", body={
            "name": CUSTOMER_NAME, "email": "ana@customer.test",
            "extra_emails": ["ana.billing@customer.test"]})
        # and a tenant whose sender SES refuses (the notice fails, with SES's reason)
        aws.api("PUT", "/settings", tenant="t2", body={
            "from_email": "sender@unverified.test", "default_profile_id": "standard"})
        aws.api("PUT", "/profiles/standard", tenant="t2", body={"rules": [
            {"id": "low", "type": "balance_below", "threshold": "20.00"}]})
        aws.api("PUT", "/accounts/a1", tenant="t2", body={
            "name": CUSTOMER_NAME, "email": "ana@customer.test"})
        # When entries take both balances below the threshold, with addresses in texts
        for tenant in ("t1", "t2"):
            aws.api("POST", "/accounts/a1/entries", tenant=tenant, body={
                "entry_id": "top-1", "kind": "credit", "amount": "50.00",
                "description": "paid by ana@customer.test"})
            aws.api("POST", "/accounts/a1/entries", tenant=tenant, body={
                "entry_id": "use-1", "kind": "charge", "amount": "35.00"})
        aws.pump()
        aws.scan()
        aws.pump()
        # and requests are refused, replayed, listed and read
        aws.api("PUT", "/accounts/a1", body={"email": "ana@"})
        aws.api("POST", "/accounts/a1/entries", body={
            "entry_id": "use-1", "kind": "charge", "amount": "36.00"})
        aws.api("GET", "/accounts/a1/notices", role="customer", account_id="a1")
        aws.api("GET", "/accounts")
        # and an unexpected error quotes an address in its message
        from balance_alerts.api import accounts

        def broken(tenant_id, account_id):
            raise RuntimeError("could not read ana@customer.test")

        monkeypatch.setattr(accounts, "get_account", broken)
        assert aws.api("GET", "/accounts/a1").status == 500

    text = logs.getvalue()
    # Then the logs were written (notices sent and failed, the error with its traceback)
    assert "notice sent" in text and "notice failed" in text, text[-2000:]
    assert "RuntimeError" in text and "***@***" in text
    # and they hold no address and no customer name
    for address in ADDRESSES:
        assert address not in text
    assert ANY_ADDRESS.findall(text) == []
    assert CUSTOMER_NAME not in text
    assert "Souza" not in text


@pytest.mark.parametrize("value, expected", [
    ("to ana@customer.test", "to ***@***"),
    ({"to": ["a@b.test"], "a@b.test": 1}, {"to": ["***@***"], "***@***": 1}),
    (("x", 1, None, True), ["x", 1, None, True]),
    (ValueError("bad a@b.test"), "bad ***@***"),
])
def test_mask_personal_data(value, expected):
    from balance_alerts.observability import mask_personal_data

    assert mask_personal_data(value) == expected
