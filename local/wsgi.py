"""ApiFunction as a WSGI application, for in-process HTTP clients (the schemathesis fuzz
tests): each request becomes the API Gateway proxy event ``local.apigw.proxy_event``
builds, the handler runs, and its proxy response becomes the HTTP response.

The caller's Cognito claims come from ``claims_for(headers)``: API Gateway's authorizer
would have checked a token and passed its claims on; here the test decides what a
header means (``None``: no identity, as for a request without a valid token).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from .apigw import proxy_event, response_headers

Invoke = Callable[[dict[str, Any]], dict[str, Any]]
ClaimsFor = Callable[[Mapping[str, str]], dict[str, str] | None]


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").title(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            headers[name] = str(environ[key])
    return headers


def _text(value: str) -> str:
    """WSGI strings carry bytes as latin-1; API Gateway passes UTF-8 text."""
    return value.encode("latin-1").decode("utf-8", "replace")


def _path(environ: Mapping[str, Any]) -> str:
    """The decoded path, with the ``?`` and ``#`` it contains (``%3F``, ``%23`` in the URL)
    kept encoded: they are part of the path, not the start of a query or a fragment."""
    path = _text(environ.get("PATH_INFO", "")) or "/"
    return path.replace("?", "%3F").replace("#", "%23")


def api_wsgi_app(invoke: Invoke, claims_for: ClaimsFor) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        headers = _headers(environ)
        query = dict(parse_qsl(_text(environ.get("QUERY_STRING", "")), keep_blank_values=True))
        event = proxy_event(
            environ["REQUEST_METHOD"],
            _path(environ),
            raw_body=raw.decode("utf-8", "replace") if raw else None,
            claims=claims_for(headers),
            query=query or None,
            headers=headers,
        )
        response = invoke(event)
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        status = int(response["statusCode"])
        out = response_headers(response)
        out["Content-Length"] = str(len(data))
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        start_response(f"{status} {reason}", list(out.items()))
        return [data]

    return app
