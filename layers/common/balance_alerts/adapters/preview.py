"""Sample data for previews: the ``variables`` a notice of each type would carry, and the
template context they make for a plausible account of a plausible tenant.

The API previews templates with it (``POST .../preview`` without ``account_id``),
``template_store.validate_template`` tries every template on it before it is stored,
and ``tools/screenshots.py`` renders the pictures of docs/templates.md from it.
"""

from __future__ import annotations

from typing import Any

from .rendering import DEFAULT_LOCALE, DEFAULT_TIMEZONE, template_variables

#: When every sample notice was created (shown in the account's time zone).
SAMPLE_CREATED_AT = "2026-11-02T14:30:00+00:00"
_SAMPLES: dict[str, dict[str, Any]] = {
    "balance_low": {"balance": "12.50", "threshold": "20.00", "max_reminders": 3},
    "balance_recovered": {"balance": "45.00", "threshold": "20.00"},
    "funds_run_out": {"balance": "18.40", "days_left": 5},
    "inactive": {"balance": "3.20", "threshold": "5.00", "inactive_days": 30,
                 "max_reminders": 3},
    "package_low": {
        "package": {"name": "10 piano lessons"},
        "item": {"service": "piano lesson", "remaining": "2", "purchased": "10"},
        "member_id": "student-7",
    },
}


def sample_values(notice_type: str) -> dict[str, Any]:
    """The raw ``variables`` map a decider would store for a notice of this type
    (decimal strings, as in NoticesTable), without the rule's addresses."""
    if notice_type not in _SAMPLES:
        raise KeyError(f"unknown notice type {notice_type!r}")
    return {key: dict(value) if isinstance(value, dict) else value
            for key, value in _SAMPLES[notice_type].items()}


def sample_variables(notice_type: str, *, locale: str = DEFAULT_LOCALE,
                     currency: str = "USD", timezone: str = DEFAULT_TIMEZONE,
                     reminder: int = 0) -> dict[str, Any]:
    """A plausible template context for a notice type (previews, docs, validation)."""
    return template_variables(
        {"currency": currency, **sample_values(notice_type)},
        notice_type=notice_type,
        reminder=reminder,
        tenant_name="Acme Music School",
        account_id="acct-1001",
        account_name="Jordan Smith",
        account_email="jordan@example.com",
        locale=locale,
        currency=currency,
        timezone=timezone,
        created_at=SAMPLE_CREATED_AT,
    )

