"""Read template.yaml (with its short-form intrinsic tags) and derive what the local
runtime needs from it: tables, queues, environment variables, stream mappings, the
asynchronous invocation settings of the scheduled function.

Properties the local runtime does not use (encryption, log groups, the API's stage) may
hold conditions (``Fn::If``); ``resolve`` evaluates them for given parameter values, the
way CloudFormation does, for tests that look at the template as deployed."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
STACK = "balance-alerts"
#: The local runtime's key for the API's paging cursors (``CURSOR_SECRET``). A deployed
#: stack generates its own (``CursorSecret`` in template.yaml, Secrets Manager) and
#: ApiFunction does not start without one; this one is public, so it is for local runs,
#: tests and benchmarks only.
LOCAL_CURSOR_SECRET = "balance-alerts-local-cursor-secret-not-for-deployment"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps !Ref, !GetAtt, !Sub ... as {"Ref": ...}-style dicts."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@lru_cache(maxsize=1)
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template()["Resources"].items()
        if resource["Type"] == kind
    }


NO_VALUE = object()  # what ``Ref: AWS::NoValue`` resolves to: the key is dropped


def resolve(value: Any, parameters: dict[str, str] | None = None) -> Any:
    """``value`` with its conditions evaluated for ``parameters`` (others: their
    defaults): ``Fn::If`` picks its branch, ``Ref`` to ``AWS::NoValue`` drops the key or
    item, ``Ref`` to a parameter becomes its value. Other intrinsics are left as they are."""
    params = {name: str(spec.get("Default", ""))
              for name, spec in template().get("Parameters", {}).items()}
    params.update(parameters or {})
    conditions = template().get("Conditions", {})

    def condition(name_or_expr: Any) -> bool:
        expr = conditions[name_or_expr] if isinstance(name_or_expr, str) else name_or_expr
        (function, args), = expr.items()
        if function == "Fn::Equals":
            left, right = (walk(arg) for arg in args)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not condition(args[0])
        if function == "Fn::And":
            return all(condition(arg) for arg in args)
        if function == "Fn::Or":
            return any(condition(arg) for arg in args)
        if function == "Condition":
            return condition(args)
        raise ValueError(f"unsupported condition function {function}")

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, if_true, if_false = node["Fn::If"]
                return walk(if_true if condition(name) else if_false)
            if set(node) == {"Ref"}:
                if node["Ref"] == "AWS::NoValue":
                    return NO_VALUE
                if node["Ref"] in params:
                    return params[node["Ref"]]
                return node
            resolved = {key: walk(item) for key, item in node.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(node, list):
            return [item for item in (walk(item) for item in node) if item is not NO_VALUE]
        return node

    return walk(value)


def has_condition(name: str, parameters: dict[str, str] | None = None) -> bool:
    """Whether the template's condition ``name`` holds for ``parameters``."""
    return bool(resolve({"Fn::If": [name, True, False]}, parameters))


def physical_name(logical_id: str) -> str:
    return f"{STACK}-{logical_id}"


def table_env() -> dict[str, str]:
    """Environment variable -> physical table name, from the Globals' ``!Ref`` values."""
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    tables = resources("AWS::DynamoDB::Table")
    env = {}
    for name, value in variables.items():
        if isinstance(value, dict) and value.get("Ref") in tables:
            env[name] = physical_name(value["Ref"])
    return env


def function_env() -> dict[str, str]:
    """Every plain (non-intrinsic) variable of Globals, with parameter defaults resolved,
    the tables' names, and the local stand-in for the secret the stack resolves
    (``CURSOR_SECRET``: ``LOCAL_CURSOR_SECRET``)."""
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    parameters = template().get("Parameters", {})
    env = {}
    for name, value in variables.items():
        if isinstance(value, str):
            env[name] = value
        elif isinstance(value, dict) and value.get("Ref") in parameters:
            env[name] = str(parameters[value["Ref"]].get("Default", ""))
    env.update(table_env())
    env["CURSOR_SECRET"] = LOCAL_CURSOR_SECRET
    return env


def create_table_requests() -> dict[str, dict[str, Any]]:
    """CreateTable parameters for every table of the template, keyed by logical id."""
    requests = {}
    for logical_id, resource in resources("AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        request: dict[str, Any] = {
            "TableName": physical_name(logical_id),
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(index_kind):
                request[index_kind] = props[index_kind]
        if props.get("StreamSpecification"):
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": props["StreamSpecification"]["StreamViewType"],
            }
        requests[logical_id] = request
    return requests


@dataclass(frozen=True)
class StreamMapping:
    function: str  # logical id of the function
    handler_module: str  # e.g. functions.on_usage.app
    table: str  # logical id of the table
    batch_size: int
    maximum_retry_attempts: int
    bisect: bool
    report_batch_item_failures: bool
    event_names: tuple[str, ...]
    on_failure: str | None = None  # logical id of the on-failure destination (a queue)


def stream_mappings() -> list[StreamMapping]:
    """The DynamoDB stream event sources of every function, as the template declares them."""
    import json

    mappings = []
    for logical_id, resource in resources("AWS::Serverless::Function").items():
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event["Type"] != "DynamoDB":
                continue
            ep = event["Properties"]
            names: tuple[str, ...] = ("INSERT", "MODIFY", "REMOVE")
            for flt in (ep.get("FilterCriteria") or {}).get("Filters", []):
                pattern = json.loads(flt["Pattern"])
                names = tuple(pattern.get("eventName", names))
            mappings.append(
                StreamMapping(
                    function=logical_id,
                    handler_module=_handler_module(props),
                    table=ep["Stream"]["Fn::GetAtt"][0],
                    batch_size=int(ep.get("BatchSize", 100)),
                    maximum_retry_attempts=int(ep.get("MaximumRetryAttempts", -1)),
                    bisect=bool(ep.get("BisectBatchOnFunctionError", False)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (ep.get("FunctionResponseTypes") or []),
                    event_names=names,
                    on_failure=_on_failure(ep),
                )
            )
    return mappings


@dataclass(frozen=True)
class AsyncInvokeConfig:
    """How Lambda handles a failed asynchronous invocation of a function (the schedule's):
    retries, then the on-failure destination (``EventInvokeConfig``)."""

    function: str
    maximum_retry_attempts: int
    on_failure: str | None  # logical id of the destination (a queue)


def async_invoke_config(function_logical_id: str) -> AsyncInvokeConfig:
    """The function's ``EventInvokeConfig`` (Lambda's defaults when it has none: two
    retries, no destination)."""
    props = template()["Resources"][function_logical_id]["Properties"]
    config = props.get("EventInvokeConfig") or {}
    return AsyncInvokeConfig(
        function=function_logical_id,
        maximum_retry_attempts=int(config.get("MaximumRetryAttempts", 2)),
        on_failure=_on_failure(config),
    )


def _on_failure(event_properties: dict[str, Any]) -> str | None:
    destination = ((event_properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
        "Destination")
    if isinstance(destination, dict) and "Fn::GetAtt" in destination:
        return str(destination["Fn::GetAtt"][0])
    return None


def _handler_module(props: dict[str, Any]) -> str:
    code = props["CodeUri"].strip("/").replace("/", ".")
    module = props["Handler"].rsplit(".", 1)[0]
    return f"{code}.{module}"


def handler_module(function_logical_id: str) -> str:
    return _handler_module(template()["Resources"][function_logical_id]["Properties"])
