"""The one interface every channel implements, and what crosses it.

A channel takes a notice rendered for one audience to the people of that audience it can
reach - email addresses through SES today; phone numbers through SNS would be a second
implementation - and says how it went. send_notice calls it per audience (per audience
and channel, once a notice can go out on more than one).

The package (``adapters/channels``) re-exports these names and looks channels up by name;
they live in this module so that a channel's own module can use them without importing
the package that lists it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..tables import AccountItem, NoticeItem

Status = Literal["delivered", "failed", "retry"]
#: The message went out (``message_id`` is the provider's id for it).
DELIVERED: Status = "delivered"
#: It cannot go out, and retrying the same request would not change that.
FAILED: Status = "failed"
#: It did not go out for a reason that goes away (throttling, 5xx, network): try again.
RETRY: Status = "retry"


class PermanentFailure(Exception):
    """A failure retrying cannot fix: the notice is marked failed with this reason."""


@dataclass(frozen=True)
class Notice:
    """A pending notice as a channel sees it: the stored item (type, ids, the rule's
    variables), the account it is about and its tenant's settings."""

    item: NoticeItem
    account: AccountItem
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """How sending one audience's message went."""

    status: Status
    #: DELIVERED: the provider's message id.
    message_id: str | None = None
    #: FAILED / RETRY: why, fit to store (no address). DELIVERED: what was left out (such
    #: as recipients on a suppression list), else None.
    reason: str | None = None

    @classmethod
    def delivered(cls, message_id: str, *, note: str | None = None) -> Outcome:
        return cls(DELIVERED, message_id=message_id, reason=note)

    @classmethod
    def failed(cls, reason: str) -> Outcome:
        return cls(FAILED, reason=reason)

    @classmethod
    def retry(cls, reason: str) -> Outcome:
        return cls(RETRY, reason=reason)


class Channel(Protocol):
    """A way to reach an audience."""

    #: The channel's name, as the registry knows it (``email``).
    name: str

    def recipients(self, notice: Notice, audience: str) -> list[str]:
        """Whom this channel reaches for ``audience`` (none: the audience is left out and
        nothing is rendered for it). Raises PermanentFailure when the channel can send
        nothing for the tenant at all (it has no sender)."""
        ...

    def send(self, notice: Notice, audience: str, rendered: Any) -> Outcome:
        """Send ``rendered`` (what the channel's template part rendered for ``audience``:
        a RenderedEmail for email) to the audience's recipients. A provider's failure is
        an Outcome (FAILED or RETRY), never an exception; anything else propagates."""
        ...
