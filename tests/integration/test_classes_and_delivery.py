"""Classes, templates and delivery end to end: configuration and entries through the API,
balances and notices through the streams (``aws.pump()``), email through SES v2 on moto.

What the issue asks to see: a type disabled for the class is suppressed and sends
nothing; a class's override (BCC, variables) is what goes out; throttling is retried
without a second email and without applying any entry twice; a permanent failure and
suppressed recipients are recorded once as ``failed``; customer emails carry
``List-Unsubscribe``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import builders

PROFILE = {
    "name": "Standard",
    "rules": [{"id": "low", "type": "balance_below", "threshold": "20.00",
               "notify": ["customer", "staff"], "notify_recovery": True}],
}


# ------------------------------------------------------------------ helpers
def given_tenant(aws, **settings: Any) -> None:
    body = {"name": "Acme Energy", "from_email": "billing@acme.test",
            "staff_emails": ["ops@acme.test"], "default_profile_id": "standard", **settings}
    assert aws.api("PUT", "/settings", body=body).status == 200
    assert aws.api("PUT", "/profiles/standard", body=PROFILE).status == 200


def given_account(aws, account_id: str = "a1", **fields: Any) -> None:
    body = {"name": "Ann Lee", "email": f"{account_id}@customer.test", **fields}
    response = aws.api("PUT", f"/accounts/{account_id}", body=body)
    assert response.status in (200, 201), response.body


def post(aws, entry_id: str, kind: str, amount: str, account_id: str = "a1") -> None:
    response = aws.api("POST", f"/accounts/{account_id}/entries",
                       body={"entry_id": entry_id, "kind": kind, "amount": amount})
    assert response.status == 202, response.body


def notices(aws, account_id: str = "a1") -> list[dict[str, Any]]:
    response = aws.api("GET", f"/accounts/{account_id}/notices", role="staff")
    assert response.status == 200
    return list(reversed(response.body["notices"]))  # oldest first


def addresses(message: Any) -> list[str]:
    return list(message.destinations.get("ToAddresses", []))


def client_error(code: str, status: int, operation: str = "SendEmail") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} for x@y.test"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)



def headers(request: dict[str, Any]) -> dict[str, str]:
    return {h["Name"]: h["Value"] for h in request["Content"]["Simple"].get("Headers", [])}


# ------------------------------------------------------------------ classes
def test_a_type_disabled_for_the_class_is_suppressed_and_sends_nothing(aws):
    # Given a class that only enables recovery notices, and an account of that class
    given_tenant(aws)
    put = aws.api("PUT", "/classes/basic",
                  body={"name": "Basic", "enabled": ["balance_recovered"]})
    assert put.status == 200
    given_account(aws, customer_class="basic")

    # When a charge takes the balance below 20.00
    post(aws, "top-up", "credit", "50")
    post(aws, "use", "charge", "40")
    aws.pump()

    # Then the balance_low notice is in the log as suppressed, with why, and no email went
    (low,) = notices(aws)
    assert (low["type"], low["status"]) == ("balance_low", "suppressed")
    assert low["reason"] == "notice type balance_low is disabled for class basic"
    assert low["sent_at"] is None
    assert aws.sent_emails() == []

    # When the balance recovers (a type the class enables)
    post(aws, "top-up-2", "credit", "30")
    aws.pump()

    # Then the recovery goes out: the suppressed episode still counts
    low, recovered = notices(aws)
    assert (recovered["type"], recovered["status"]) == ("balance_recovered", "sent")
    assert [m.subject for m in aws.sent_emails()] == [
        "Your Acme Energy balance is back to $40.00",
        "[Acme Energy] Balance recovered: Ann Lee at $40.00"]


def test_the_tenants_default_class_applies_to_accounts_without_one(aws):
    # Given a default class that enables nothing
    given_tenant(aws, default_class="quiet")
    aws.api("PUT", "/classes/quiet", body={"name": "Quiet", "enabled": []})
    given_account(aws)

    # When the balance goes low
    post(aws, "use", "charge", "5")
    aws.pump()

    # Then the notice is suppressed for the default class
    (low,) = notices(aws)
    assert low["status"] == "suppressed" and "class quiet" in low["reason"]
    assert aws.sent_emails() == []


def test_the_override_of_the_class_template_set_is_sent_with_its_bcc(aws, ses_calls):
    # Given a class speaking through template set "vip", whose customer email is overridden
    given_tenant(aws)
    aws.api("PUT", "/classes/vip", body={"name": "VIP", "template_set": "vip"})
    saved = aws.api("PUT", "/templates/vip/balance_low/customer", body={
        "subject": "{{ account.name }}: {{ balance }} left (below {{ threshold }})",
        "html": "<p>Dear {{ account.name }}, only <b>{{ balance }}</b> left.</p>",
        "text": "Dear {{ account.name }}, only {{ balance }} left.",
        "bcc": ["audit@acme.test"],
    })
    assert saved.status == 200, saved.body
    given_account(aws, name="Ann <Lee> & Co", customer_class="vip")

    # When the balance goes low
    post(aws, "use", "charge", "7.5")
    aws.pump()

    # Then the customer gets the override, rendered, with the BCC; staff get the default
    customer, staff = aws.sent_emails()
    assert customer.subject == "Ann <Lee> & Co: -$7.50 left (below $20.00)"
    assert customer.body == "<p>Dear Ann &lt;Lee&gt; &amp; Co, only <b>-$7.50</b> left.</p>"
    assert customer.destinations["BccAddresses"] == ["audit@acme.test"]
    assert ses_calls[0]["Content"]["Simple"]["Body"]["Text"]["Data"] == (
        "Dear Ann <Lee> & Co, only -$7.50 left.")
    assert staff.subject == "[Acme Energy] Low balance: Ann <Lee> & Co at -$7.50"
    assert "Ann &lt;Lee&gt; &amp; Co" in staff.body
    assert "BccAddresses" not in staff.destinations
    # And the notice log shows the subject that went out
    (low,) = notices(aws)
    assert (low["status"], low["subject"]) == ("sent", customer.subject)


def test_deleting_the_override_brings_the_default_back(aws):
    given_tenant(aws)
    aws.api("PUT", "/templates/default/balance_low/customer", body={
        "subject": "Custom", "html": "<p>x</p>", "text": "x", "bcc": []})
    aws.api("DELETE", "/templates/default/balance_low/customer")
    given_account(aws)

    post(aws, "use", "charge", "1")
    aws.pump()

    assert aws.sent_emails()[0].subject == "Your Acme Energy balance is low (-$1.00)"


# ----------------------------------------------------------------- delivery
def test_customer_email_carries_list_unsubscribe_and_the_configuration_set(
        aws, ses_calls, monkeypatch):
    from balance_alerts.adapters import settings

    # Given a tenant with an unsubscribe address and a configuration set in the environment
    monkeypatch.setenv("SES_CONFIGURATION_SET", "balance-alerts")
    settings.reset_cache()
    given_tenant(aws, unsubscribe="mailto:unsubscribe@acme.test?subject=unsubscribe")
    given_account(aws)

    # When a notice goes to the customer and the staff
    post(aws, "use", "charge", "1")
    aws.pump()

    # Then the customer email names where to unsubscribe; the staff email does not
    customer, staff = ses_calls
    assert headers(customer) == {
        "Auto-Submitted": "auto-generated",
        "List-Unsubscribe": "<mailto:unsubscribe@acme.test?subject=unsubscribe>"}
    assert headers(staff) == {"Auto-Submitted": "auto-generated"}
    assert customer["ConfigurationSetName"] == staff["ConfigurationSetName"] == (
        "balance-alerts")


def test_an_unsubscribe_url_is_used_as_given(aws, ses_calls):
    given_tenant(aws, unsubscribe="https://acme.test/email-preferences")
    given_account(aws)

    post(aws, "use", "charge", "1")
    aws.pump()

    assert headers(ses_calls[0])["List-Unsubscribe"] == "<https://acme.test/email-preferences>"


def test_without_an_unsubscribe_setting_there_is_no_header(aws, ses_calls):
    given_tenant(aws)
    given_account(aws)

    post(aws, "use", "charge", "1")
    aws.pump()

    assert "List-Unsubscribe" not in headers(ses_calls[0])


@pytest.mark.parametrize("value", [
    "https://acme.test/u\r\nBcc: victim@example.test",
    "https://acme.test/u>, <mailto:x@evil.test",
    "javascript:alert(1)",
    "http://acme.test/unsubscribe",
    "mailto:not-an-address",
    "https://",
])
def test_an_unsubscribe_setting_that_could_break_the_header_is_refused(aws, value):
    response = aws.api("PUT", "/settings", body={"name": "Acme", "unsubscribe": value})

    assert response.status == 422
    assert "unsubscribe" in response.body["message"]


def test_throttling_is_retried_without_a_second_email_or_a_second_balance_change(
        aws, monkeypatch):
    from balance_alerts.adapters.channels import email

    # Given SES that throttles the second SendEmail (the staff email of the notice)
    given_tenant(aws)
    given_account(aws)
    original = email.client().send_email
    calls = [0]

    def throttled(**request: Any) -> Any:
        calls[0] += 1
        if calls[0] == 2:
            raise client_error("TooManyRequestsException", 429)
        return original(**request)

    monkeypatch.setattr(email.client(), "send_email", throttled)

    # When entries take the balance below 20.00 and the streams are pumped
    post(aws, "top-up", "credit", "50")
    post(aws, "use", "charge", "40")
    aws.pump()

    # Then the notice's record was reported back once and retried (only that record)
    sends = aws.deliveries("SendNoticeFunction")
    assert [bool(d.failed) for d in sends] == [True, False]
    assert sends[0].failed == sends[0].sequence_numbers
    # And each audience got exactly one email
    assert [addresses(m) for m in aws.sent_emails()] == [["a1@customer.test"],
                                                         ["ops@acme.test"]]
    (low,) = notices(aws)
    assert low["status"] == "sent"
    # And the balance moved once per entry: the ledger stream never saw a failure
    assert builders.balance() == Decimal("10")
    assert all(d.failed == [] and d.error is None for d in aws.deliveries("OnUsageFunction"))
    assert aws.api("GET", "/accounts/a1").body["balance"] == "10"


def test_a_permanent_ses_failure_is_recorded_once_and_not_retried(aws, monkeypatch):
    from balance_alerts.adapters.channels import email

    # Given SES that rejects every message
    given_tenant(aws)
    given_account(aws)
    calls = [0]

    def rejected(**request: Any) -> Any:
        calls[0] += 1
        raise client_error("MessageRejected", 400)

    monkeypatch.setattr(email.client(), "send_email", rejected)

    # When a notice is due
    post(aws, "use", "charge", "1")
    aws.pump()

    # Then the notice failed with SES's reason (addresses masked), after one attempt
    (low,) = notices(aws)
    assert low["status"] == "failed"
    assert low["reason"] == "MessageRejected: MessageRejected for ***@***"
    assert calls[0] == 2  # customer and staff, once each
    assert [bool(d.failed) for d in aws.deliveries("SendNoticeFunction")] == [False]


# -------------------------------------------------------------- suppression
@pytest.fixture
def suppression_list(aws, monkeypatch) -> dict[str, str]:
    """SES's account-level suppression list (moto does not have one): address -> reason."""
    from balance_alerts.adapters.channels import email

    listed: dict[str, str] = {}

    def get_suppressed_destination(EmailAddress: str) -> dict[str, Any]:
        if EmailAddress.lower() not in listed:
            raise client_error("NotFoundException", 404, "GetSuppressedDestination")
        return {"SuppressedDestination": {"EmailAddress": EmailAddress,
                                          "Reason": listed[EmailAddress.lower()]}}

    monkeypatch.setattr(email.client(), "get_suppressed_destination",
                        get_suppressed_destination, raising=False)
    return listed


def test_an_audience_whose_recipients_are_all_suppressed_fails_with_the_reason(
        aws, suppression_list):
    # Given the customer's address is on the suppression list (a hard bounce)
    suppression_list["a1@customer.test"] = "BOUNCE"
    given_tenant(aws)
    given_account(aws)

    # When a notice is due for the customer and the staff
    post(aws, "use", "charge", "1")
    aws.pump()

    # Then only the staff email goes out, and the log says why the customer got none
    assert [addresses(m) for m in aws.sent_emails()] == [["ops@acme.test"]]
    (low,) = notices(aws)
    assert low["status"] == "sent"
    assert low["reason"] == "customer not sent: recipient on the SES suppression list (BOUNCE)"


def test_a_notice_whose_only_recipient_is_suppressed_fails_once(aws, suppression_list):
    # Given a customer-only rule and a suppressed (complained) customer address
    suppression_list["a1@customer.test"] = "COMPLAINT"
    given_tenant(aws)
    aws.api("PUT", "/profiles/standard", body={"rules": [
        {"id": "low", "type": "balance_below", "threshold": "20", "notify": ["customer"]}]})
    given_account(aws)

    # When the notice is delivered
    post(aws, "use", "charge", "1")
    aws.pump()

    # Then nothing is sent; it failed with the reason, once, without a retry
    assert aws.sent_emails() == []
    (low,) = notices(aws)
    assert (low["status"], low["reason"]) == (
        "failed", "recipient on the SES suppression list (COMPLAINT)")
    assert [bool(d.failed) for d in aws.deliveries("SendNoticeFunction")] == [False]


def test_suppressed_extra_addresses_are_left_out(aws, suppression_list):
    # Given an account with an extra address that bounced
    suppression_list["old@customer.test"] = "BOUNCE"
    given_tenant(aws)
    given_account(aws, extra_emails=["old@customer.test", "new@customer.test"])

    # When a notice is sent
    post(aws, "use", "charge", "1")
    aws.pump()

    # Then the others still get it, and the log notes what was left out
    customer = aws.sent_emails()[0]
    assert addresses(customer) == ["a1@customer.test", "new@customer.test"]
    (low,) = notices(aws)
    assert low["status"] == "sent"
    assert low["reason"] == "customer: 1 of 3 recipients on the SES suppression list (BOUNCE)"


def test_a_throttled_suppression_look_up_is_retried(aws, monkeypatch):
    from balance_alerts.adapters.channels import email

    # Given a look-up that is throttled once
    given_tenant(aws)
    given_account(aws)
    calls = [0]

    def flaky(EmailAddress: str) -> dict[str, Any]:
        calls[0] += 1
        if calls[0] == 1:
            raise client_error("TooManyRequestsException", 429, "GetSuppressedDestination")
        raise client_error("NotFoundException", 404, "GetSuppressedDestination")

    monkeypatch.setattr(email.client(), "get_suppressed_destination", flaky, raising=False)

    # When a notice is sent
    post(aws, "use", "charge", "1")
    aws.pump()

    # Then the record was retried and each audience got one email
    assert [bool(d.failed) for d in aws.deliveries("SendNoticeFunction")] == [True, False]
    assert len(aws.sent_emails()) == 2


def test_a_look_up_without_permission_does_not_block_email(aws, monkeypatch):
    from balance_alerts.adapters.channels import email

    given_tenant(aws)
    given_account(aws)

    def denied(EmailAddress: str) -> dict[str, Any]:
        raise client_error("AccessDeniedException", 403, "GetSuppressedDestination")

    monkeypatch.setattr(email.client(), "get_suppressed_destination", denied, raising=False)

    post(aws, "use", "charge", "1")
    aws.pump()

    assert len(aws.sent_emails()) == 2
    assert notices(aws)[0]["status"] == "sent"
