"""The alarms an operator needs are in template.yaml, notify one SNS topic, and each has
an entry in docs/runbook.md; so has each operator command."""

from __future__ import annotations

import re

import pytest

from local import cfn

RUNBOOK = (cfn.ROOT / "docs" / "runbook.md").read_text()
ALARMS = cfn.resources("AWS::CloudWatch::Alarm")


def alarms_on(namespace: str, metric: str) -> list[dict]:
    return [a["Properties"] for a in ALARMS.values()
            if a["Properties"]["Namespace"] == namespace
            and a["Properties"]["MetricName"] == metric]


def dimension(alarm: dict) -> object:
    (only,) = alarm["Dimensions"]
    return only["Value"]


@pytest.mark.parametrize("mapping", cfn.stream_mappings(), ids=lambda m: m.function)
def test_every_stream_mapping_has_an_iterator_age_alarm_and_a_queue_depth_alarm(mapping):
    assert {"Ref": mapping.function} in [dimension(a) for a in
                                         alarms_on("AWS/Lambda", "IteratorAge")]
    assert {"Fn::GetAtt": [mapping.on_failure, "QueueName"]} in [
        dimension(a) for a in alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible")]


@pytest.mark.parametrize("queue", sorted(cfn.resources("AWS::SQS::Queue")))
def test_every_failure_queue_has_a_depth_alarm(queue):
    assert {"Fn::GetAtt": [queue, "QueueName"]} in [
        dimension(a) for a in alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible")]


@pytest.mark.parametrize("function", sorted(cfn.resources("AWS::Serverless::Function")))
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_errors_and_throttles_alarms(function, metric):
    assert {"Ref": function} in [dimension(a) for a in alarms_on("AWS/Lambda", metric)]


@pytest.mark.parametrize("metric, threshold", [("Reputation.BounceRate", 0.05),
                                               ("Reputation.ComplaintRate", 0.001)])
def test_ses_reputation_alarms(metric, threshold):
    (alarm,) = alarms_on("AWS/SES", metric)
    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_every_alarm_notifies_the_topic_which_emails_the_alarm_email_when_given():
    template = cfn.template()
    for logical_id, alarm in ALARMS.items():
        assert {"Ref": "AlarmTopic"} in alarm["Properties"]["AlarmActions"], logical_id
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", logical_id
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


def _headings() -> set[str]:
    return {match.strip() for match in re.findall(r"^#{2,4} (.+)$", RUNBOOK, re.MULTILINE)}


@pytest.mark.parametrize("logical_id", sorted(ALARMS))
def test_every_alarm_has_a_runbook_entry_its_description_links_to(logical_id):
    assert logical_id in _headings()
    description = " ".join(ALARMS[logical_id]["Properties"]["AlarmDescription"].split())
    assert f"docs/runbook.md#{logical_id.lower()}" in description


@pytest.mark.parametrize("command", ["replay", "redrive", "explain"])
def test_every_operator_command_has_a_runbook_entry(command):
    assert command in _headings()
