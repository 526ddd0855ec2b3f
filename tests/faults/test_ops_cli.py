"""The operator CLI (``python -m ops``) against moto: replay what went to an on-failure
queue, re-drive failed notices after a fix, explain an account."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from local import cfn
from ops.cli import main
from ops.stack import Stack
from tests import builders as given

from .world import PROFILE, TENANT, World


def run(harness, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--local", *argv], stack=Stack.local(invoke=harness.aws.invoke), out=out)
    return code, out.getvalue()


def queued(harness, function: str) -> list[dict]:
    sqs = harness.aws.client("sqs")
    url = harness.aws.failure_queue_url(function)
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                      "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return [int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"])]


@pytest.fixture
def world(harness) -> World:
    given.tenant(TENANT, profile=PROFILE)
    return World(harness.aws, harness.ledger)


def dropped_usage(harness, world) -> dict:
    """a2's records exhaust their retries (its writes are throttled) and go to the
    on-failure queue; a1's are applied."""
    world.open_account("a1")
    world.open_account("a2")
    for kind, amount in [("credit", "50"), ("charge", "45"), ("credit", "5")]:
        world.write("a1", kind, Decimal(amount))
        world.write("a2", kind, Decimal(amount))
    rule = harness.faults.throttle("dynamodb", ("UpdateItem", "TransactWriteItems"),
                                   function="OnUsageFunction", times=100,
                                   when=lambda call: call.about(TENANT, "a2"))
    harness.aws.pump()
    rule.cancel()
    (batch,) = harness.aws.failed_batches("OnUsageFunction")
    return batch


# ------------------------------------------------------------------ replay
def test_the_on_failure_message_is_the_one_lambda_sends(harness, world):
    batch = dropped_usage(harness, world)
    info = batch["message"]["DDBStreamBatchInfo"]
    assert set(info) >= {"shardId", "startSequenceNumber", "endSequenceNumber", "streamArn",
                         "batchSize", "approximateArrivalOfFirstRecord"}
    assert info["streamArn"] == harness.aws.stream_arn("LedgerTable")
    assert int(info["startSequenceNumber"]) <= int(info["endSequenceNumber"])
    assert queued(harness, "OnUsageFunction") == [1, 0]


def test_replay_applies_the_dropped_records_once_and_deletes_the_message(harness, world):
    # Given a2's batch in the on-failure queue, and the throttling over
    dropped_usage(harness, world)
    assert given.balance(TENANT, "a2") == 0
    # When the operator looks first, then replays
    code, text = run(harness, "replay", "--queue", "on-usage", "--dry-run")
    assert code == 0 and "dry run" in text and queued(harness, "OnUsageFunction") == [1, 0]
    code, text = run(harness, "replay", "--queue", "on-usage")
    # Then a2's entries are applied, in order, once; the message is gone
    assert code == 0, text
    assert "message deleted" in text
    harness.aws.pump()
    world.delivered()
    world.check()
    assert queued(harness, "OnUsageFunction") == [0, 0]
    # and replaying the same message again (kept in a file) changes nothing
    path = harness.aws.failed_batches("OnUsageFunction")[0]["message"]
    code, text = run(harness, "--json", "replay", "--message-file", _write(path))
    assert code == 0 and json.loads(text)[0]["records"] >= 1
    harness.aws.pump()
    world.check()


def test_replay_keeps_a_message_whose_records_still_fail(harness, world):
    dropped_usage(harness, world)
    harness.faults.resume()
    harness.faults.throttle("dynamodb", ("UpdateItem", "TransactWriteItems"),
                            function="OnUsageFunction",
                            when=lambda call: call.about(TENANT, "a2"))
    code, text = run(harness, "replay", "--queue", "on-usage", "--attempts", "2")
    assert code == 1 and "NOT DONE, message kept" in text
    assert given.balance(TENANT, "a2") == 0


def test_replay_of_records_past_the_stream_retention_says_so(harness, world):
    dropped_usage(harness, world)
    harness.faults.resume()
    harness.faults.fail("dynamodbstreams", "GetShardIterator", "TrimmedDataAccessException",
                        function=None)
    code, text = run(harness, "replay", "--queue", "on-usage")
    assert code == 1 and "24-hour retention" in text
    harness.faults.stop()
    assert queued(harness, "OnUsageFunction")[0] + queued(harness, "OnUsageFunction")[1] == 1


def pending_notice(harness, world) -> None:
    """SES throttles for longer than send_notice retries: a1's notice batch is dropped to
    the SendNotice on-failure queue and the notice stays pending."""
    world.open_account("a1")
    world.write("a1", "charge", Decimal("5"))
    rule = harness.faults.throttle("sesv2", "SendEmail", times=1000)
    harness.aws.pump()
    rule.cancel()
    world.delivered()


def test_replay_of_a_notices_batch_sends_each_email_once(harness, world):
    # Given SES throttles for longer than send_notice retries: the notice's batch is
    # dropped to the SendNotice on-failure queue and the notice stays pending
    pending_notice(harness, world)
    assert [n.status for n in given.notices(TENANT, "a1")] == ["pending"]
    # When the operator replays the queue
    code, text = run(harness, "replay", "--queue", "send-notice")
    # Then the notice is sent, once per audience
    assert code == 0, text
    world.check()


def _write(message: dict) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(message, handle)
    return handle.name


# ------------------------------------------------------------------ redrive
def failed_notice(harness, world) -> None:
    """A tenant whose sender is not verified: a1's notice fails permanently."""
    given.tenant(TENANT, profile=PROFILE, from_email="billing@unverified.test")
    world.open_account("a1")
    world.write("a1", "credit", Decimal("30"))
    world.write("a1", "charge", Decimal("15"))  # low#1: the customer only
    harness.aws.pump()
    world.delivered()
    (notice,) = given.notices(TENANT, "a1")
    assert notice.status == "failed" and notice.reason.startswith("MessageRejected")


def test_redrive_sends_a_failed_notice_after_the_fix(harness, world):
    failed_notice(harness, world)
    # When the operator lists, then (after verifying the sender) re-drives
    code, text = run(harness, "redrive", "--tenant", TENANT, "--dry-run")
    assert code == 0 and "1 notice(s) would be re-driven" in text
    assert given.notices(TENANT, "a1")[0].status == "failed"
    harness.aws.verify_sender("billing@unverified.test")
    code, text = run(harness, "redrive", "--tenant", TENANT, "--account", "a1")
    # Then it is sent, its history kept, the new outcome published
    assert code == 0, text
    assert "failed (MessageRejected" in text and "-> sent" in text
    raw = harness.aws.client("dynamodb").get_item(
        TableName=cfn.physical_name("NoticesTable"),
        Key={"account_key": {"S": f"{TENANT}#a1"}, "notice_key": {"S": "low#1#20#0"}})["Item"]
    assert raw["redrives"]["N"] == "1"
    assert raw["redrive_reason"]["S"].startswith("MessageRejected")
    world.check()
    # and a second run finds nothing to do
    code, text = run(harness, "redrive", "--tenant", TENANT)
    assert code == 0 and text.startswith("0 notice(s)")
    world.check()


def test_redrive_before_the_fix_leaves_the_notice_failed(harness, world):
    failed_notice(harness, world)
    code, text = run(harness, "redrive", "--tenant", TENANT, "--notice", "low#1#20#0")
    assert code == 1 and "-> failed" in text
    assert given.notices(TENANT, "a1")[0].status == "failed"


def test_redrive_pushes_a_stuck_pending_notice(harness, world):
    # Given a notice left pending (its stream batch was dropped while SES throttled)
    pending_notice(harness, world)
    # When the operator re-drives pending notices older than 0 minutes
    code, text = run(harness, "redrive", "--tenant", TENANT, "--status", "pending",
                     "--older-than-minutes", "0")
    # Then it is sent once
    assert code == 0, text
    world.check()


# ------------------------------------------------------------------ explain
def test_explain_says_why_an_account_was_notified(harness, world):
    world.open_account("a1")
    world.write("a1", "credit", Decimal("30"))
    world.write("a1", "charge", Decimal("15"))
    harness.aws.client("dynamodb").put_item(
        TableName=cfn.physical_name("LedgerTable"),
        Item={"account_key": {"S": f"{TENANT}#a1"}, "entry_id": {"S": "bad"},
              "tenant_id": {"S": TENANT}, "account_id": {"S": "a1"}, "kind": {"S": "gift"},
              "recorded_at": {"S": "2026-11-02T10:00:00+00:00"}})
    harness.aws.pump()
    given.entry("late", "charge", "1", tenant_id=TENANT, account_id="a1",
                at=datetime.now(timezone.utc))  # recorded just now, not applied yet
    code, text = run(harness, "explain", "--tenant", TENANT, "--account", "a1")
    assert code == 0
    assert "Rule low (balance_below): balance 15 is below 20; episode 1 open, notified" in text
    assert "low#1#20#0" in text and "sent" in text
    assert "Entry bad was rejected: unreadable ledger record: unknown entry kind 'gift'" in text
    assert "1 recent entries are recorded but not applied yet" in text
    assert "a***@customer.test" in text and "a1@customer.test" not in text
    code, text = run(harness, "--json", "explain", "--tenant", TENANT, "--account", "a1")
    report = json.loads(text)
    assert report["account"]["balance"] == "15"
    assert [n["notice_key"] for n in report["notices"]] == ["low#1#20#0"]


@pytest.mark.parametrize("fields, expected", [
    ({"billing": "postpaid"}, "post-paid"),
    ({"status": "suspended"}, "status is 'suspended'"),
    ({"profile_id": "missing"}, "profile 'missing' is not defined"),
], ids=["postpaid", "suspended", "no-profile"])
def test_explain_says_why_an_account_was_not_notified(harness, fields, expected):
    given.tenant(TENANT, profile=PROFILE)
    given.account(TENANT, "a1", **fields)
    given.entry("c1", "charge", "5", tenant_id=TENANT, account_id="a1")
    harness.aws.pump()
    code, text = run(harness, "explain", "--tenant", TENANT, "--account", "a1")
    assert code == 0 and expected in text
    assert "No notice was ever created for this account." in text


def test_explain_an_unknown_account(harness):
    given.tenant(TENANT, profile=PROFILE)
    code, text = run(harness, "explain", "--tenant", TENANT, "--account", "nobody")
    assert code == 0 and "does not exist" in text


def test_the_cli_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "ops", "--help"], capture_output=True,
                            text=True, cwd=cfn.ROOT, check=False)
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("replay", "redrive", "explain"))


def test_replay_keeps_a_message_it_cannot_read(harness):
    sqs = harness.aws.client("sqs")
    sqs.send_message(QueueUrl=harness.aws.failure_queue_url("OnUsageFunction"),
                     MessageBody=json.dumps({"not": "an on-failure message"}))
    code, text = run(harness, "replay", "--queue", "on-usage")
    assert code == 1 and "unreadable message" in text
    assert sum(queued(harness, "OnUsageFunction")) == 1
