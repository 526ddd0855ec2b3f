"""Every endpoint x role x same/other tenant, with the endpoints taken from the OpenAPI
document the code generates - a route added later is in the matrix without editing this
file (a new resource or path parameter makes it fail until the contract's answer for it
is written down below).

The expected answers follow CONTRACT.md section 2 (Identity), restated here as a
function of the method and the path template, independently of ``api/auth.py``:
admin everything; staff accounts (and everything under them) and read-only
configuration plus template previews; a customer ``GET`` on its own account, its
entries, packages and notices. A refused role is 403, except a customer reaching for
another account: 404. Another tenant's caller never sees or changes this tenant's data.
"""

from __future__ import annotations

import itertools
import json

import pytest

from balance_alerts.api.openapi import document

MARK = "T1SECRET"  # in every piece of tenant t1's data; never in another tenant's answer
CONFIG_RESOURCES = {"settings", "profiles", "classes", "templates"}
CUSTOMER_READS = {"/accounts/{account_id}", "/accounts/{account_id}/entries",
                  "/accounts/{account_id}/packages", "/accounts/{account_id}/notices"}
PATH_VALUES = {"account_id": "a1", "profile_id": "p1", "class_id": "c1",
               "template_set": "default", "notice_type": "balance_low", "audience": "customer"}
TENANT_RESOURCE_IDS = {"account_id", "profile_id", "class_id"}
# Valid bodies for the operations whose request schema carries no example.
BODIES = {
    ("PUT", "/templates/{template_set}/{notice_type}/{audience}"): {
        "subject": "Your balance is low", "html": "<p>Please top up.</p>",
        "text": "Please top up."},
    ("POST", "/accounts/{account_id}/packages"): {
        "package_id": "pk-1", "name": "10 lessons",
        "items": [{"service": "lessons", "quantity": "10", "unit_price": "25.00"}]},
    ("POST", "/templates/{template_set}/{notice_type}/{audience}/preview"): {},
}
CALLERS = {
    "admin": {"role": "admin"},
    "staff": {"role": "staff"},
    "own customer": {"role": "customer", "account_id": "a1"},
    "other customer": {"role": "customer", "account_id": "a2"},
}


def _doc():
    from functions.api.app import app

    return document(app)


DOC = _doc()
OPERATIONS = sorted((method.upper(), path) for path, item in DOC["paths"].items()
                    for method in item)
_other_tenants = (f"t2-{n}" for n in itertools.count())


# ------------------------------------------------------------ the contract
def contract_answer(caller: str, method: str, template: str) -> int | str:
    """"ok" or the refusal status for a caller of tenant t1 on t1's resources."""
    resource = template.split("/")[1]
    assert resource in CONFIG_RESOURCES | {"accounts"}, (
        f"{method} {template}: a new resource - state who may use it in this test")
    role = CALLERS[caller]["role"]
    if role == "admin":
        return "ok"
    if role == "staff":
        if resource == "accounts" or method == "GET" or template.endswith("/preview"):
            return "ok"
        return 403
    if method == "GET" and template in CUSTOMER_READS:
        return "ok" if caller == "own customer" else 404
    return 403


def other_tenant_answer(method: str, template: str) -> int | str:
    """For an allowed caller of another tenant using t1's ids: nothing of t1's exists."""
    names = {part[1:-1] for part in template.split("/") if part.startswith("{")}
    if method == "DELETE" or (names & TENANT_RESOURCE_IDS and method != "PUT"):
        return 404
    return "ok"  # PUT creates the caller's own; settings, templates, lists are its own


# --------------------------------------------------------------- requests
def concrete(template: str) -> str:
    path = template
    for name in [part[1:-1] for part in template.split("/") if part.startswith("{")]:
        assert name in PATH_VALUES, f"path parameter {name}: add a value to PATH_VALUES"
        path = path.replace("{" + name + "}", PATH_VALUES[name])
    return path


def body_for(method: str, template: str):
    """A valid body: the request schema's first example, else ``BODIES``; ``...`` when
    neither is known (then an allowed call may also be 422: it got past the role)."""
    operation = DOC["paths"][template][method.lower()]
    if "requestBody" not in operation:
        return None
    if (method, template) in BODIES:
        return BODIES[(method, template)]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = DOC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    examples = schema.get("examples") or []
    return examples[0] if examples else ...


def seed(aws) -> None:
    """Tenant t1's data, every piece marked (idempotent: run again after every write)."""
    calls = [
        ("PUT", "/settings", {"name": f"{MARK} Co", "default_profile_id": "p1"}),
        ("PUT", "/profiles/p1", {"name": MARK, "rules": [
            {"id": "low", "type": "balance_below", "threshold": "10"}]}),
        ("PUT", "/classes/c1", {"name": MARK}),
        ("PUT", "/accounts/a1", {"name": f"{MARK} Ann", "email": "ann@t1.test"}),
        ("PUT", "/accounts/a2", {"name": f"{MARK} Bob"}),
        ("POST", "/accounts/a1/entries", {"entry_id": "first", "kind": "credit",
                                           "amount": "100", "description": MARK}),
    ]
    if "/accounts/{account_id}/packages" in DOC["paths"]:
        calls.append(("POST", "/accounts/a1/packages", {
            "package_id": "seeded", "name": f"{MARK} pack",
            "items": [{"service": "lessons", "quantity": "5", "unit_price": "1"}]}))
    if "/templates/{template_set}/{notice_type}/{audience}" in DOC["paths"]:
        calls.append(("PUT", "/templates/default/balance_low/customer", {
            "subject": f"{MARK} low", "html": f"<p>{MARK}</p>", "text": MARK}))
    for method, path, body in calls:
        response = aws.api(method, path, body=body, tenant="t1")
        assert response.status < 300, (method, path, response.body)


def snapshot(tenant: str):
    """Every item of ``tenant`` in every table, as plain data."""
    from balance_alerts.adapters.tables import AccountItem, ConfigItem, LedgerItem, NoticeItem

    rows = []
    for model in (AccountItem, ConfigItem, LedgerItem, NoticeItem):
        for item in model.scan():
            data = item.to_simple_dict()
            owner = data.get("tenant_id") or str(data.get("account_key", "")).split("#")[0]
            if owner == tenant:
                rows.append(json.dumps(data, sort_keys=True, default=str))
    return sorted(rows)


@pytest.fixture(scope="module")
def api():
    from local.runtime import LocalAws

    with LocalAws() as aws:
        seed(aws)
        yield aws


def reseed_after(aws, method, response) -> None:
    """After a write that went through, put t1's data back as seeded."""
    if method != "GET" and response.status < 300:
        seed(aws)


def _assert_answer(response, expected, body, who):
    if expected == "ok":
        allowed = (200, 201, 202) if body is not ... else (200, 201, 202, 422)
        assert response.status in allowed, (who, response.status, response.body)
    else:
        assert response.status == expected, (who, response.status, response.body)
        assert isinstance(response.body, dict) and response.body["message"], who


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method, template", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_endpoint_answers_every_role_of_every_tenant_as_the_contract_says(
        api, method, template, caller):
    path, body = concrete(template), body_for(method, template)
    sent = {} if body is ... else body

    # Same tenant: allowed, or refused with nothing written
    expected = contract_answer(caller, method, template)
    before = snapshot("t1")
    response = api.api(method, path, body=sent, tenant="t1", **CALLERS[caller])
    _assert_answer(response, expected, body, f"t1 {caller}")
    if expected != "ok":
        assert snapshot("t1") == before, f"a refused {caller} changed tenant t1's data"
    reseed_after(api, method, response)

    # Another tenant, same role and ids: refused alike, or its own (empty) world
    before = snapshot("t1")
    other = next(_other_tenants)
    response = api.api(method, path, body=sent, tenant=other, **CALLERS[caller])
    if expected == "ok":
        expected = other_tenant_answer(method, template)
    _assert_answer(response, expected, body, f"{other} {caller}")
    assert MARK not in json.dumps(response.body), f"{other} {caller} saw tenant t1's data"
    assert snapshot("t1") == before, f"{other} {caller} changed tenant t1's data"
