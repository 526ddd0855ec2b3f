"""The registry is the one list of rule types: the API's request schema, the default
templates and the notice types all follow it."""

from __future__ import annotations

import typing
from pathlib import Path

from balance_alerts.api import schemas
from balance_alerts.domain import rules
from balance_alerts.domain.model import AUDIENCES

TEMPLATES = Path(schemas.__file__).resolve().parent.parent / "templates"


def test_the_api_accepts_exactly_the_registered_rule_types():
    union = typing.get_args(typing.get_args(schemas.Rule)[0])
    accepted = {typing.get_args(model.model_fields["type"].annotation)[0] for model in union}
    assert accepted == set(rules.RULE_TYPES)


def test_every_notice_type_of_every_rule_type_has_its_default_templates():
    for notice_type in rules.NOTICE_TYPES:
        for audience in AUDIENCES:
            for part in ("subject", "html", "txt"):
                assert (TEMPLATES / notice_type / f"{audience}.{part}").is_file(), (
                    notice_type, audience, part)


def test_each_notice_type_belongs_to_one_rule_type():
    owners = [rules.rule_type_of(notice_type) for notice_type in rules.NOTICE_TYPES]
    assert None not in owners
    assert len(rules.NOTICE_TYPES) == len(set(rules.NOTICE_TYPES))
