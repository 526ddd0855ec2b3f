"""The OpenAPI document: generated from the code, committed as docs/openapi.json, valid,
and saying what the handler does (every refusal documented with the error body)."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from balance_alerts.api.openapi import document
from tools.openapi import OUTPUT, generate


@pytest.fixture(scope="module")
def doc():
    from functions.api.app import app

    return document(app)


def test_the_committed_document_is_the_one_the_code_generates():
    committed = OUTPUT.read_text() if OUTPUT.exists() else ""
    assert committed == generate(), (
        "docs/openapi.json does not match the API's code: run make openapi")


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_route_is_documented(doc):
    from functions.api.app import app

    routes = {(route.method.lower(), route.openapi_path)
              for route in [*app._static_routes, *app._dynamic_routes]}
    documented = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert routes == documented


def test_every_operation_documents_its_refusals_with_the_error_body(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"401", "403"} <= set(responses), (method, path)
            assert any(code.startswith("2") for code in responses), (method, path)
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)
            if "requestBody" in operation:
                assert {"415", "422"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)


def test_powertools_error_shapes_are_not_in_the_document(doc):
    """The handler answers refusals with {"message", "errors"}, never {"detail"}."""
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text
    assert "ResponseValidationError" not in text
    assert set(doc["components"]["schemas"]["Error"]["required"]) == {"message"}


def test_the_document_names_the_identity_and_the_servers(doc):
    assert doc["security"] == [{"CognitoIdToken": []}]
    scheme = doc["components"]["securitySchemes"]["CognitoIdToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header",
                                                              "Authorization")
    assert [server["url"] for server in doc["servers"]][-1] == "http://127.0.0.1:8080"


def test_the_docs_page_is_self_contained(doc):
    from local.apidocs import render

    page = render(doc)
    assert page.startswith("<!doctype html>")
    assert "http://" not in page.replace("http://127.0.0.1:8080", "")
    assert "https://" not in page.replace(
        "https://{api_id}.execute-api.{region}.amazonaws.com/v1", "")
    assert "<script" not in page
    for path in doc["paths"]:
        assert path in page
