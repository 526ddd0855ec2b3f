"""API errors and the exception handlers that turn every refusal into ``{"message": ...}``.

Status codes (CONTRACT.md section 2): 400/422 bad input, 401 no identity, 403 role not
allowed, 404 unknown or another tenant's resource, 409 conflict. Bad input never becomes
a 5xx: request validation, unparseable JSON and unsupported content types all map to 4xx
here, and anything unexpected is a 500 without internals in the body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from ..observability import logger

MAX_REPORTED_ERRORS = 5


class ApiError(Exception):
    """A refusal with an HTTP status and a message meant for the client."""

    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = HTTPStatus.BAD_REQUEST


class Unauthorized(ApiError):
    status = HTTPStatus.UNAUTHORIZED


class Forbidden(ApiError):
    status = HTTPStatus.FORBIDDEN


class NotFound(ApiError):
    status = HTTPStatus.NOT_FOUND


class Conflict(ApiError):
    status = HTTPStatus.CONFLICT


class Unprocessable(ApiError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY


def error_response(status: int, message: str, **extra: Any) -> Response:
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body={"message": message, **extra},
    )


def describe_validation_errors(errors: Iterable[dict[str, Any]]) -> tuple[str, list[dict]]:
    """A one-line message and a client-safe list (location, type, message; never the input)."""
    details = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part != "body"]
        details.append({
            "loc": loc,
            "type": str(error.get("type", "invalid")),
            "msg": str(error.get("msg", "invalid value")).removeprefix("Value error, "),
        })
    parts = [
        f"{'.'.join(d['loc']) or 'body'}: {d['msg']}" for d in details[:MAX_REPORTED_ERRORS]
    ]
    if len(details) > MAX_REPORTED_ERRORS:
        parts.append(f"... and {len(details) - MAX_REPORTED_ERRORS} more")
    return "; ".join(parts) or "invalid request", details


def register_error_handlers(
    app: APIGatewayRestResolver, *, authorize: Callable[[], object]
) -> None:
    """Install the handlers. ``authorize`` runs before bad input is reported (Powertools
    validates path, query and body before any middleware runs), so a caller who may not
    make the request learns 401/403/404, never what was wrong with it."""

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        if isinstance(error, (BadRequest, Unprocessable)):
            try:
                authorize()
            except ApiError as refused:
                return error_response(refused.status, refused.message)
        return error_response(error.status, error.message)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        try:
            authorize()
        except ApiError as refused:
            return error_response(refused.status, refused.message)
        message, details = describe_validation_errors(error.errors())
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, message, errors=details)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(error: RequestUnsupportedContentType) -> Response:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the request body must be application/json"
        )

    @app.not_found
    def _not_found(error: NotFoundError) -> Response:
        return error_response(HTTPStatus.NOT_FOUND, "no such resource")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error", extra={"error_type": type(error).__name__})
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
