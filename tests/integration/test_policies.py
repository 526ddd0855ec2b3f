"""Each function's DynamoDB policies are SAM policy templates scoped to the tables it
uses, read-only where it only reads, and without DeleteItem (CRUD) unless it deletes."""

from __future__ import annotations

import pytest

from local import cfn

READ, WRITE, CRUD = "DynamoDBReadPolicy", "DynamoDBWritePolicy", "DynamoDBCrudPolicy"
EXPECTED = {
    "ApiFunction": {
        "LedgerTable": {READ, WRITE},  # entries and purchases; append-only, never deleted
        "AccountsTable": {READ, WRITE},  # settings, rewatch requests
        "ConfigTable": {CRUD},  # DELETE /templates/... removes an override
        "NoticesTable": {READ},  # the notice log
    },
    "OnUsageFunction": {
        "LedgerTable": {READ, WRITE},  # retired packages; rejected_reason, archives
        "AccountsTable": {READ, WRITE},
        "NoticesTable": {WRITE},
        "ConfigTable": {READ},
    },
    "PeriodicScanFunction": {
        "AccountsTable": {CRUD},  # deletes the rewatch requests it has handled
        "NoticesTable": {WRITE},
        "ConfigTable": {READ},
    },
    "SendNoticeFunction": {
        "NoticesTable": {READ, WRITE},  # status, attempts, reason
        "AccountsTable": {READ},
        "ConfigTable": {READ},
    },
}


def table_policies(function: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for policy in cfn.template()["Resources"][function]["Properties"]["Policies"]:
        (name, value), = policy.items()
        if name.startswith("DynamoDB"):
            found.setdefault(value["TableName"]["Ref"], set()).add(name)
    return found


def test_every_function_is_listed():
    assert set(cfn.resources("AWS::Serverless::Function")) == set(EXPECTED)


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_table_policies_are_scoped_to_what_the_function_does(function):
    assert table_policies(function) == EXPECTED[function]


def test_no_function_has_unscoped_dynamodb_statements():
    for function in EXPECTED:
        for policy in cfn.template()["Resources"][function]["Properties"]["Policies"]:
            for statement in policy.get("Statement", []):
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                assert not any(a.startswith("dynamodb:") for a in actions), (function, actions)
