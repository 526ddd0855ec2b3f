"""The EventBridge event of each notice: source ``balance-alerts``, detail type the notice
type, on the bus ``EVENT_BUS_NAME`` (``default`` unless set). The detail holds
identifiers and the outcome, never an email address or a name."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..observability import mask_emails
from . import session
from .errors import describe
from .settings import settings
from .tables import NoticeItem

EVENT_SOURCE = "balance-alerts"

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10
)


class PublishFailed(Exception):
    """The event did not reach the bus; publishing it again may succeed."""


@cache
def client() -> Any:
    """The container's EventBridge client (botocore's, from the session the tables share,
    made on first use)."""
    return session.botocore_session().create_client(
        "events", region_name=settings().region, config=_CLIENT_CONFIG)


def event_detail(notice: NoticeItem) -> dict[str, Any]:
    """The event of a notice: identifiers and outcome, no email address, no name."""
    return {
        "notice_id": notice.notice_key,
        "tenant_id": notice.tenant_id,
        "account_id": notice.account_id,
        "type": notice.type,
        "rule_id": notice.rule_id,
        "level": notice.level,
        "episode": int(notice.episode),
        "reminder": int(notice.reminder or 0),
        "status": notice.status,
        "reason": mask_emails(notice.reason) if notice.reason else None,
        "created_at": notice.created_at,
        "sent_at": notice.sent_at,
    }


def publish(notice: NoticeItem) -> None:
    """Put the notice's event on the bus. Raises PublishFailed when it did not get there."""
    try:
        response = client().put_events(Entries=[{
            "Source": EVENT_SOURCE,
            "DetailType": notice.type,
            "Detail": json.dumps(event_detail(notice)),
            "EventBusName": settings().event_bus_name,
        }])
    except (ClientError, BotoCoreError) as error:
        raise PublishFailed(f"EventBridge: {describe(error)}") from None
    if response.get("FailedEntryCount"):
        entry = (response.get("Entries") or [{}])[0]
        raise PublishFailed(
            f"EventBridge: {entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
