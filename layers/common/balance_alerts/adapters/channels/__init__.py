"""Channels: how a rendered notice reaches an audience. One interface (``Channel``, with
``Outcome`` and ``Notice``: ``interface.py``), one module per channel named after it, and
the registry below.

Today there is one channel, ``email`` (SES v2). An ``sms`` channel over SNS would be a
second module implementing the same interface (its recipients are phone numbers, its
template part a short text) and one more entry in ``CHANNELS``.
"""

from __future__ import annotations

from .email import NAME as EMAIL
from .email import EmailChannel
from .interface import (
    DELIVERED,
    FAILED,
    RETRY,
    Channel,
    Notice,
    Outcome,
    PermanentFailure,
    Status,
)

__all__ = ["CHANNELS", "DELIVERED", "EMAIL", "FAILED", "RETRY", "Channel", "Notice",
           "Outcome", "PermanentFailure", "Status", "channel"]

#: Every channel, by name.
CHANNELS: dict[str, Channel] = {EMAIL: EmailChannel()}


def channel(name: str) -> Channel:
    """The channel called ``name``; KeyError names an unknown one."""
    try:
        return CHANNELS[name]
    except KeyError:
        raise KeyError(f"no channel {name!r}; known: {', '.join(sorted(CHANNELS))}") from None
