"""One Logger and one Metrics for every function (service name from
POWERTOOLS_SERVICE_NAME, set in the template's Globals).

No e-mail address reaches the logs: the Logger's formatter masks every address in every
record - message, extra keys, exception text and stack trace - whatever logs it (our
code, Powertools' event handler, a traceback that quotes a value). Names and other
personal data are never logged: log ids (tenant, account, entry, notice), not people.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_EMAIL = re.compile(r"[^@\s\"'<>]+@[^@\s\"'<>]+")


def mask_emails(text: str) -> str:
    """Replace every e-mail address in ``text`` by a mask, for logs."""
    return _EMAIL.sub("***@***", text)


def mask_personal_data(value: Any) -> Any:
    """``value`` with every e-mail address in its strings masked (keys too); values that
    are not JSON primitives become their masked ``str`` (what the JSON encoder would
    have written)."""
    if isinstance(value, str):
        return mask_emails(value)
    if isinstance(value, dict):
        return {mask_personal_data(key): mask_personal_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [mask_personal_data(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, Decimal)):
        return value
    return mask_emails(str(value))


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log format, with e-mail addresses masked everywhere."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        return super().serialize(mask_personal_data(log))


logger = Logger(logger_formatter=MaskingFormatter())
metrics = Metrics()
