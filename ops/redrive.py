"""``redrive``: send ``failed`` notices again once their cause is fixed (a sender verified,
a template corrected, an address added), and push ``pending`` notices that are stuck.

How send_notice gets to see them. Its stream mapping filters INSERT only, so changing a
notice's status back to ``pending`` (a MODIFY) reaches nobody. The choice here: keep the
notice item where it is (same key, same data, its history kept) and

1. reset it with one conditional UpdateItem: ``status`` failed -> pending (only if it is
   still ``failed``), the failure moved to ``redrive_reason``, ``redrives`` + 1, the
   published marker cleared so the new outcome is published as an event;
2. invoke SendNoticeFunction with a stream-shaped INSERT record naming the notice - the
   same code, permissions, SES configuration and error handling as a stream delivery.

The rejected alternative - delete the item and put it back to get a new INSERT - leaves
a window in which the notice does not exist at all (a crash there loses it) and erases
its history. Here a crash between 1 and 2 leaves a ``pending`` notice, which
``redrive --status pending`` picks up. Delivery itself stays idempotent: send_notice
decides on the notice's current status and skips audiences already delivered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError

from .stack import Stack


@dataclass
class Redriven:
    account_key: str
    notice_key: str
    before: str  # status before
    reason: str | None  # the failure that was fixed
    after: str | None = None  # status after the delivery attempt
    after_reason: str | None = None
    skipped: str | None = None  # why it was left alone

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def find(stack: Stack, tenant_id: str, *, account_id: str | None = None,
         notice_keys: list[str] | None = None, status: str = "failed",
         older_than: timedelta = timedelta(minutes=15)) -> list[dict[str, Any]]:
    """The notices to re-drive (raw items): ``failed`` ones, or ``pending`` ones created
    more than ``older_than`` ago (stuck), of one account or of every account of a tenant."""
    if account_id is not None:
        accounts = [account_id]
    else:
        accounts = [item["account_id"]["S"] for item in stack.query_all(
            TableName=stack.tables["AccountsTable"],
            KeyConditionExpression="tenant_id = :t",
            ExpressionAttributeValues={":t": {"S": tenant_id}},
            ProjectionExpression="account_id")
            if not item["account_id"]["S"].startswith("~")]
    horizon = (datetime.now(timezone.utc) - older_than).isoformat()
    found = []
    for account in accounts:
        for item in stack.query_all(
                TableName=stack.tables["NoticesTable"],
                KeyConditionExpression="account_key = :k",
                FilterExpression="#s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":k": {"S": f"{tenant_id}#{account}"},
                                           ":s": {"S": status}},
                ConsistentRead=True):
            if notice_keys and item["notice_key"]["S"] not in notice_keys:
                continue
            if status == "pending" and item.get("created_at", {}).get("S", "") > horizon:
                continue  # young: the stream delivers it
            found.append(item)
    return found


def redrive(stack: Stack, items: list[dict[str, Any]], *, dry_run: bool = False,
            attempts: int = 3) -> list[Redriven]:
    dynamodb = stack.client("dynamodb")
    table = stack.tables["NoticesTable"]
    results = []
    for item in items:
        key = {"account_key": item["account_key"], "notice_key": item["notice_key"]}
        result = Redriven(item["account_key"]["S"], item["notice_key"]["S"],
                          item["status"]["S"], item.get("reason", {}).get("S"))
        results.append(result)
        if dry_run:
            continue
        if result.before == "failed":
            try:
                dynamodb.update_item(
                    TableName=table, Key=key,
                    UpdateExpression=("SET #s = :pending, redrive_reason = :reason, "
                                      "redriven_at = :now ADD redrives :one "
                                      "REMOVE reason, published"),
                    ConditionExpression="#s = :failed",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":pending": {"S": "pending"}, ":failed": {"S": "failed"},
                        ":reason": {"S": result.reason or ""}, ":one": {"N": "1"},
                        ":now": {"S": datetime.now(timezone.utc).isoformat()}},
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                result.skipped = "no longer failed (changed meanwhile)"
                continue
        for _ in range(max(1, attempts)):
            response = stack.invoke("SendNoticeFunction", {"Records": [_insert_record(key)]})
            if not (response or {}).get("batchItemFailures"):
                break
        now = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
        result.after = now["status"]["S"]
        result.after_reason = now.get("reason", {}).get("S")
    return results


def _insert_record(key: dict[str, Any]) -> dict[str, Any]:
    """A NoticesTable INSERT record naming the notice (send_notice re-reads the item)."""
    return {
        "eventID": f"redrive-{uuid.uuid4()}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": key, "NewImage": key, "SequenceNumber": "0",
                     "StreamViewType": "NEW_IMAGE"},
    }
