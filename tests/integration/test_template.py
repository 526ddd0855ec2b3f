"""template.yaml is the single source of truth: the pynamodb models, the stream mappings
and the functions' environment must agree with it."""

from __future__ import annotations

import json

import pytest

from local import cfn

MODELS = {
    "LedgerTable": "LedgerItem",
    "AccountsTable": "AccountItem",
    "NoticesTable": "NoticeItem",
    "ConfigTable": "ConfigItem",
}


def _key_schema(schema):
    return sorted((k["AttributeName"], k["KeyType"]) for k in schema)


@pytest.mark.parametrize("logical_id", sorted(MODELS))
def test_pynamodb_models_match_the_template(logical_id):
    from balance_alerts.adapters import tables

    model = getattr(tables, MODELS[logical_id])
    props = cfn.template()["Resources"][logical_id]["Properties"]
    schema = model._get_schema()
    assert model.Meta.table_name == cfn.physical_name(logical_id)
    assert _key_schema(schema["key_schema"]) == _key_schema(props["KeySchema"])
    assert sorted((a["AttributeName"], a["AttributeType"])
                  for a in schema["attribute_definitions"]) == sorted(
        (a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"])
    for kind, template_kind in (("global_secondary_indexes", "GlobalSecondaryIndexes"),
                                ("local_secondary_indexes", "LocalSecondaryIndexes")):
        ours = {i["index_name"]: (_key_schema(i["key_schema"]),
                               i["projection"]["ProjectionType"])
                for i in schema.get(kind, [])}
        theirs = {i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"]["ProjectionType"])
                  for i in props.get(template_kind, [])}
        assert ours == theirs


@pytest.mark.parametrize("function", ["OnUsageFunction", "SendNoticeFunction"])
def test_stream_mappings_are_configured_as_the_contract_says(function):
    props = cfn.template()["Resources"][function]["Properties"]
    (event,) = [e["Properties"] for e in props["Events"].values() if e["Type"] == "DynamoDB"]
    assert [json.loads(f["Pattern"]) for f in event["FilterCriteria"]["Filters"]] == [
        {"eventName": ["INSERT"]}]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 < event["MaximumRetryAttempts"] <= 20
    assert event["BisectBatchOnFunctionError"] is True
    destination = event["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert cfn.template()["Resources"][destination]["Type"] == "AWS::SQS::Queue"


def test_every_function_has_a_log_group_with_retention_and_handler_code():
    resources = cfn.template()["Resources"]
    functions = cfn.resources("AWS::Serverless::Function")
    groups = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    for logical_id, function in functions.items():
        assert any(f"${{{logical_id}}}" in g["LogGroupName"]["Fn::Sub"] and g["RetentionInDays"]
                   for g in groups), logical_id
        path = cfn.ROOT / function["Properties"]["CodeUri"] / "app.py"
        assert "def lambda_handler" in path.read_text()


def test_functions_find_tables_only_through_refs():
    variables = cfn.template()["Globals"]["Function"]["Environment"]["Variables"]
    for name in ("LEDGER_TABLE", "ACCOUNTS_TABLE", "NOTICES_TABLE", "CONFIG_TABLE"):
        assert variables[name]["Ref"] in cfn.resources("AWS::DynamoDB::Table")


# (Each function's table policies, read-only where it only reads: test_policies.py.)


def test_the_api_is_cognito_authorized_and_throttled_as_the_readme_says():
    resources = cfn.template()["Resources"]
    api = resources["Api"]["Properties"]
    # Every route of ApiFunction goes through this API, behind the Cognito authorizer
    events = resources["ApiFunction"]["Properties"]["Events"].values()
    assert {e["Type"] for e in events} == {"Api"}
    assert all(e["Properties"]["RestApiId"] == {"Ref": "Api"} for e in events)
    assert api["Auth"]["DefaultAuthorizer"] == "CognitoAuthorizer"
    assert "UserPoolArn" in api["Auth"]["Authorizers"]["CognitoAuthorizer"]
    # and every method of the stage is throttled, at the rates the README gives
    (settings,) = [m for m in api["MethodSettings"]
                   if (m["ResourcePath"], m["HttpMethod"]) == ("/*", "*")]
    rate, burst = settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]
    assert 0 < rate <= burst
    readme = (cfn.ROOT / "README.md").read_text()
    assert f"throttles the stage at {rate} requests/s (burst {burst})" in readme


def test_sample_events_exist_for_every_function():
    events = {p.name for p in (cfn.ROOT / "events").glob("*.json")}
    for stem in ("on_usage", "periodic_scan", "send_notice", "api"):
        assert any(name.startswith(stem) for name in events), stem


def _requirements(layer: str) -> set[str]:
    path = cfn.ROOT / "layers" / layer / "requirements.txt"
    return {line.split("#", 1)[0].split("==", 1)[0].strip().lower()
            for line in path.read_text().splitlines() if line.split("#", 1)[0].strip()}


def test_only_the_api_has_the_pydantic_layer_and_the_layers_share_nothing():
    # Globals give every function CommonLayer; SAM appends a function's own Layers to it.
    assert cfn.template()["Globals"]["Function"]["Layers"] == [{"Ref": "CommonLayer"}]
    for logical_id, function in cfn.resources("AWS::Serverless::Function").items():
        own = function["Properties"].get("Layers")
        assert own == ([{"Ref": "ApiLayer"}] if logical_id == "ApiFunction" else None), own
    layers = cfn.resources("AWS::Serverless::LayerVersion")
    assert {name: layer["Properties"]["ContentUri"] for name, layer in layers.items()} == {
        "CommonLayer": "layers/common/", "ApiLayer": "layers/api/"}
    common, api = _requirements("common"), _requirements("api")
    assert "pydantic" in api and "pydantic" not in common
    assert "typing-extensions" in common  # Powertools' dependency, and pydantic's
    assert not common & api
    assert not {"boto3", "botocore"} & (common | api)  # the Lambda runtime provides them


# ------------------------------------------------------------ API access logs
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "tenantId": "$context.authorizer.claims['custom:tenant_id']",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "integrationLatency": "$context.integration.latency",
    "responseLatency": "$context.responseLatency",
}


def _access_log_setting() -> dict:
    return cfn.template()["Resources"]["Api"]["Properties"]["AccessLogSetting"]


def test_the_api_writes_access_logs_to_a_log_group_with_retention():
    resources = cfn.template()["Resources"]
    destination = _access_log_setting()["DestinationArn"]
    assert destination == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    group = resources["ApiAccessLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_an_access_log_line_is_one_json_object_with_the_fields_operators_need():
    line = _access_log_setting()["Format"]
    # One line per request; every value quoted, so a variable API Gateway leaves empty
    # ("-") still makes valid JSON
    assert "\n" not in line
    fields = json.loads(line)
    assert all(isinstance(value, str) for value in fields.values())
    assert {name: fields.get(name) for name in ACCESS_LOG_FIELDS} == ACCESS_LOG_FIELDS


def test_an_access_log_line_never_holds_the_api_key_or_the_authorization_header():
    line = _access_log_setting()["Format"]
    for secret in ("$context.identity.apiKey", "apiKey", "Authorization", "authorization",
                   "$method.request.header", "$input", "$context.identity.sourceIp"):
        assert secret not in line, secret


def test_api_gateway_has_the_account_level_role_it_needs_to_write_logs():
    template = cfn.template()
    resources = template["Resources"]
    # The stage is created only once the account's CloudWatch role is set
    assert resources["Api"]["DependsOn"] == "ApiGatewayAccount"
    account = resources["ApiGatewayAccount"]
    assert account["Type"] == "AWS::ApiGateway::Account"
    assert "Condition" not in account
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::If": [
        "CreateApiGatewayCloudWatchRole", {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]},
        {"Ref": "ApiGatewayCloudWatchRoleArn"}]}
    # created unless an existing role is given, and kept with the stack's deletion (the
    # setting is the account's: other APIs keep logging through it)
    assert template["Parameters"]["ApiGatewayCloudWatchRoleArn"]["Default"] == ""
    assert cfn.has_condition("CreateApiGatewayCloudWatchRole")
    assert not cfn.has_condition("CreateApiGatewayCloudWatchRole",
                                 {"ApiGatewayCloudWatchRoleArn": "arn:aws:iam::1:role/x"})
    role = resources["ApiGatewayCloudWatchRole"]
    assert role["Condition"] == "CreateApiGatewayCloudWatchRole"
    assert role["DeletionPolicy"] == role["UpdateReplacePolicy"] == "Retain"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    (policy,) = role["Properties"]["ManagedPolicyArns"]
    assert policy["Fn::Sub"].endswith(":policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")


# ---------------------------------------------------- the scheduled scan's failures
def test_a_failed_scheduled_scan_is_retried_then_sent_to_a_queue_that_alarms():
    resources = cfn.template()["Resources"]
    props = resources["PeriodicScanFunction"]["Properties"]
    (schedule,) = [e for e in props["Events"].values() if e["Type"] == "Schedule"]
    # The schedule invokes asynchronously: Lambda's EventInvokeConfig handles a failure
    # of the function (an error, a timeout); the rule's own DLQ would only see events
    # EventBridge could not hand to Lambda (docs/decisions.md)
    assert "DeadLetterConfig" not in schedule["Properties"]
    config = cfn.async_invoke_config("PeriodicScanFunction")
    assert config.maximum_retry_attempts == props["EventInvokeConfig"][
        "MaximumRetryAttempts"] == 2
    assert props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    queue = resources[config.on_failure]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["MessageRetentionPeriod"] == 1209600
    # the function may send to it
    assert {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": [config.on_failure,
                                                                  "QueueName"]}}} \
        in props["Policies"]
    # and a message in it alarms
    (alarm,) = [a["Properties"] for a in cfn.resources("AWS::CloudWatch::Alarm").values()
                if a["Properties"]["Namespace"] == "AWS/SQS"
                and a["Properties"]["Dimensions"] == [
                    {"Name": "QueueName",
                     "Value": {"Fn::GetAtt": [config.on_failure, "QueueName"]}}]]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_local_runtime_retries_a_failed_scheduled_scan_then_queues_its_event(
        aws, monkeypatch):
    import functions.periodic_scan.app as periodic_scan

    # Given a scan that fails every time
    calls = []

    def failing_scan(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("the scan failed")

    monkeypatch.setattr(periodic_scan, "scan", failing_scan)
    # When the schedule fires
    assert aws.fire_schedule() is None
    # Then the invocation was tried 1 + MaximumRetryAttempts times, and the event went to
    # the on-failure queue, in the record Lambda sends
    assert len(calls) == 3
    sqs = aws.client("sqs")
    (message,) = sqs.receive_message(
        QueueUrl=aws.queue_urls["PeriodicScanFailureQueue"])["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"]["detail-type"] == "Scheduled Event"
    assert record["responsePayload"]["errorMessage"] == "the scan failed"


# ----------------------------------------------------------- customer managed key
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
WITH_KEY = {"KmsKeyArn": KEY}


def _resolved(logical_id: str, parameters: dict | None = None) -> dict:
    return cfn.resolve(cfn.template()["Resources"][logical_id]["Properties"], parameters)


def test_the_kms_key_is_an_optional_parameter():
    template = cfn.template()
    assert template["Parameters"]["KmsKeyArn"]["Default"] == ""
    assert template["Conditions"]["HasKmsKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]}
    assert not cfn.has_condition("HasKmsKey")
    assert cfn.has_condition("HasKmsKey", WITH_KEY)


@pytest.mark.parametrize("table", sorted(MODELS))
def test_tables_use_the_key_when_given_and_aws_managed_encryption_otherwise(table):
    raw = cfn.template()["Resources"][table]["Properties"]["SSESpecification"]
    assert raw["Fn::If"][0] == "HasKmsKey"
    assert _resolved(table)["SSESpecification"] == {"SSEEnabled": True}
    assert _resolved(table, WITH_KEY)["SSESpecification"] == {
        "SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY}


@pytest.mark.parametrize("queue", sorted(cfn.resources("AWS::SQS::Queue")))
def test_queues_use_the_key_when_given_and_sqs_managed_encryption_otherwise(queue):
    without, with_key = _resolved(queue), _resolved(queue, WITH_KEY)
    assert without.get("SqsManagedSseEnabled") is True and "KmsMasterKeyId" not in without
    assert with_key["KmsMasterKeyId"] == KEY and "SqsManagedSseEnabled" not in with_key


@pytest.mark.parametrize("logical_id", sorted(
    [*cfn.resources("AWS::Logs::LogGroup"), *cfn.resources("AWS::SecretsManager::Secret")]))
def test_log_groups_and_the_cursor_secret_use_the_key_when_given(logical_id):
    assert "KmsKeyId" not in _resolved(logical_id)
    assert _resolved(logical_id, WITH_KEY)["KmsKeyId"] == KEY


def _kms_statements(function: str, parameters: dict | None) -> list[dict]:
    policies = _resolved(function, parameters)["Policies"]
    statements = [statement for policy in policies for statement in policy.get("Statement", [])]
    return [statement for statement in statements
            if any(str(action).startswith("kms:") for action in (
                [statement["Action"]] if isinstance(statement["Action"], str)
                else statement["Action"]))]


@pytest.mark.parametrize("function", sorted(cfn.resources("AWS::Serverless::Function")))
def test_functions_may_use_the_key_only_when_it_is_given(function):
    assert _kms_statements(function, None) == []
    (statement,) = _kms_statements(function, WITH_KEY)
    assert statement == {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                         "Resource": KEY}


def test_the_key_is_used_nowhere_but_behind_the_condition():
    def refs(node, guarded=False, path="") -> list[str]:
        found = []
        if isinstance(node, dict):
            if node == {"Ref": "KmsKeyArn"} and not guarded:
                found.append(path)
            if_args = node.get("Fn::If")
            for key, value in node.items():
                inside = guarded or (key == "Fn::If" and if_args[0] == "HasKmsKey")
                found += refs(value, inside, f"{path}/{key}")
        elif isinstance(node, list):
            for number, value in enumerate(node):
                found += refs(value, guarded, f"{path}/{number}")
        return found

    template = cfn.template()
    assert refs(template["Resources"]) == []
    assert refs(template.get("Outputs", {})) == []


def test_the_local_runtime_creates_plain_tables_whatever_the_encryption():
    def intrinsics(node) -> list:
        if isinstance(node, dict):
            return [key for key in node if key == "Ref" or key.startswith("Fn::")] + [
                found for value in node.values() for found in intrinsics(value)]
        if isinstance(node, list):
            return [found for value in node for found in intrinsics(value)]
        return []

    requests = cfn.create_table_requests()
    assert set(requests) == set(MODELS)
    for request in requests.values():
        assert "SSESpecification" not in request  # moto's default; the key is AWS's concern
        assert intrinsics(request) == []


def test_every_parameter_is_in_the_readmes_parameters_table():
    readme = (cfn.ROOT / "README.md").read_text()
    for name in cfn.template()["Parameters"]:
        assert f"| `{name}` |" in readme, name
