"""``balance_below``: the money balance fell below a threshold (``balance_low``), and
came back (``balance_recovered``, with ``notify_recovery``).

Due when the balance is strictly below the threshold, after each entry and again at
every scan. Once per episode; the episode ends when the balance is at or above the
threshold again. When one change opens several levels of a profile, only the lowest
level gets a notice; the others count as sent, so each of them recovers with
``notify_recovery`` as the lowest does. While levels stay open, the lowest one reminds. Post-paid and inactive accounts get none.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..model import AccountState, NoticeDraft, Profile, Rule
from . import reminders
from .base import Evaluation, RuleType, decimal_or_none


class BalanceBelow(RuleType):
    name = "balance_below"
    notice_types = ("balance_low", "balance_recovered")

    def parse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"threshold": decimal_or_none(data.get("threshold")),
                "notify_recovery": bool(data.get("notify_recovery", False))}

    def rule_variables(self, rule: Rule, profile: Profile) -> dict[str, Any]:
        return reminders.rule_variables(rule, profile)

    def after_entry(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        return self._evaluate(rules, run)

    def at_scan(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        return self._evaluate(rules, run)

    def _evaluate(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        """Open and close episodes for the account's current balance."""
        state = run.state
        if not state.eligible_for_money_notices:
            return []
        notices: list[NoticeDraft] = []
        opened: list[Rule] = []
        for rule in rules:
            assert rule.threshold is not None
            latch = state.latch(rule.id)
            below = state.balance < rule.threshold
            if below and not latch.open:
                latch.open = True
                latch.episode += 1
                latch.notified = False
                latch.reminders = 0
                latch.last_notice_at = None
                opened.append(rule)
            elif not below and latch.open:
                if rule.notify_recovery and latch.notified:
                    notices.append(run.notice(rule, "balance_recovered", episode=latch.episode,
                                              level=self.level(rule),
                                              variables=_variables(state, rule)))
                latch.open = False
                latch.notified = False
                latch.reminders = 0
        if opened:
            # One change across several levels: the lowest is sent, the others count as
            # sent (their recovery is due too), and only the lowest reminds.
            lowest = min(opened, key=lambda rule: rule.threshold or Decimal(0))
            for rule in opened:
                state.latch(rule.id).notified = True
            latch = state.latch(lowest.id)
            notice = run.notice(lowest, "balance_low", episode=latch.episode,
                                level=self.level(lowest), variables=_variables(state, lowest))
            latch.last_notice_at = notice.created_at
            notices.append(notice)
        return notices

    def reminders(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        """While several levels are open, only the lowest one reminds."""
        if not run.state.eligible_for_money_notices:
            return []
        lowest = lowest_open(run.state, rules)
        if lowest is None or not reminders.due(run.state.latches.get(lowest.id), run.profile,
                                               run.now):
            return []
        return [reminders.remind(run, lowest, "balance_low", self.level(lowest))]

    def needs_watch(self, rules: tuple[Rule, ...], state: AccountState, profile: Profile,
                    now: datetime) -> bool:
        if not state.eligible_for_money_notices:
            return False
        return any(reminders.pending(state.latches.get(rule.id), profile) for rule in rules)


def lowest_open(state: AccountState, rules: tuple[Rule, ...]) -> Rule | None:
    """The open level with the lowest threshold, if any."""
    open_rules = [rule for rule in rules
                  if rule.id in state.latches and state.latches[rule.id].open]
    if not open_rules:
        return None
    return min(open_rules, key=lambda rule: rule.threshold if rule.threshold is not None
               else Decimal(0))


def _variables(state: AccountState, rule: Rule) -> dict[str, Any]:
    return {"balance": state.balance, "threshold": rule.threshold, "currency": state.currency}


RULE = BalanceBelow()
