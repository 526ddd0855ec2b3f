"""Opaque paging cursors: base64url JSON signed with HMAC-SHA256.

A cursor names the position after the last item of a page, and it is bound to the
tenant, the list (``entries``, ``notices``, ``accounts``, ...) and the list's scope (the
account), so a cursor from another tenant, list or account, or one that was altered, is
refused with 400. The key is ``CURSOR_SECRET`` (``adapters/settings``), which the stack
fills from a secret it generates (``CursorSecret`` in template.yaml, Secrets Manager).
There is no fallback: without it ApiFunction does not start (the local runtime sets a
key of its own, ``local/cfn.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from ..adapters.settings import settings
from .errors import BadRequest

MAX_CURSOR_LENGTH = 2048
MAX_KEY_LENGTH = 512  # below DynamoDB's 1024-byte sort key limit


def _key() -> bytes:
    """CURSOR_SECRET, read once at cold start with the other settings."""
    return str(settings().required("cursor_secret")).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes) -> bytes:
    return hmac.new(_key(), payload, hashlib.sha256).digest()


def encode_cursor(*, tenant_id: str, list_name: str, scope: str, position: dict[str, str]) -> str:
    payload = json.dumps(
        {"t": tenant_id, "l": list_name, "s": scope, "p": position},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    return f"{_b64(payload)}.{_b64(_sign(payload))}"


def decode_cursor(
    cursor: str, *, tenant_id: str, list_name: str, scope: str, fields: tuple[str, ...]
) -> dict[str, str]:
    """The position a cursor names, after checking its signature and its binding."""
    invalid = BadRequest("cursor is not valid for this list")
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
        raise invalid
    body, signature = cursor.split(".")
    try:
        payload = _unb64(body)
        given = _unb64(signature)
    except (binascii.Error, ValueError):
        raise invalid from None
    if not hmac.compare_digest(given, _sign(payload)):
        raise invalid
    try:
        data: Any = json.loads(payload)
    except ValueError:
        raise invalid from None
    if not isinstance(data, dict) or (data.get("t"), data.get("l"), data.get("s")) != (
        tenant_id,
        list_name,
        scope,
    ):
        raise invalid
    position = data.get("p")
    if (
        not isinstance(position, dict)
        or set(position) != set(fields)
        or not all(
            isinstance(value, str) and 0 < len(value) <= MAX_KEY_LENGTH
            for value in position.values()
        )
    ):
        raise invalid
    return position
