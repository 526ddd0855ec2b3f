"""Opaque paging cursors: base64url JSON signed with HMAC-SHA256.

A cursor names the position after the last item of a page, and it is bound to the
tenant, the list (``entries``, ``notices``, ``accounts``, ...) and the list's scope (the
account), so a cursor from another tenant, list or account, or one that was altered, is
refused with 400. The key comes from ``CURSOR_SECRET``, which the stack fills from a
secret it generates (``CursorSecret`` in template.yaml, Secrets Manager). Without it - the
local runtime, tests - a fixed development key is used, which lets anyone forge cursors
*of the right shape* (still confined to the caller's own tenant, since the key condition
always comes from the identity).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from typing import Any

from .errors import BadRequest

DEVELOPMENT_KEY = b"balance-alerts-development-cursor-key"
MAX_CURSOR_LENGTH = 2048
MAX_KEY_LENGTH = 512  # below DynamoDB's 1024-byte sort key limit


def _key() -> bytes:
    secret = os.environ.get("CURSOR_SECRET", "")
    return secret.encode() if secret else DEVELOPMENT_KEY


_KEY = _key()  # read once at cold start


def reset_cache() -> None:
    """Re-read CURSOR_SECRET (tests; LocalAws calls it as a cold start would)."""
    global _KEY
    _KEY = _key()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes) -> bytes:
    return hmac.new(_KEY, payload, hashlib.sha256).digest()


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
