"""What an AWS error is called and says, fit to be stored, logged or published: SES and
DynamoDB name identities in their messages, so every email address is masked."""

from __future__ import annotations

from collections.abc import Iterable

from botocore.exceptions import ClientError

from ..observability import mask_emails


def error_code(error: BaseException) -> str:
    """The service's error code (``ThrottlingException``), else the exception's type."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def describe(error: BaseException, *, hide: Iterable[str] = ()) -> str:
    """``Code: message`` with email addresses masked (SES names identities in messages),
    and the strings in ``hide`` (a sender with its display name) masked first."""
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message") or "")
    else:
        message = str(error)
    for secret in sorted((s for s in hide if s), key=len, reverse=True):
        message = message.replace(secret, "***@***")
    text = f"{error_code(error)}: {message}".strip().rstrip(":")
    return mask_emails(text)[:500]
