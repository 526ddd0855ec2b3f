"""``package_below``: a package item has few units left (``package_low``).

Due for a package item when its remaining is at or below the rule's level (``remaining``
units, or ``percent`` of purchased), after each entry; once per package item and rule,
ever (a new package has its own). When one entry makes several rules due for one item,
only the lowest level gets a notice; the others count as sent. Only active accounts,
pre- or post-paid; with ``track_packages_by = member``, only packages of a member.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..model import NoticeDraft, Package, PackageItem, Rule
from ..packages import ZERO, product
from .base import Evaluation, RuleType, decimal_or_none


def level_of(rule: Rule, item: PackageItem) -> Decimal:
    """The rule's level in units for this item."""
    if rule.remaining is not None:
        return rule.remaining
    return product(item.purchased, rule.percent or ZERO) / 100


def package_variables(package: Package, item: PackageItem) -> dict[str, Any]:
    """The variables of a ``package_low`` notice (CONTRACT.md section 5)."""
    return {
        "package": {"name": package.name, "package_id": package.package_id},
        "item": {"service": item.service, "remaining": format(item.remaining, "f"),
                 "purchased": format(item.purchased, "f")},
        "member_id": package.member_id,
    }


def item_key(package: Package, item: PackageItem) -> str:
    """The package item in a notice key. Package ids cannot contain "/", so the first
    "/" separates it from the service."""
    return f"{package.package_id}/{item.service}"


class PackageBelow(RuleType):
    name = "package_below"
    notice_types = ("package_low",)

    def parse(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"remaining": decimal_or_none(data.get("remaining")),
                "percent": decimal_or_none(data.get("percent")),
                "service": data.get("service")}

    def level(self, rule: Rule) -> str:
        """How the level shows in a notice: ``"2"`` (units) or ``"25%"``."""
        if rule.remaining is not None:
            return format(rule.remaining, "f")
        return f"{format(rule.percent or ZERO, 'f')}%"

    def after_entry(self, rules: tuple[Rule, ...], run: Evaluation) -> list[NoticeDraft]:
        """The ``package_low`` notices due now; records them on the items' ``alerted``."""
        state = run.state
        if not state.eligible_for_package_notices:
            return []
        notices: list[NoticeDraft] = []
        for package in state.units.packages:
            if run.context.track_packages_by == "member" and not package.member_id:
                continue
            for item in package.items:
                due = [
                    (level_of(rule, item), index, rule) for index, rule in enumerate(rules)
                    if rule.id not in item.alerted
                    and (rule.service is None or rule.service == item.service)
                    and item.remaining <= level_of(rule, item)
                ]
                if not due:
                    continue
                _, _, lowest = min(due, key=lambda found: (found[0], found[1]))
                notices.append(run.notice(lowest, "package_low", episode=1,
                                          level=self.level(lowest),
                                          variables=package_variables(package, item),
                                          episode_key=item_key(package, item)))
                item.alerted.extend(rule.id for _, _, rule in due)
        return notices


RULE = PackageBelow()
