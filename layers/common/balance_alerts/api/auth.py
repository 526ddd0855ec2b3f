"""Who is calling, and may they make this request.

Identity comes only from ``requestContext.authorizer.claims``, as API Gateway's Cognito
authorizer sets them: ``custom:tenant_id`` (required, else 401), ``custom:role``
(``admin`` | ``staff`` | ``customer``, else 403) and, for customers, ``custom:account_id``.

The role matrix (CONTRACT.md section 2), decided from the method and the path alone so
it can run before anything else looks at the request:

=========  ===================================================================
admin      everything in its tenant
staff      accounts, entries, packages, notices; config (settings, profiles,
           classes, templates) read-only, plus template previews
customer   ``GET /accounts/{own}``, ``GET /accounts/{own}/entries``,
           ``.../packages``, ``.../notices`` - nothing else (403)
=========  ===================================================================

The policy is an allow-list (anything not named is refused), and it reads the same path
that Powertools routes on (``current_event.path``; the resolver strips no prefix).

A customer asking for *another* account's resources gets **404**, the same answer as for
an account that does not exist, so customers cannot probe which account ids exist.
Another tenant's resources are always 404 for everyone: every key starts with the
caller's tenant id, so they are never found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

from .errors import Forbidden, NotFound, Unauthorized

ROLES = ("admin", "staff", "customer")
STAFF_RESOURCES = frozenset({"accounts"})
CONFIG_RESOURCES = frozenset({"settings", "profiles", "classes", "templates"})
CUSTOMER_ACCOUNT_LISTS = frozenset({"entries", "packages", "notices"})
_TENANT = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class Identity:
    tenant_id: str
    role: str
    account_id: str | None
    actor: str


def identity_from_claims(claims: dict[str, Any] | None) -> Identity:
    """The caller, from the authorizer's claims; 401 without a tenant, 403 without a role."""
    claims = claims or {}
    tenant_id = claims.get("custom:tenant_id")
    if not isinstance(tenant_id, str) or not _TENANT.match(tenant_id):
        raise Unauthorized("no tenant in the caller's identity")
    role = claims.get("custom:role")
    if role not in ROLES:
        raise Forbidden("the caller has no role that this API knows")
    account_id = claims.get("custom:account_id") or None
    actor = claims.get("sub") or claims.get("cognito:username") or role
    return Identity(tenant_id=tenant_id, role=role, account_id=account_id, actor=str(actor)[:128])


def claims_of(event: Any) -> dict[str, Any] | None:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims")
    return claims if isinstance(claims, dict) else None


def authorize(identity: Identity, method: str, path: str) -> None:
    """Raise 403 (or 404, for a customer's look at another account) unless allowed."""
    parts = [part for part in path.split("/") if part]
    method = method.upper()
    if identity.role == "admin":
        return
    resource = parts[0] if parts else ""
    if identity.role == "staff":
        if resource in STAFF_RESOURCES:
            return
        if resource in CONFIG_RESOURCES and (method == "GET" or _is_preview(method, parts)):
            return
        if resource in CONFIG_RESOURCES:
            raise Forbidden("staff may read configuration but not change it")
        raise Forbidden("staff may not use this path")
    # customer
    is_own_account_read = (
        method == "GET"
        and len(parts) in (2, 3)
        and resource == "accounts"
        and (len(parts) == 2 or parts[2] in CUSTOMER_ACCOUNT_LISTS)
    )
    if not is_own_account_read or not identity.account_id:
        raise Forbidden("customers may only read their own account")
    if parts[1] != identity.account_id:
        raise NotFound("no such account")


def _is_preview(method: str, parts: list[str]) -> bool:
    return method == "POST" and parts[0] == "templates" and parts[-1] == "preview"


def current_identity() -> Identity:
    """The identity of the request being handled (routes call this)."""
    return identity_from_claims(claims_of(BaseRouter.current_event))


def authorize_current_request() -> Identity:
    event = BaseRouter.current_event
    identity = identity_from_claims(claims_of(event))
    authorize(identity, event.http_method, event.path)
    return identity


def authorization_middleware(app: Any, next_middleware: Any) -> Any:
    """Global middleware: refuse before any route code runs."""
    authorize_current_request()
    return next_middleware(app)
