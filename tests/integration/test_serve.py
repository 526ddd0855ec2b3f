"""`make serve` over HTTP: the server local/serve.py runs (here on moto in-process and a
free port) serves the OpenAPI document and its docs page, and the `curl` lines it prints
work as README.md says."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from local import cfn
from local.runtime import LocalAws
from local.serve import LOCK, make_handler


class Client:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, method: str, path: str, body: Any = None,
                 **headers: str) -> tuple[int, dict[str, str], Any]:
        """One request, as curl sends it: ``X_Role="customer"`` is the header X-Role."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Content-Type": "application/json",
            **{name.replace("_", "-"): value for name, value in headers.items()}})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, head, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, head, raw = error.code, dict(error.headers), error.read()
        text = raw.decode()
        is_json = head.get("Content-Type", "").startswith("application/json")
        return status, head, json.loads(text) if is_json and text else text


@pytest.fixture
def served() -> Iterator[tuple[LocalAws, Client]]:
    with LocalAws(verified_senders=("billing@demo.test",)) as aws:
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(aws))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield aws, Client(f"http://127.0.0.1:{server.server_address[1]}")
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def test_the_openapi_document_and_its_docs_page_are_served(served):
    _, call = served
    status, head, document = call("GET", "/openapi.json")
    assert (status, head["Content-Type"]) == (200, "application/json")
    committed = json.loads((cfn.ROOT / "docs" / "openapi.json").read_text())
    assert document == committed
    status, head, page = call("GET", "/docs")
    assert (status, head["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert page.startswith("<!doctype html>")
    assert all(path in page for path in document["paths"])


def test_the_curl_lines_make_serve_prints_work(served):
    aws, call = served
    # The lines `make serve` prints (tenant "demo", role admin unless a header says else)
    assert call("PUT", "/settings", {
        "name": "Demo Co", "from_email": "billing@demo.test", "staff_emails": ["ops@demo.test"],
        "default_profile_id": "standard"})[0] == 200
    assert call("PUT", "/profiles/standard", {
        "name": "Standard", "rules": [{"id": "low", "type": "balance_below",
                                       "threshold": "20.00", "notify": ["customer", "staff"],
                                       "notify_recovery": True}]})[0] == 200
    assert call("PUT", "/accounts/acct-1", {"name": "Ana Souza",
                                            "email": "ana@example.test"})[0] == 201
    for entry in ({"entry_id": "top-1", "kind": "credit", "amount": "50.00"},
                  {"entry_id": "use-1", "kind": "charge", "amount": "35.00"}):
        assert call("POST", "/accounts/acct-1/entries", entry)[0] == 202
    with LOCK:  # what the server's pump thread does every half second
        aws.pump()
    status, _, account = call("GET", "/accounts/acct-1")
    assert (status, account["balance"]) == (200, "15.00")
    _, _, notices = call("GET", "/accounts/acct-1/notices")
    assert [(n["type"], n["status"]) for n in notices["notices"]] == [("balance_low", "sent")]
    status, _, entries = call("GET", "/accounts/acct-1/entries", X_Role="customer",
                              X_Account="acct-1")
    assert status == 200
    assert [e["entry_id"] for e in entries["entries"]] == ["use-1", "top-1"]
    status, _, report = call("POST", "/_local/scan")
    assert status == 200 and report["errors"] == 0
    # And the refusals the README shows, as a client sees them
    status, _, body = call("GET", "/accounts/acct-1", X_Tenant="other-co")
    assert (status, body["message"]) == (404, "no such account")
    assert call("GET", "/settings", X_Role="customer", X_Account="acct-1")[0] == 403
    status, head, _ = call("PATCH", "/settings", {})
    assert (status, head["Allow"]) == (405, "GET, PUT")
