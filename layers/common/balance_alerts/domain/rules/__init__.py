"""The rule types, one module each, and the two moments they are evaluated at.

``REGISTRY`` is the one list of rule types; its order is the order in which their
notices are drafted. ``on_entry`` runs after each applied entry (on_usage), ``on_scan``
at a periodic scan (periodic_scan); both are pure: they update the latches of the state
they are given and return the notices due. ``needs_watch`` (domain/watch.py) asks each
type whether a later scan could find something due.

Adding a rule type: a module here with a ``RuleType`` instance named ``RULE``, its line
in ``REGISTRY``, and its default templates (docs/architecture.md walks through one).
"""

from __future__ import annotations

import copy
from datetime import datetime

from ..model import AccountState, Entry, NoticeDraft
from . import balance_below, inactive, package_below, runs_out
from .base import Evaluation, RuleContext, RuleType, draft_notice

REGISTRY: dict[str, RuleType] = {
    rule_type.name: rule_type
    for rule_type in (balance_below.RULE, runs_out.RULE, inactive.RULE, package_below.RULE)
}

RULE_TYPES: tuple[str, ...] = tuple(REGISTRY)
NOTICE_TYPES: tuple[str, ...] = tuple(
    notice_type for rule_type in REGISTRY.values() for notice_type in rule_type.notice_types
)

__all__ = ["NOTICE_TYPES", "REGISTRY", "RULE_TYPES", "Evaluation", "RuleContext", "RuleType",
           "draft_notice", "on_entry", "on_scan", "rule_type_of"]


def rule_type_of(notice_type: str) -> str | None:
    """The rule type that creates ``notice_type``."""
    return next((name for name, rule_type in REGISTRY.items()
                 if notice_type in rule_type.notice_types), None)


def on_entry(state: AccountState, context: RuleContext, now: datetime,
             entry: Entry | None = None) -> list[NoticeDraft]:
    """The notices due right after ``entry`` was applied to ``state`` (updated in place:
    the caller owns it)."""
    profile = context.profile
    if profile is None:
        return []
    run = Evaluation(state, context, profile, now, entry)
    notices: list[NoticeDraft] = []
    for name, rule_type in REGISTRY.items():
        rules = profile.rules_of(name)
        if rules:
            notices += rule_type.after_entry(rules, run)
    return notices


def on_scan(state: AccountState, context: RuleContext, as_of: datetime
            ) -> tuple[AccountState, list[NoticeDraft]]:
    """The state after a scan at ``as_of`` and the notices due (``state`` is not
    changed): every type's own notices first, then the reminders."""
    work = copy.deepcopy(state)
    profile = context.profile
    if profile is None:
        return work, []
    run = Evaluation(work, context, profile, as_of)
    notices: list[NoticeDraft] = []
    present = [(rule_type, profile.rules_of(name)) for name, rule_type in REGISTRY.items()]
    for rule_type, rules in present:
        if rules:
            notices += rule_type.at_scan(rules, run)
    if profile.reminder_every_hours and profile.max_reminders > 0:
        for rule_type, rules in present:
            if rules:
                notices += rule_type.reminders(rules, run)
    return work, notices
