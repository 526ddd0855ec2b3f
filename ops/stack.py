"""Where the deployed resources are, and how to run a function.

``Stack.from_cloudformation`` reads a deployed stack's resources (tables, queues,
functions) and invokes the functions on Lambda. ``Stack.local`` uses the names the local
runtime gives them (template.yaml's logical ids under ``balance-alerts-``), for
``make serve`` or tests, and runs the handlers in this process.

``apply_env`` sets LEDGER_TABLE and the others before anything of ``balance_alerts`` is
imported (its table models read them once, as a Lambda cold start does).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from local import cfn

Invoker = Callable[[str, dict[str, Any]], dict[str, Any]]

TABLE_ENV = {"LedgerTable": "LEDGER_TABLE", "AccountsTable": "ACCOUNTS_TABLE",
             "NoticesTable": "NOTICES_TABLE", "ConfigTable": "CONFIG_TABLE"}


class FunctionFailed(RuntimeError):
    """The function returned an error (not a partial batch failure)."""


@dataclass
class Stack:
    tables: dict[str, str]  # logical id -> physical name
    queues: dict[str, str]  # logical id -> queue URL
    functions: dict[str, str]  # logical id -> physical name
    invoke: Invoker
    region: str | None = None
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, region_name=self.region, endpoint_url=self.endpoint_url)
        return self._clients[service]

    def query_all(self, **request: Any) -> list[dict[str, Any]]:
        """Every item a DynamoDB Query returns (raw), following LastEvaluatedKey."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.client("dynamodb").query(**request)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def apply_env(self) -> None:
        """Point the product's code (table models, clients) at this stack."""
        for logical_id, variable in TABLE_ENV.items():
            if logical_id in self.tables:
                os.environ[variable] = self.tables[logical_id]
        if self.region:
            os.environ.setdefault("AWS_REGION", self.region)
            os.environ.setdefault("AWS_DEFAULT_REGION", self.region)
        if self.endpoint_url:  # a moto server: any credentials sign its requests
            os.environ["AWS_ENDPOINT_URL"] = self.endpoint_url
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.setdefault(name, "testing")

    def table_of_stream(self, stream_arn: str) -> str:
        """The logical id of the table whose stream this is."""
        name = stream_arn.split(":table/", 1)[-1].split("/stream/", 1)[0]
        for logical_id, physical in self.tables.items():
            if physical == name:
                return logical_id
        raise LookupError(f"no table of this stack has the stream {stream_arn}")

    def queue(self, name: str) -> str:
        """A queue URL from a logical id, an alias (``on-usage``, ``send-notice``) or a URL."""
        aliases = {"on-usage": "OnUsageFailureQueue", "send-notice": "SendNoticeFailureQueue"}
        if name.startswith(("https://", "http://")):
            return name
        logical_id = aliases.get(name, name)
        if logical_id not in self.queues:
            raise LookupError(f"unknown queue {name!r}: use on-usage, send-notice or a URL")
        return self.queues[logical_id]

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_cloudformation(cls, stack_name: str, *, region: str | None = None) -> Stack:
        session = boto3.session.Session(region_name=region)
        resources = session.client("cloudformation").describe_stack_resources(
            StackName=stack_name)["StackResources"]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        kinds = {r["LogicalResourceId"]: r["ResourceType"] for r in resources}
        lambda_client = session.client("lambda")
        functions = {k: v for k, v in physical.items() if kinds[k] == "AWS::Lambda::Function"}

        def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
            response = lambda_client.invoke(FunctionName=functions[function],
                                            InvocationType="RequestResponse",
                                            Payload=json.dumps(event).encode())
            payload = json.loads(response["Payload"].read() or b"null")
            if response.get("FunctionError"):
                raise FunctionFailed(f"{function}: {payload}")
            return payload or {}

        return cls(
            tables={k: v for k, v in physical.items() if kinds[k] == "AWS::DynamoDB::Table"},
            queues={k: v for k, v in physical.items() if kinds[k] == "AWS::SQS::Queue"},
            functions=functions, invoke=invoke, region=session.region_name,
        )

    @classmethod
    def local(cls, *, invoke: Invoker | None = None, endpoint_url: str | None = None,
              region: str | None = None) -> Stack:
        """The local runtime's names; handlers run in this process unless ``invoke``."""
        region = region or os.environ.get("AWS_REGION") or os.environ.get(
            "AWS_DEFAULT_REGION") or "us-east-1"
        if endpoint_url:
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.setdefault(name, "testing")
        tables = {logical_id: cfn.physical_name(logical_id)
                  for logical_id in cfn.resources("AWS::DynamoDB::Table")}
        functions = {logical_id: cfn.physical_name(logical_id)
                     for logical_id in cfn.resources("AWS::Serverless::Function")}
        stack = cls(tables=tables, queues={}, functions=functions,
                    invoke=invoke or _in_process, region=region, endpoint_url=endpoint_url)
        sqs = stack.client("sqs")
        for logical_id in cfn.resources("AWS::SQS::Queue"):
            try:
                stack.queues[logical_id] = sqs.get_queue_url(
                    QueueName=cfn.physical_name(logical_id))["QueueUrl"]
            except sqs.exceptions.QueueDoesNotExist:
                continue
        return stack


def _in_process(function: str, event: dict[str, Any]) -> dict[str, Any]:
    from local.runtime import LambdaContext

    module = importlib.import_module(cfn.handler_module(function))
    return module.lambda_handler(event, LambdaContext(cfn.physical_name(function))) or {}


def stream_functions() -> dict[str, cfn.StreamMapping]:
    """Table logical id -> the stream mapping that reads it (from template.yaml)."""
    return {mapping.table: mapping for mapping in cfn.stream_mappings()}
