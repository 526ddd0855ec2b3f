"""API errors and the exception handlers that turn every refusal into ``{"message": ...}``.

Status codes (CONTRACT.md section 2): 400/422 bad input, 401 no identity, 403 role not
allowed, 404 unknown or another tenant's resource, 405 a method the path does not take
(with ``Allow``), 409 conflict. Bad input never becomes a 5xx: request validation,
unparseable JSON and unsupported content types all map to 4xx here, and anything
unexpected is a 500 without internals in the body.
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
NOT_JSON = "the request body must be application/json"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
WRITE_METHODS = BODY_METHODS | {"DELETE"}


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


class UnsupportedMediaType(ApiError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


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


def is_json_request(headers: Any) -> bool:
    """Whether the body is to be read as JSON (as Powertools decides: no Content-Type, or
    one that starts with application/json)."""
    content_type = _content_type(headers)
    return not content_type or content_type.startswith(content_types.APPLICATION_JSON)


def _content_type(headers: Any) -> str:
    return str(headers.get("content-type") or headers.get("Content-Type") or "").strip()


def has_non_json_body(event: Any) -> bool:
    """A request that carries a body for the route (POST, PUT, PATCH) that is not JSON."""
    return (
        event.http_method.upper() in BODY_METHODS
        and bool(event.body)
        and not is_json_request(event.headers)
    )


def json_only_middleware(app: Any, next_middleware: Any) -> Any:
    """Global middleware: a body is JSON. Powertools also reads form and multipart bodies
    (and hands them to the route when they validate); this API refuses them (415).

    A write that carries a JSON body is read here even when its route declares none
    (``DELETE``): the reader (``body.parse_json_body``) refuses anything but a JSON object
    with 400, so no write goes through with a body that is not one. Routes that declare a
    body had it read by Powertools' validation already (the parsed body is cached)."""
    event = app.current_event
    if has_non_json_body(event):
        raise UnsupportedMediaType(NOT_JSON)
    if event.http_method.upper() in WRITE_METHODS and event.body:
        _ = event.json_body
    return next_middleware(app)


def allowed_methods(app: APIGatewayRestResolver, path: str) -> list[str]:
    """The methods routed for ``path`` (empty when no route has this path: 404, not 405)."""
    routes = [*app._static_routes, *app._dynamic_routes]  # Powertools keeps no public list
    return sorted({route.method for route in routes if route.rule.match(path)})


def register_error_handlers(
    app: APIGatewayRestResolver, *, authorize: Callable[[], object]
) -> None:
    """Install the handlers. ``authorize`` runs before bad input is reported (Powertools
    validates path, query and body before any middleware runs), so a caller who may not
    make the request learns 401/403/404, never what was wrong with it."""

    def _refused_caller() -> Response | None:
        try:
            authorize()
        except ApiError as refused:
            return error_response(refused.status, refused.message)
        return None

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        if isinstance(error, (BadRequest, Unprocessable)):
            refused = _refused_caller()
            if refused is not None:
                return refused
        return error_response(error.status, error.message)

    def _not_json() -> Response:
        return error_response(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, NOT_JSON)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        refused = _refused_caller()
        if refused is not None:
            return refused
        if has_non_json_body(app.current_event):
            # Powertools also reads form bodies; this API takes JSON only
            return _not_json()
        message, details = describe_validation_errors(error.errors())
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, message, errors=details)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(error: RequestUnsupportedContentType) -> Response:
        return _refused_caller() or _not_json()

    @app.exception_handler(ValueError)
    def _unreadable(error: ValueError) -> Response:
        """Powertools raises ValueError for a multipart body without a boundary."""
        if not _content_type(app.current_event.headers).startswith("multipart/"):
            return _unexpected(error)
        return _refused_caller() or _not_json()

    @app.not_found
    def _not_found(error: NotFoundError) -> Response:
        allowed = allowed_methods(app, app.current_event.path)
        if allowed:
            response = error_response(
                HTTPStatus.METHOD_NOT_ALLOWED, f"this path takes {', '.join(allowed)}")
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return error_response(HTTPStatus.NOT_FOUND, "no such resource")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error", extra={"error_type": type(error).__name__})
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
