"""One Logger and one Metrics for every function (service name from
POWERTOOLS_SERVICE_NAME, set in the template's Globals)."""

from __future__ import annotations

import re

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

_EMAIL = re.compile(r"[^@\s\"'<>]+@[^@\s\"'<>]+")


def mask_emails(text: str) -> str:
    """Replace every e-mail address in ``text`` by a mask, for logs."""
    return _EMAIL.sub("***@***", text)
