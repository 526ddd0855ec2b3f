"""``runs_out``: "your money runs out in N days" (``funds_run_out``) at configured marks.

``days_left`` = balance ÷ average daily charges over the last 14 days (calendar days in
UTC, today included), rounded down (0 when the balance is not positive). When the first
charge is less than 14 days back, the average is over the days since it (inclusive).
Nothing is forecast until the first charge is at least 3 days back and the spend is
positive. Due at mark m when ``days_left`` <= m (scan only); only the smallest newly
reached mark is sent, larger ones count as sent; a mark re-arms when ``days_left`` is
above it again, whether a scan sees it or an applied top-up raises it. Post-paid and
inactive accounts get none.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from ..model import AccountState, NoticeDraft, Profile, Rule
from ..spend import WINDOW_DAYS, window_spend
from .base import Evaluation, RuleType

MIN_HISTORY_DAYS = 3
EXACT_DIGITS = 120  # balance * days and its quotient by a 38-digit spend, never rounded
DEFAULT_MARKS = (10, 5, 3, 1, 0)


def days_left(state: AccountState, as_of: datetime, *, min_history: int = MIN_HISTORY_DAYS
              ) -> int | None:
    """The forecast, or None when there is not enough history or no spend."""
    if state.first_charge_at is None:
        return None
    first = datetime.fromisoformat(state.first_charge_at)
    if as_of - first < timedelta(days=min_history):
        return None
    spent = window_spend(state.spend, as_of)
    if spent <= 0:
        return None
    if state.balance <= 0:
        return 0
    return _floor_days(state.balance, spent, _window(first, as_of))


def _window(first: datetime, as_of: datetime) -> int:
    return max(1, min(WINDOW_DAYS, (as_of.date() - first.date()).days + 1))


def _floor_days(balance: Decimal, spent: Decimal, days: int) -> int:
    """floor(balance / (spent / days)), exactly: as balance * days // spent, never through a
    rounded daily average (10.00 left at 10.00 over 6 days is 6 days, not 5.99... -> 5)."""
    with localcontext() as context:
        context.prec = EXACT_DIGITS
        return int((balance * days) // spent)


def optimistic_days_left(state: AccountState, as_of: datetime) -> int | None:
    """A lower bound of every later forecast while no new charge arrives (spend only
    leaves the window, but for charges dated ahead, counted as if their day had come;
    the averaging period only grows): used to decide ``watch``."""
    if state.first_charge_at is None or not state.spend:
        return None
    if state.balance <= 0:
        return 0
    # The most spend any later window holds: charges dated ahead of ``as_of`` enter it
    # when their day comes.
    later = [datetime.fromisoformat(day).replace(tzinfo=as_of.tzinfo)
             for day in state.spend if day > as_of.date().isoformat()]
    spent = max(window_spend(state.spend, moment) for moment in [as_of, *later])
    if spent <= 0:
        return None
    first = datetime.fromisoformat(state.first_charge_at)
    return _floor_days(state.balance, spent, max(_window(first, as_of), MIN_HISTORY_DAYS + 1))


def marks_of(rule: Rule) -> tuple[int, ...]:
    return tuple(sorted(set(rule.days or DEFAULT_MARKS)))


def rearm(state: AccountState, rule: Rule, left: int | None) -> None:
    """Marks strictly below the forecast are armed again."""
    latch = state.latches.get(rule.id)
    if latch is None or left is None:
        return
    latch.marks = [mark for mark in latch.marks if left <= mark]


class RunsOut(RuleType):
    name = "runs_out"
    notice_types = ("funds_run_out",)

    def parse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"days": tuple(int(day) for day in data.get("days") or ())}

    def at_scan(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        state = run.state
        if not state.eligible_for_money_notices:
            return []
        left = days_left(state, run.now)
        notices = []
        for rule in rules:
            rearm(state, rule, left)
            if left is None:
                continue
            latch = state.latch(rule.id)
            reached = [mark for mark in marks_of(rule) if left <= mark and mark not in latch.marks]
            if not reached:
                continue
            latch.marks = sorted(set(latch.marks) | set(reached))
            latch.episode += 1
            latch.last_notice_at = run.now.isoformat()
            mark = min(reached)
            notices.append(run.notice(rule, "funds_run_out", episode=latch.episode,
                                      level=str(mark),
                                      variables={"balance": state.balance,
                                                 "currency": state.currency,
                                                 "days_left": left, "mark": mark}))
        return notices

    def needs_watch(self, rules: tuple[Rule, ...], state: AccountState, profile: Profile,
                    now: datetime) -> bool:
        """Watched while the optimistic forecast is within the largest mark; marks below
        a forecast that rose (a top-up) re-arm here, as the entry is applied."""
        if not state.eligible_for_money_notices:
            return False
        watch = False
        for rule in rules:
            left = optimistic_days_left(state, now)
            rearm(state, rule, left)
            if left is not None and left <= max(marks_of(rule)):
                watch = True
        return watch


RULE = RunsOut()
