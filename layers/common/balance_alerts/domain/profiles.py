"""Turn a stored profile document into domain objects."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .model import Profile, Rule


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def rule_from_dict(data: dict[str, Any]) -> Rule:
    return Rule(
        id=str(data["id"]),
        type=str(data["type"]),
        notify=tuple(data.get("notify") or ("customer",)),
        threshold=_decimal(data.get("threshold")),
        notify_recovery=bool(data.get("notify_recovery", False)),
        days=tuple(int(day) for day in data.get("days") or ()),
        inactive_days=None if data.get("inactive_days") is None else int(data["inactive_days"]),
        remaining=_decimal(data.get("remaining")),
        percent=_decimal(data.get("percent")),
        service=data.get("service"),
        cc_emails=tuple(data.get("cc_emails") or ()),
        staff_emails=tuple(data.get("staff_emails") or ()),
    )


def profile_from_dict(profile_id: str, data: dict[str, Any]) -> Profile:
    return Profile(
        id=profile_id,
        name=str(data.get("name", "")),
        rules=tuple(rule_from_dict(rule) for rule in data.get("rules") or ()),
        reminder_every_hours=(
            None if data.get("reminder_every_hours") is None else int(data["reminder_every_hours"])
        ),
        max_reminders=int(data.get("max_reminders") or 0),
    )
