"""SendNoticeFunction on moto: NoticesTable INSERT records (real stream records, pumped by
LocalAws) become one email per audience through SES v2 and one EventBridge event."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests import builders
from tests.conftest import load_event

STAFF = "ops@acme.test"
NOTICE_KEY = "low#1#20.00#0"


# ------------------------------------------------------------------ helpers
def given_account(tenant_id: str = "t1", account_id: str = "a1", **fields: Any) -> None:
    from balance_alerts.adapters.tables import AccountItem, account_key

    values: dict[str, Any] = {"name": f"Customer {account_id}",
                              "email": f"{account_id}@customer.test", **fields}
    AccountItem(tenant_id, account_id, account_key=account_key(tenant_id, account_id),
                created_at="2026-11-01T00:00:00+00:00", **values).save()


def given_notice(tenant_id: str = "t1", account_id: str = "a1", *, key: str = NOTICE_KEY,
                 type: str = "balance_low", status: str = "pending",
                 audiences: tuple[str, ...] = ("customer",), reason: str | None = None,
                 **variables: Any) -> None:
    """A notice as the deciders write it (on_usage / periodic_scan)."""
    from balance_alerts.adapters.tables import NoticeItem, account_key

    rule_id, episode, level, reminder = key.split("#")
    created = datetime(2026, 11, 2, 9, 0, 5, tzinfo=timezone.utc).isoformat()
    values = {"balance": "12.50", "threshold": "20.00", "currency": "USD",
              "rule": {"cc_emails": [], "staff_emails": []}}
    values.update(variables)
    NoticeItem(
        account_key(tenant_id, account_id), key,
        created_seq=f"{created}#{key}", tenant_id=tenant_id, account_id=account_id,
        type=type, rule_id=rule_id, level=level, episode=int(episode),
        reminder=int(reminder), audiences=list(audiences), status=status, reason=reason,
        created_at=created, variables=values, entry_id="e1", attempts=0,
    ).save()


def notice(tenant_id: str = "t1", account_id: str = "a1", key: str = NOTICE_KEY):
    from balance_alerts.adapters.tables import NoticeItem, account_key

    return NoticeItem.get(account_key(tenant_id, account_id), key, consistent_read=True)


def to_addresses(message: Any) -> list[str]:
    return list(message.destinations.get("ToAddresses", []))



@pytest.fixture
def bus(aws):
    """Events on the default bus with source balance-alerts, through a rule to SQS."""
    sqs, events = aws.client("sqs"), aws.client("events")
    queue_url = sqs.create_queue(QueueName="notice-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="notices", EventPattern=json.dumps({"source": ["balance-alerts"]}))
    events.put_targets(Rule="notices", Targets=[{"Id": "q", "Arn": queue_arn}])

    def received() -> list[dict[str, Any]]:
        out = []
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return received


def throttle(monkeypatch, *, on_call: int) -> list[int]:
    """Make SendEmail fail with TooManyRequestsException once, on its ``on_call``-th call."""
    from balance_alerts.adapters.channels import email

    original = email.client().send_email
    count = [0]

    def flaky(**request: Any) -> Any:
        count[0] += 1
        if count[0] == on_call:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "Too many requests"},
                 "ResponseMetadata": {"HTTPStatusCode": 429}},
                "SendEmail",
            )
        return original(**request)

    monkeypatch.setattr(email.client(), "send_email", flaky)
    return count


# -------------------------------------------------------------------- sending
def test_pending_notice_sends_one_email_per_audience(aws, ses_calls):
    # Given an account with an extra address, a rule with cc and staff addresses
    builders.tenant()
    given_account(extra_emails=["parent@customer.test"])
    given_notice(audiences=("customer", "staff"),
                 rule={"cc_emails": ["A1@customer.test", "cc@acme.test"],
                       "staff_emails": ["boss@acme.test", STAFF]})

    # When the notice's INSERT reaches SendNoticeFunction
    aws.pump()

    # Then the customer and the staff each get one email, without duplicate addresses
    emails = aws.sent_emails()
    assert len(emails) == 2
    customer, staff = emails
    assert to_addresses(customer) == ["a1@customer.test", "parent@customer.test",
                                      "cc@acme.test"]
    assert to_addresses(staff) == [STAFF, "boss@acme.test"]
    assert customer.source == "Acme Energy <billing@acme.test>"
    assert customer.subject == "Your Acme Energy balance is low ($12.50)"
    assert staff.subject == "[Acme Energy] Low balance: Customer a1 at $12.50"
    assert "$12.50" in customer.body and "<table" in customer.body
    # HTML and text parts both go to SES
    body = ses_calls[0]["Content"]["Simple"]["Body"]
    assert "Current balance: $12.50" in body["Text"]["Data"]
    assert body["Html"]["Data"] == customer.body
    assert "ConfigurationSetName" not in ses_calls[0]
    # And the notice is marked sent with the message ids
    item = notice()
    assert item.status == "sent"
    assert item.message_ids == [customer.id, staff.id]
    assert item.delivered == {"customer": customer.id, "staff": staff.id}
    assert item.subject == customer.subject
    assert item.sent_at and item.attempts == 1
    assert [d.failed for d in aws.deliveries("SendNoticeFunction")] == [[]]


def test_configuration_set_is_used_when_configured(aws, ses_calls, monkeypatch):
    from balance_alerts.adapters import settings

    # Given a configuration set in the function's environment
    monkeypatch.setenv("SES_CONFIGURATION_SET", "balance-alerts")
    settings.reset_cache()
    builders.tenant()
    given_account()
    given_notice()

    # When the notice is sent
    aws.pump()

    # Then SES gets it with the configuration set
    assert ses_calls[0]["ConfigurationSetName"] == "balance-alerts"
    assert len(aws.sent_emails()) == 1


def test_redelivered_record_sends_no_second_email(aws, bus):
    # Given a pending notice, and a platform that re-sends a batch that succeeded
    builders.tenant()
    given_account()
    given_notice(audiences=("customer", "staff"))
    aws.redeliver = True

    # When the record is delivered twice
    aws.pump()

    # Then one email per audience and one event went out
    assert len(aws.deliveries("SendNoticeFunction")) == 2
    assert len(aws.sent_emails()) == 2
    assert [e["detail"]["status"] for e in bus()] == ["sent"]
    assert notice().attempts == 1


def test_suppressed_notice_is_not_sent_but_published(aws, bus):
    # Given a notice the decider suppressed (type disabled for the class)
    builders.tenant()
    given_account()
    given_notice(status="suppressed",
                 reason="notice type balance_low is disabled for class vip")

    # When its record arrives
    aws.pump()

    # Then no email, and one event with status suppressed
    assert aws.sent_emails() == []
    events = bus()
    assert [(e["detail"]["status"], e["detail"]["reason"]) for e in events] == [
        ("suppressed", "notice type balance_low is disabled for class vip")]
    assert notice().status == "suppressed" and notice().published == "suppressed"


# -------------------------------------------------------------------- failures
def test_unverified_sender_fails_once_and_is_not_retried(aws, bus, monkeypatch):
    from balance_alerts.services import send_notice

    # Given a tenant whose from_email is not a verified SES identity
    builders.tenant(from_email="billing@unverified.test")
    given_account()
    given_notice(audiences=("customer", "staff"))
    metric_names: list[str] = []
    monkeypatch.setattr(send_notice.metrics, "add_metric",
                        lambda name, **kwargs: metric_names.append(name))

    # When the notice is delivered
    aws.pump()

    # Then nothing is sent, the notice failed with SES's reason, exactly once
    assert aws.sent_emails() == []
    item = notice()
    assert item.status == "failed"
    assert item.reason.startswith("MessageRejected: ")
    assert "billing@unverified.test" not in item.reason
    assert "Acme Energy" not in item.reason  # the sender's display name is masked too
    assert item.attempts == 1
    assert [d.failed for d in aws.deliveries("SendNoticeFunction")] == [[]]
    assert aws.failed_batches("SendNoticeFunction") == []
    assert [e["detail"]["status"] for e in bus()] == ["failed"]
    assert metric_names == ["NoticesFailed"]


def test_permanent_failure_of_one_audience_still_sends_the_other(aws, monkeypatch):
    from balance_alerts.adapters.channels import email

    # Given SES that refuses the staff email as a bad request
    builders.tenant()
    given_account()
    given_notice(audiences=("customer", "staff"))
    original = email.client().send_email

    def refuse_staff(**request):
        if request["Destination"]["ToAddresses"] == [STAFF]:
            raise ClientError({"Error": {"Code": "BadRequestException",
                                         "Message": f"Bad address {STAFF}"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendEmail")
        return original(**request)

    monkeypatch.setattr(email.client(), "send_email", refuse_staff)

    # When the notice is delivered
    aws.pump()

    # Then the customer email went out, the notice is sent, and the reason says what not
    assert [to_addresses(e) for e in aws.sent_emails()] == [["a1@customer.test"]]
    item = notice()
    assert item.status == "sent" and item.attempts == 1
    assert item.reason == "staff not sent: BadRequestException: Bad address ***@***"
    assert len(aws.deliveries("SendNoticeFunction")) == 1


def test_event_bus_failure_is_retried_without_sending_again(aws, bus, monkeypatch):
    from balance_alerts.adapters import events

    # Given EventBridge that fails once
    builders.tenant()
    given_account()
    given_notice()
    original = events.client().put_events
    calls = [0]

    def flaky(**request):
        calls[0] += 1
        if calls[0] == 1:
            raise ClientError({"Error": {"Code": "InternalException", "Message": "oops"},
                               "ResponseMetadata": {"HTTPStatusCode": 500}}, "PutEvents")
        return original(**request)

    monkeypatch.setattr(events.client(), "put_events", flaky)

    # When the stream is pumped
    aws.pump()

    # Then the record was retried once; one email and one event in the end
    assert [bool(d.failed) for d in aws.deliveries("SendNoticeFunction")] == [True, False]
    assert len(aws.sent_emails()) == 1
    assert [e["detail"]["status"] for e in bus()] == ["sent"]
    assert notice().attempts == 1 and notice().published == "sent"


def test_throttling_is_retried_and_sends_exactly_once(aws, monkeypatch):
    # Given SES that answers the first SendEmail with TooManyRequestsException
    builders.tenant()
    given_account()
    given_notice()
    calls = throttle(monkeypatch, on_call=1)

    # When the stream is pumped
    aws.pump()

    # Then the record was reported in batchItemFailures, retried, and sent once
    deliveries = aws.deliveries("SendNoticeFunction")
    assert len(deliveries) == 2
    assert deliveries[0].failed == deliveries[0].sequence_numbers
    assert deliveries[1].failed == []
    assert deliveries[0].error is None  # reported, not raised
    assert calls[0] == 2
    assert len(aws.sent_emails()) == 1
    item = notice()
    assert item.status == "sent" and item.attempts == 2


def test_retry_does_not_resend_an_audience_already_delivered(aws, monkeypatch):
    # Given SES that throttles the second email of the notice (the staff one)
    builders.tenant()
    given_account()
    given_notice(audiences=("customer", "staff"))
    throttle(monkeypatch, on_call=2)

    # When the stream is pumped (the record fails once, then succeeds)
    aws.pump()

    # Then the customer got exactly one email and the staff one
    emails = aws.sent_emails()
    assert [to_addresses(e) for e in emails] == [["a1@customer.test"], [STAFF]]
    item = notice()
    assert item.status == "sent"
    assert item.message_ids == [e.id for e in emails]
    assert item.attempts == 2


def test_throttling_holds_back_the_records_after_it(aws, monkeypatch):
    # Given two pending notices in one batch, and SES that throttles the first email
    builders.tenant()
    given_account("t1", "a1")
    given_account("t1", "a2")
    given_notice("t1", "a1")
    given_notice("t1", "a2")
    calls = throttle(monkeypatch, on_call=1)

    # When the stream is pumped
    aws.pump()

    # Then the first invocation stopped at the throttled record (SES was not asked for
    # the second email) and reported it; the retry sent both
    first = aws.deliveries("SendNoticeFunction")[0]
    assert first.failed == first.sequence_numbers[:1] and len(first.sequence_numbers) == 2
    assert calls[0] == 3
    assert [notice("t1", a).status for a in ("a1", "a2")] == ["sent", "sent"]


def test_an_unexpected_error_on_one_notice_does_not_hold_back_the_next(aws, monkeypatch):
    # Given two pending notices in one batch, the first failing with an error that is not
    # known to be transient (a bug, data only that notice has) on every attempt
    from balance_alerts.services import send_notice

    builders.tenant()
    given_account("t1", "a1")
    given_account("t1", "a2")
    given_notice("t1", "a1")
    given_notice("t1", "a2")
    compose = send_notice.compose

    def failing_for_a1(item: Any) -> Any:
        if item.account_id == "a1":
            raise RuntimeError("unexpected")
        return compose(item)

    monkeypatch.setattr(send_notice, "compose", failing_for_a1)

    # When the stream is pumped until the batch runs out of retries
    aws.pump()

    # Then the second notice was sent at the first attempt, and only the first one is
    # reported (each time) and left for the failure queue
    first = aws.deliveries("SendNoticeFunction")[0]
    assert first.failed == first.sequence_numbers[:1] and len(first.sequence_numbers) == 2
    assert notice("t1", "a2").status == "sent"
    assert [to_addresses(e) for e in aws.sent_emails()] == [["a2@customer.test"]]
    assert notice("t1", "a1").status == "pending"
    assert len(aws.failed_batches("SendNoticeFunction")) == 1


def test_notice_without_recipients_fails(aws, bus):
    # Given an account without an email address and a customer-only notice
    builders.tenant()
    given_account(email=None)
    given_notice()

    # When it is delivered
    aws.pump()

    # Then it failed with "no recipients"
    assert aws.sent_emails() == []
    assert (notice().status, notice().reason) == ("failed", "no recipients")
    assert [e["detail"]["reason"] for e in bus()] == ["no recipients"]


def test_audience_without_recipients_is_skipped(aws):
    # Given a tenant without staff emails and a notice for customer and staff
    builders.tenant(staff_emails=[])
    given_account()
    given_notice(audiences=("customer", "staff"))

    # When it is delivered
    aws.pump()

    # Then only the customer gets an email, and the notice is sent
    assert [to_addresses(e) for e in aws.sent_emails()] == [["a1@customer.test"]]
    assert notice().status == "sent"


def test_subject_rendering_two_lines_fails_permanently(aws):
    from balance_alerts.adapters import config_store

    # Given a stored override whose subject renders two lines
    builders.tenant()
    given_account()
    config_store.put_doc("t1", "template#default#balance_low#customer", {
        "subject": "Low balance\n{{ balance }}", "html": "<p>{{ balance }}</p>",
        "text": "{{ balance }}", "bcc": []})
    given_notice()

    # When it is delivered
    aws.pump()

    # Then nothing is sent and the notice failed for that reason
    assert aws.sent_emails() == []
    item = notice()
    assert item.status == "failed"
    assert "subject must render to one line" in item.reason
    assert len(aws.deliveries("SendNoticeFunction")) == 1


# -------------------------------------------------------------------- content
def test_html_in_account_name_is_escaped(aws, ses_calls):
    # Given an account whose name contains HTML
    builders.tenant()
    given_account(name='<img src=x onerror="alert(1)"> Bob & Co')
    given_notice(audiences=("customer", "staff"))

    # When the notice is sent
    aws.pump()

    # Then the HTML parts carry the name escaped, the text part as written
    for request in ses_calls:
        body = request["Content"]["Simple"]["Body"]
        assert "<img" not in body["Html"]["Data"]
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; Bob &amp; Co" in body["Html"]["Data"]
    customer_text = ses_calls[0]["Content"]["Simple"]["Body"]["Text"]["Data"]
    assert 'Hello <img src=x onerror="alert(1)"> Bob & Co,' in customer_text


def test_balance_is_formatted_for_the_account_locale_and_currency(aws, ses_calls):
    # Given a German account in euros
    builders.tenant()
    given_account(locale="de_DE", currency="EUR")
    given_notice(balance="1234.5", threshold="2000", currency="EUR")

    # When the notice is sent
    aws.pump()

    # Then amounts are written the German way
    (email,) = aws.sent_emails()
    assert email.subject == "Your Acme Energy balance is low (1.234,50\xa0€)"
    text = ses_calls[0]["Content"]["Simple"]["Body"]["Text"]["Data"]
    assert "below 2.000,00\xa0€" in text


def test_override_of_the_class_template_set_is_used_with_its_bcc(aws, ses_calls):
    from balance_alerts.adapters import config_store

    # Given a class whose template set overrides the customer template, with a BCC
    builders.tenant()
    config_store.put_doc("t1", "class#vip", {"name": "VIP", "template_set": "vip"})
    config_store.put_doc("t1", "template#vip#balance_low#customer", {
        "subject": "{{ account.name }}, a word about your balance",
        "html": "<p>Only {{ balance }} left, {{ account.name }}.</p>",
        "text": "Only {{ balance }} left.",
        "bcc": ["audit@acme.test", "a1@customer.test"],
    })
    given_account(customer_class="vip")
    given_notice(audiences=("customer", "staff"))

    # When the notice is sent
    aws.pump()

    # Then the customer email uses the override and its BCC; the staff one the default
    customer, staff = aws.sent_emails()
    assert customer.subject == "Customer a1, a word about your balance"
    assert customer.body == "<p>Only $12.50 left, Customer a1.</p>"
    assert customer.destinations["BccAddresses"] == ["audit@acme.test"]
    assert ses_calls[0]["Content"]["Simple"]["Body"]["Text"]["Data"] == "Only $12.50 left."
    assert staff.subject.startswith("[Acme Energy] Low balance")
    assert "BccAddresses" not in staff.destinations


@pytest.mark.parametrize("notice_type, key, values, expected", [
    ("balance_recovered", "low#1#recovered#0", {"balance": "45"}, "back to $45.00"),
    ("funds_run_out", "runway#1#5#0", {"balance": "18.40", "days_left": 5}, "in about 5 days"),
    ("inactive", "idle#1#5.00#0", {"balance": "3.20", "threshold": "5.00",
                                   "inactive_days": 30}, "have not seen you"),
    ("package_low", "lessons#1#p1:piano#0",
     {"package": {"name": "Piano 10"},
      "item": {"service": "piano", "remaining": "2", "purchased": "10"}},
     "Piano 10 package is running low: 2 of 10 left"),
])
def test_every_notice_type_is_sent(aws, notice_type, key, values, expected):
    builders.tenant()
    given_account()
    given_notice(type=notice_type, key=key, audiences=("customer", "staff"), **values)

    aws.pump()

    customer, staff = aws.sent_emails()
    assert expected in customer.subject
    assert staff.subject.startswith("[Acme Energy]")
    assert notice(key=key).status == "sent"


# ------------------------------------------------------------------ EventBridge
def test_event_is_published_without_personal_data(aws, bus):
    # Given a pending notice for customer and staff
    builders.tenant()
    given_account(name="Jordan Smith")
    given_notice(audiences=("customer", "staff"),
                 rule={"cc_emails": ["cc@acme.test"], "staff_emails": []})

    # When it is sent
    aws.pump()

    # Then one event, detail-type = notice type, with identifiers and outcome only
    (event,) = bus()
    assert event["source"] == "balance-alerts"
    assert event["detail-type"] == "balance_low"
    item = notice()
    assert event["detail"] == {
        "notice_id": NOTICE_KEY, "tenant_id": "t1", "account_id": "a1",
        "type": "balance_low", "rule_id": "low", "level": "20.00", "episode": 1,
        "reminder": 0, "status": "sent", "reason": None,
        "created_at": item.created_at, "sent_at": item.sent_at,
    }
    assert "@" not in json.dumps(event) and "Jordan" not in json.dumps(event)
    assert item.published == "sent"


# ------------------------------------------------------------ the handler itself
def test_sample_event_is_handled(aws):
    # Given the notice that events/send_notice_stream.json announces
    builders.tenant()
    given_account()
    given_notice(audiences=("customer", "staff"))

    # When SendNoticeFunction is invoked with the sample event (as `sam local invoke`)
    response = aws.invoke("SendNoticeFunction", load_event("send_notice_stream.json"))

    # Then no record failed and both audiences got their email
    assert response == {"batchItemFailures": []}
    assert len(aws.sent_emails()) == 2


def test_unreadable_record_is_skipped(aws):
    # Given a record without the notice's keys
    event = load_event("send_notice_stream.json")
    record = event["Records"][0]
    record["dynamodb"]["NewImage"] = {"notice_key": {"N": "not a string"}}
    record["dynamodb"]["Keys"] = {}

    # When it is handled
    response = aws.invoke("SendNoticeFunction", event)

    # Then it is not retried and nothing is sent
    assert response == {"batchItemFailures": []}
    assert aws.sent_emails() == []
