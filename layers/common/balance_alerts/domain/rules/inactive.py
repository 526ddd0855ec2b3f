"""``inactive``: a balance below the rule's threshold and no charge for
``inactive_days`` (counted from the account's creation if it was never charged), found
by the scan. Once per episode, with reminders; the episode ends on a charge or when the
balance is at or above the threshold. Post-paid and inactive accounts get none.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..model import AccountState, NoticeDraft, Profile, Rule
from . import reminders
from .base import Evaluation, RuleType, decimal_or_none


def idle_since(state: AccountState) -> datetime | None:
    moment = state.last_charge_at or state.created_at
    return datetime.fromisoformat(moment) if moment else None


class Inactive(RuleType):
    name = "inactive"
    notice_types = ("inactive",)

    def parse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        days = data.get("inactive_days")
        return {"threshold": decimal_or_none(data.get("threshold")),
                "inactive_days": None if days is None else int(days)}

    def rule_variables(self, rule: Rule, profile: Profile) -> dict[str, Any]:
        return reminders.rule_variables(rule, profile)

    def after_entry(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        """A charge, or a balance back at/above the threshold, ends the episode."""
        state = run.state
        charged = bool(run.entry and run.entry.is_activity)
        for rule in rules:
            latch = state.latches.get(rule.id)
            if latch and latch.open and (
                charged or rule.threshold is None or state.balance >= rule.threshold
            ):
                latch.open = False
                latch.notified = False
                latch.reminders = 0
        return []

    def at_scan(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        state = run.state
        if not state.eligible_for_money_notices:
            return []
        since = idle_since(state)
        notices = []
        for rule in rules:
            if rule.threshold is None or rule.inactive_days is None or since is None:
                continue
            latch = state.latch(rule.id)
            idle = run.now - since >= timedelta(days=rule.inactive_days)
            if not (idle and state.balance < rule.threshold):
                if latch.open and state.balance >= rule.threshold:
                    latch.open, latch.notified, latch.reminders = False, False, 0
                continue
            if latch.open:
                continue
            latch.open = True
            latch.episode += 1
            latch.notified = True
            latch.reminders = 0
            latch.last_notice_at = run.now.isoformat()
            notices.append(run.notice(rule, "inactive", episode=latch.episode,
                                      level=self.level(rule),
                                      variables=reminders.variables(state, rule, run.profile)))
        return notices

    def reminders(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        if not run.state.eligible_for_money_notices:
            return []
        return [reminders.remind(run, rule, "inactive", self.level(rule)) for rule in rules
                if reminders.due(run.state.latches.get(rule.id), run.profile, run.now)]

    def needs_watch(self, rules: tuple[Rule, ...], state: AccountState, profile: Profile,
                    now: datetime) -> bool:
        """A candidate (below the threshold, episode not yet open), or reminders left."""
        if not state.eligible_for_money_notices:
            return False
        for rule in rules:
            latch = state.latches.get(rule.id)
            if reminders.pending(latch, profile):
                return True
            waiting = latch is not None and latch.open and not (
                reminders.reminding(profile) and latch.reminders < profile.max_reminders)
            if rule.threshold is not None and state.balance < rule.threshold and not waiting:
                return True
        return False


RULE = Inactive()
