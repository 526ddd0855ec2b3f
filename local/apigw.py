"""API Gateway REST (v1) proxy events, as the Cognito authorizer passes them to a Lambda
proxy integration, and the response the integration returns."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, parse_qsl

STAGE = "v1"


def proxy_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    claims: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Build the event ``/{proxy+}`` receives for ``method path``."""
    split = urlsplit(path)
    path_only = split.path
    params = dict(parse_qsl(split.query))
    params.update(query or {})
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    all_headers = {"Content-Type": "application/json", "Host": "localhost", **(headers or {})}
    now = datetime.now(timezone.utc)
    authorizer = {"claims": dict(claims)} if claims else None
    return {
        "resource": "/{proxy+}",
        "path": path_only,
        "httpMethod": method.upper(),
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": params or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in params.items()} or None,
        "pathParameters": {"proxy": path_only.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method.upper(),
            "path": f"/{STAGE}{path_only}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "local"},
            **({"authorizer": authorizer} if authorizer else {}),
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]

    @classmethod
    def from_proxy(cls, response: dict[str, Any]) -> ApiResponse:
        text = response.get("body") or ""
        try:
            body = json.loads(text) if text else None
        except json.JSONDecodeError:
            body = text
        return cls(
            status=int(response["statusCode"]),
            body=body,
            headers=response_headers(response),
        )


def response_headers(response: dict[str, Any]) -> dict[str, str]:
    """A proxy response's headers: ``multiValueHeaders`` (joined) and ``headers``."""
    headers = {name: ", ".join(str(value) for value in values)
               for name, values in (response.get("multiValueHeaders") or {}).items()}
    headers.update({name: str(value) for name, value in (response.get("headers") or {}).items()})
    return headers
