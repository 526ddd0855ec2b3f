"""What every rule type shares: the interface a rule module implements, the context an
account's rules are evaluated in, and how a due notice is drafted.

A rule type is one module in this package with one ``RuleType`` instance, registered in
``rules/__init__.py``. Each hook gets *all* the profile's rules of its type (some
semantics span them: only the lowest of several levels crossed at once is sent) and an
``Evaluation``, whose ``state`` is the caller's private copy: a hook updates the
account's latches in place and returns the notices that became due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from ..model import AccountState, Entry, NoticeDraft, Profile, Rule


@dataclass(frozen=True)
class RuleContext:
    """What rules need besides the account: its profile and its class's enabled types."""

    profile: Profile | None = None
    enabled_types: frozenset[str] | None = None
    class_id: str | None = None
    track_packages_by: str = "account"  # tenant setting: "account" | "member"


@dataclass
class Evaluation:
    """One evaluation of an account's rules: right after ``entry`` was applied, or at a
    scan (``entry`` None). ``now`` is when its notices are created."""

    state: AccountState
    context: RuleContext
    profile: Profile
    now: datetime
    entry: Entry | None = None

    def notice(
        self,
        rule: Rule,
        notice_type: str,
        *,
        episode: int,
        level: str,
        variables: Mapping[str, Any],
        reminder: int = 0,
        episode_key: str | None = None,
    ) -> NoticeDraft:
        return draft_notice(
            rule,
            notice_type,
            episode=episode,
            level=level,
            reminder=reminder,
            created_at=self.now.isoformat(),
            variables=variables,
            context=self.context,
            entry_id=self.entry.entry_id if self.entry else None,
            episode_key=episode_key,
        )


class RuleType:
    """The interface of a rule type. Every hook has a harmless default, so a module
    implements only the moments at which its rule can be due."""

    name: ClassVar[str]
    #: The notice types it creates, its main one first (the one reminders repeat).
    notice_types: ClassVar[tuple[str, ...]]

    def parse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The ``Rule`` fields of this type, from a stored rule document."""
        return {}

    def level(self, rule: Rule) -> str:
        """The rule's level as it shows in a notice (and its key)."""
        return format(rule.threshold, "f") if rule.threshold is not None else "0"

    def rule_variables(self, rule: Rule, profile: Profile) -> dict[str, Any]:
        """The template variables that come from the rule and its profile rather than
        from the account (a preview with an account's data shows them)."""
        return {}

    def after_entry(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        """Notices due right after an entry was applied."""
        return []

    def at_scan(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        """Notices due at a periodic scan (before any reminder)."""
        return []

    def reminders(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        """Reminders due at a periodic scan (after every type's ``at_scan``)."""
        return []

    def needs_watch(
        self, rules: tuple[Rule, ...], state: AccountState, profile: Profile, now: datetime
    ) -> bool:
        """Whether a later scan could find a notice of this type due (see domain/watch.py).
        May re-arm latches that a rising balance re-armed."""
        return False


def draft_notice(
    rule: Rule,
    notice_type: str,
    *,
    episode: int,
    level: str,
    reminder: int,
    created_at: str,
    variables: Mapping[str, Any],
    context: RuleContext,
    entry_id: str | None = None,
    episode_key: str | None = None,
) -> NoticeDraft:
    """A notice for ``rule``; suppressed (with the reason) when the class disables its type."""
    status, reason = "pending", ""
    if context.enabled_types is not None and notice_type not in context.enabled_types:
        status = "suppressed"
        reason = f"notice type {notice_type} is disabled for class {context.class_id}"
    return NoticeDraft(
        rule_id=rule.id,
        type=notice_type,
        episode=episode,
        level=level,
        reminder=reminder,
        audiences=tuple(rule.notify),
        created_at=created_at,
        variables={
            key: format(value, "f") if isinstance(value, Decimal) else value
            for key, value in variables.items()
        }
        | {"rule": {"cc_emails": list(rule.cc_emails), "staff_emails": list(rule.staff_emails)}},
        status=status,
        reason=reason,
        entry_id=entry_id,
        episode_key=episode_key,
    )


def decimal_or_none(value: Any) -> Decimal | None:
    """A stored decimal (string or number) as a Decimal; None stays None."""
    return None if value is None else Decimal(str(value))
