"""The OpenAPI 3.1 document of the API, generated from the resolver's routes.

Powertools derives paths, parameters, request bodies and success responses from the
routes' signatures. This module adds what the routes cannot say themselves and that is
the same for every route, so that the document describes what the handler really does:

- the title, version, servers and the Cognito security scheme (``configure``);
- the error body. Every refusal is ``{"message": ..., "errors"?: [...]}`` (``errors.py``),
  not Powertools' ``HTTPValidationError``, which ``document`` replaces with ``Error``;
- the refusals each operation can answer with, from its shape: 401 and 403 everywhere
  (identity and role come before anything else), 404 where the path names a resource,
  400 where a ``cursor`` is taken and on writes (a body that is not a JSON object), 409
  on writes, 415 and 422 where a body is taken.

``document(app)`` is what ``tools/openapi.py`` writes to ``docs/openapi.json`` and what
``make serve`` serves at ``/openapi.json``; ``tests/integration/test_openapi.py`` fails
when the two disagree.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import (
    APIKey,
    APIKeyIn,
    Server,
    ServerVariable,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

TITLE = "balance-alerts API"
VERSION = "1.0.0"
DESCRIPTION = """\
Prepaid balances (money and packages of units) with alert notices, for client apps.

**Identity.** Every request carries a Cognito ID token of the stack's user pool in the
`Authorization` header; API Gateway's Cognito authorizer checks it and the handler trusts
only its claims: `custom:tenant_id` (required, else 401), `custom:role` = `admin` |
`staff` | `customer` (else 403) and, for customers, `custom:account_id`. Locally
(`make serve`) the claims come from the `X-Tenant`, `X-Role` and `X-Account` headers.

**Roles.** admin: everything in its tenant. staff: accounts, entries, packages, notices;
configuration (settings, profiles, classes, templates) read-only, plus template previews.
customer: `GET` its own account, its entries, packages and notices - nothing else (403);
another account is 404, like one that does not exist. Another tenant's resources are
always 404.

**Values.** Money and quantities are decimal strings (`"12.50"`); a JSON number is
accepted in a request only if it is an exact decimal (no exponent, NaN, Infinity or more
than 38 significant digits). Timestamps are ISO 8601 with an offset. Request bodies are
strict: unknown fields, wrong JSON types, duplicate keys and bodies over 64 KiB are
refused.

**Errors.** A JSON body with a human-readable `message` (and `errors`, one per invalid
field, for 422): 400 bad cursor or a body that is not a JSON object, 401 no identity, 403
role not allowed, 404 unknown or another tenant's resource, 409 conflict, 415 a body
that is not JSON, 422 invalid input.

**Lists** take `limit` (1-100, default 50) and an opaque `cursor`: a page is
`{"<items>": [...], "next_cursor": "..."}`, `next_cursor` is null on the last page and
goes back as `cursor`. A cursor is bound to the tenant, the list and the account.
"""
SECURITY_SCHEME = "CognitoIdToken"
SERVERS = [
    Server(
        url="https://{api_id}.execute-api.{region}.amazonaws.com/v1",
        description="The deployed stack (output ApiUrl)",
        variables={
            "api_id": ServerVariable(default="api_id", description="the REST API id"),
            "region": ServerVariable(default="us-east-1", description="the stack's region"),
        },
    ),
    Server(url="http://127.0.0.1:8080", description="make serve (identity from X-* headers)"),
]

ERROR_REF = "#/components/schemas/Error"
WRITE_METHODS = frozenset({"put", "post", "delete", "patch"})
REFUSALS: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "The cursor is not valid for this list (altered, or from "
                            "another tenant, list or account).",
    HTTPStatus.UNAUTHORIZED: "No tenant in the caller's identity.",
    HTTPStatus.FORBIDDEN: "The caller's role may not make this request.",
    HTTPStatus.NOT_FOUND: "No such resource - or one of another tenant, or (customers) "
                          "of another account.",
    HTTPStatus.CONFLICT: "The request conflicts with what is stored (an idempotency key "
                         "reused with other content, a change the stored data forbids).",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "The request body is not application/json.",
    HTTPStatus.UNPROCESSABLE_ENTITY: "Invalid input: the message names each invalid field.",
}


class ValidationIssue(BaseModel):
    """One invalid part of the request (never the value that was sent)."""

    loc: list[str] = Field(description="Where: the parameter or the path into the body")
    type: str = Field(description="A machine-readable error type")
    msg: str = Field(description="What is wrong")


class Error(BaseModel):
    """Every refusal: a human-readable message; for 422 also one issue per invalid part."""

    message: str
    errors: list[ValidationIssue] | None = None


def write_responses(created: HTTPStatus) -> dict[int, OpenAPIResponse]:
    """The success responses of an idempotent write, for a route's ``responses=``:
    ``created`` (201, 202) for a new item and 200 for the same request sent again, both
    with the stored item (the route's return model)."""
    return {
        int(created): {"description": f"{created.phrase}: the stored item"},
        int(HTTPStatus.OK): {"description": "The same request was recorded before: the "
                                            "stored item, nothing changed"},
    }


def configure(app: APIGatewayRestResolver) -> None:
    """Title, version, description, servers and the security scheme of the document."""
    app.configure_openapi(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        servers=SERVERS,
        security_schemes={
            SECURITY_SCHEME: APIKey(
                in_=APIKeyIn.header,  # type: ignore[call-arg]  # pydantic alias of "in"
                name="Authorization",
                description="A Cognito ID token of the stack's user pool (API Gateway's "
                            "Cognito authorizer). Locally: X-Tenant, X-Role, X-Account.",
            ),
        },
        security=[{SECURITY_SCHEME: []}],
    )


BAD_CURSOR = REFUSALS[HTTPStatus.BAD_REQUEST]
NOT_AN_OBJECT = ("The request body is not a JSON object (an array, a string, a number or "
                 "null); nothing is written.")


def _bad_request(method: str, operation: dict[str, Any]) -> str:
    """Why this operation can answer 400: a cursor it takes, a body that is not an object
    (every write reads a body it is sent, ``errors.json_only_middleware``)."""
    reasons = []
    if any(p.get("in") == "query" and p.get("name") == "cursor"
           for p in operation.get("parameters") or []):
        reasons.append(BAD_CURSOR)
    if "requestBody" in operation or method in WRITE_METHODS:
        reasons.append(NOT_AN_OBJECT)
    return " Or: ".join(reasons)


def _refusals(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    codes = [HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN]
    if "{" in path:
        codes.append(HTTPStatus.NOT_FOUND)
    parameters = operation.get("parameters") or []
    if _bad_request(method, operation):
        codes.append(HTTPStatus.BAD_REQUEST)
    if method in WRITE_METHODS:
        codes.append(HTTPStatus.CONFLICT)
    if "requestBody" in operation:
        codes.append(HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    if "requestBody" in operation or parameters:
        codes.append(HTTPStatus.UNPROCESSABLE_ENTITY)
    return sorted(int(code) for code in codes)


def _error_schemas() -> dict[str, Any]:
    schema = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {"Error": schema, **definitions}


def document(app: APIGatewayRestResolver) -> dict[str, Any]:
    """The OpenAPI document of ``app``, as plain JSON data."""
    doc: dict[str, Any] = json.loads(app.get_openapi_json_schema())
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    schemas.update(_error_schemas())
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.pop("500", None)  # Powertools' response-validation entry: a bug, not API
            for code in _refusals(path, method, operation):
                responses[str(code)] = {
                    "description": (_bad_request(method, operation)
                                    if code == HTTPStatus.BAD_REQUEST else REFUSALS[code]),
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                }
    return doc


def dumps(doc: dict[str, Any]) -> str:
    """The document as committed: sorted keys, two-space indent, a final newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
