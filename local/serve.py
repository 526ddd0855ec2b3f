"""`make serve`: the API on http://127.0.0.1:8080 backed by a moto server on 127.0.0.1.

Requests become API Gateway proxy events for ApiFunction. The caller's Cognito claims
come from headers (local only): ``X-Tenant`` (default ``demo``), ``X-Role`` (default
``admin``) and ``X-Account`` (for the customer role). A background thread pumps the
DynamoDB streams into on_usage and send_notice every half second, and
``POST /_local/scan`` fires the schedule (optionally ``?at=2026-12-01T09:00:00Z``).
``GET /openapi.json`` is the API's OpenAPI document and ``GET /docs`` a page to browse it
(self-contained, works offline).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import apidocs, cfn
from .apigw import proxy_event, response_headers
from .runtime import LocalAws

LOCK = threading.Lock()
MAX_BODY = 256 * 1024


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, generated from the running code (as `make openapi`);
    the function module is imported as an invocation imports it."""
    from balance_alerts.api.openapi import document

    return document(importlib.import_module(cfn.handler_module("ApiFunction")).app)


API_DOCS: dict[str, tuple[str, Callable[[], str]]] = {
    "/openapi.json": ("application/json", lambda: json.dumps(openapi_document(), indent=2)),
    "/docs": ("text/html; charset=utf-8", lambda: apidocs.render(openapi_document())),
}


def make_handler(aws: LocalAws) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "balance-alerts-local"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            print(f"   {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}")

        def _reply(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            for name, value in (headers or {"Content-Type": "application/json"}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, json.dumps({"message": "request body too large"}))
                return
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else None
            if self.command == "GET" and split.path in API_DOCS:
                content_type, render = API_DOCS[split.path]
                self._reply(200, render(), {"Content-Type": content_type})
                return
            if split.path == "/_local/scan" and self.command == "POST":
                query = dict(parse_qsl(split.query))
                at = datetime.fromisoformat(query["at"].replace("Z", "+00:00")) \
                    if "at" in query else None
                with LOCK:
                    report = aws.scan(at=at)
                    aws.pump()
                self._reply(200, json.dumps(report, default=str))
                return
            claims = {
                "custom:tenant_id": self.headers.get("X-Tenant", "demo"),
                "custom:role": self.headers.get("X-Role", "admin"),
            }
            if self.headers.get("X-Account"):
                claims["custom:account_id"] = self.headers["X-Account"]
            event = proxy_event(
                self.command, split.path, raw_body=raw, claims=claims,
                query=dict(parse_qsl(split.query)) or None,
                headers={k: v for k, v in self.headers.items()},
            )
            with LOCK:
                response = aws.invoke("ApiFunction", event)
            headers = response_headers(response)
            headers.setdefault("Content-Type", "application/json")
            self._reply(int(response["statusCode"]), response.get("body") or "", headers)

        # every method API Gateway's ANY passes on (the API answers 405 where a path
        # does not take it)
        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle  # noqa: N815

    return Handler


def pump_forever(aws: LocalAws, stop: threading.Event) -> None:
    while not stop.is_set():
        with LOCK:
            aws.pump()
        time.sleep(0.5)


CURL = """
Try it (another terminal; README.md, section API, has every endpoint):

  API={url}; H='Content-Type: application/json'
  curl -s -X PUT $API/settings -H "$H" \\
    -d '{{"name": "Demo Co", "from_email": "billing@demo.test", "staff_emails": ["ops@demo.test"], "default_profile_id": "standard"}}'
  curl -s -X PUT $API/profiles/standard -H "$H" -d '{{"name": "Standard", "rules": [{{"id": "low", "type": "balance_below", "threshold": "20.00", "notify": ["customer", "staff"], "notify_recovery": true}}]}}'
  curl -s -X PUT $API/accounts/acct-1 -H "$H" -d '{{"name": "Ana Souza", "email": "ana@example.test"}}'
  curl -s -X POST $API/accounts/acct-1/entries -H "$H" -d '{{"entry_id": "top-1", "kind": "credit", "amount": "50.00"}}'
  curl -s -X POST $API/accounts/acct-1/entries -H "$H" -d '{{"entry_id": "use-1", "kind": "charge", "amount": "35.00"}}'
  curl -s $API/accounts/acct-1
  curl -s $API/accounts/acct-1/notices
  curl -s $API/accounts/acct-1/entries -H 'X-Role: customer' -H 'X-Account: acct-1'
  curl -s -X POST $API/_local/scan

The API's OpenAPI document: {url}/openapi.json - browse it: {url}/docs
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--moto-port", type=int, default=5055)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=args.moto_port, verbose=False)
    moto.start()
    stop = threading.Event()
    try:
        with LocalAws(endpoint_url=f"http://127.0.0.1:{args.moto_port}",
                      verified_senders=("billing@demo.test",), log_level="WARNING") as aws:
            threading.Thread(target=pump_forever, args=(aws, stop), daemon=True).start()
            server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(aws))
            url = f"http://127.0.0.1:{args.port}"
            print(f"balance-alerts API on {url} (moto on 127.0.0.1:{args.moto_port}); "
                  "Ctrl-C stops.")
            print(CURL.format(url=url))
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                pass
            finally:
                server.server_close()
    finally:
        stop.set()
        moto.stop()


if __name__ == "__main__":
    main()
