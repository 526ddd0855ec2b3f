"""Turn a stored profile document into domain objects: the fields every rule has here,
the fields of its type by its module in domain/rules/."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import Profile, Rule
from .rules import REGISTRY


def rule_from_dict(data: Mapping[str, Any]) -> Rule:
    rule_type = str(data["type"])
    known = REGISTRY.get(rule_type)
    return Rule(
        id=str(data["id"]),
        type=rule_type,
        notify=tuple(data.get("notify") or ("customer",)),
        cc_emails=tuple(data.get("cc_emails") or ()),
        staff_emails=tuple(data.get("staff_emails") or ()),
        **(known.parse(data) if known is not None else {}),
    )


def profile_from_dict(profile_id: str, data: Mapping[str, Any]) -> Profile:
    return Profile(
        id=profile_id,
        name=str(data.get("name", "")),
        rules=tuple(rule_from_dict(rule) for rule in data.get("rules") or ()),
        reminder_every_hours=(
            None if data.get("reminder_every_hours") is None else int(data["reminder_every_hours"])
        ),
        max_reminders=int(data.get("max_reminders") or 0),
    )
