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
