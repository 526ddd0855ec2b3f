"""Every write takes a JSON object as its body - never anything else.

Powertools' request validation takes the first element of a list as the value of a
field that is not a list (it reads form fields that way), so a one-element array
``[{...}]`` used to be recorded as if it were the object. Now a body that is not a JSON
object - an array (even of one valid object), a string, a number, ``true``, ``null`` - is
a 400 with ``{"message": ...}`` and nothing is written.

The writes are taken from the routes the app registers, so a route added later is
walked here without editing this file (a new path parameter makes it fail until a value
for it is added to ``PATH_VALUES``; a new body until ``SAMPLES`` has a valid one).
"""

from __future__ import annotations

import json
import uuid

import pytest

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PATH_VALUES = {"account_id": "a1", "profile_id": "p1", "class_id": "c1",
               "template_set": "default", "notice_type": "balance_low", "audience": "customer"}
TEMPLATE = "/templates/{template_set}/{notice_type}/{audience}"
# A valid body for each write, different from what ``seed`` stored: sent as the object it
# is accepted and changes the tables (test_every_sample_body_is_accepted), so sent inside
# an array it would change them too if the array were taken for the object.
SAMPLES: dict[tuple[str, str], dict] = {
    ("PUT", "/settings"): {"name": "Renamed Co", "default_currency": "EUR"},
    ("PUT", "/profiles/{profile_id}"): {"name": "Changed", "rules": [
        {"id": "low", "type": "balance_below", "threshold": "99"}]},
    ("PUT", "/classes/{class_id}"): {"name": "Changed", "enabled": ["balance_low"]},
    ("PUT", TEMPLATE): {"subject": "Changed", "html": "<p>Changed</p>", "text": "Changed"},
    ("DELETE", TEMPLATE): {},
    ("POST", TEMPLATE + "/preview"): {"account_id": "a1"},
    ("PUT", "/accounts/{account_id}"): {"name": "Changed", "email": "changed@customer.test"},
    ("POST", "/accounts/{account_id}/entries"): {"entry_id": "new-1", "kind": "credit",
                                                 "amount": "5"},
    ("POST", "/accounts/{account_id}/packages"): {
        "package_id": "new-pk", "name": "5 lessons",
        "items": [{"service": "lessons", "quantity": "5", "unit_price": "10"}]},
}


def _writes() -> list[tuple[str, str]]:
    """(method, path template) of every write route the app registers."""
    from functions.api.app import app

    routes = [*app._static_routes, *app._dynamic_routes]  # Powertools keeps no public list
    return sorted({(route.method.upper(), route.openapi_path) for route in routes
                   if route.method.upper() in WRITE_METHODS})


WRITES = _writes()
WRITE_IDS = [f"{method} {path}" for method, path in WRITES]


def fresh(sample: dict) -> dict:
    """The sample with new idempotency keys, so that it can never be a replay."""
    return {name: f"{value}-{uuid.uuid4().hex[:8]}" if name in ("entry_id", "package_id")
            else value for name, value in sample.items()}


def concrete(template: str) -> str:
    path = template
    for name in [part[1:-1] for part in template.split("/") if part.startswith("{")]:
        assert name in PATH_VALUES, f"path parameter {name}: add a value to PATH_VALUES"
        path = path.replace("{" + name + "}", PATH_VALUES[name])
    return path


def seed(aws) -> None:
    """Tenant t1: settings, a profile, a class, an account with an entry and a package,
    and a template override (so that a DELETE would have something to revert)."""
    calls = [
        ("PUT", "/settings", {"name": "Acme"}),
        ("PUT", "/profiles/p1", {"name": "P"}),
        ("PUT", "/classes/c1", {"name": "C"}),
        ("PUT", "/accounts/a1", {"name": "Ann", "email": "ann@customer.test"}),
        ("POST", "/accounts/a1/entries", {"entry_id": "c1", "kind": "credit", "amount": "50"}),
        ("POST", "/accounts/a1/packages", {
            "package_id": "pk-1", "name": "10 lessons",
            "items": [{"service": "lessons", "quantity": "10", "unit_price": "25"}]}),
        ("PUT", "/templates/default/balance_low/customer", {
            "subject": "Low", "html": "<p>Low</p>", "text": "Low"}),
    ]
    for method, path, body in calls:
        response = aws.api(method, path, body=body)
        assert response.status < 300, (method, path, response.body)
    aws.pump()


def snapshot():
    """Every item of every table, as plain data."""
    from balance_alerts.adapters.tables import AccountItem, ConfigItem, LedgerItem, NoticeItem

    return {model.__name__: sorted(json.dumps(item.to_simple_dict(), sort_keys=True,
                                              default=str) for item in model.scan())
            for model in (AccountItem, ConfigItem, LedgerItem, NoticeItem)}


@pytest.fixture(scope="module")
def world():
    from local.runtime import LocalAws

    with LocalAws() as aws:
        seed(aws)
        yield aws


NOT_OBJECTS = {
    "an array of a valid object": None,  # the route's sample, in an array
    "an empty array": "[]",
    "an array of two objects": "[{}, {}]",
    "a string": '"credit"',
    "a number": "5",
    "a decimal number": "12.50",
    "true": "true",
    "null": "null",
}


def test_the_walk_covers_every_write_of_the_contract():
    assert {("PUT", "/settings"), ("PUT", "/profiles/{profile_id}"),
            ("PUT", "/classes/{class_id}"), ("PUT", TEMPLATE), ("DELETE", TEMPLATE),
            ("POST", TEMPLATE + "/preview"), ("PUT", "/accounts/{account_id}"),
            ("POST", "/accounts/{account_id}/entries"),
            ("POST", "/accounts/{account_id}/packages")} <= set(WRITES)


@pytest.mark.parametrize("case", NOT_OBJECTS, ids=list(NOT_OBJECTS))
@pytest.mark.parametrize("method, template", WRITES, ids=WRITE_IDS)
def test_a_body_that_is_not_a_json_object_is_400_and_writes_nothing(
        world, method, template, case):
    # Given the tables as they are
    before = snapshot()
    body = NOT_OBJECTS[case]
    if body is None:
        body = json.dumps([fresh(SAMPLES.get((method, template), {}))])
    # When an admin sends the write with a body that is not a JSON object
    response = world.api(method, concrete(template), raw_body=body)
    world.pump()
    # Then it is refused with 400 and the usual error shape, and nothing changed
    assert response.status == 400, (response.status, response.body)
    assert isinstance(response.body, dict)
    assert "must be a JSON object" in response.body["message"]
    assert snapshot() == before


def test_the_caller_learns_403_before_anything_about_the_body(world):
    # Given staff, who may not change settings
    before = snapshot()
    # When staff sends an array to PUT /settings
    response = world.api("PUT", "/settings", raw_body='[{"name": "X"}]', role="staff")
    # Then the answer is about the role, not the body
    assert response.status == 403
    assert snapshot() == before


def test_a_delete_without_a_body_or_with_an_object_still_works(world):
    path = concrete(TEMPLATE)
    assert world.api("DELETE", path).status == 200
    assert world.api("GET", path).body["source"] == "default"
    seed(world)
    assert world.api("DELETE", path, raw_body="{}").status == 200
    assert world.api("GET", path).body["source"] == "default"
    seed(world)


def test_a_preview_without_a_body_still_renders_sample_data(world):
    response = world.api("POST", concrete(TEMPLATE + "/preview"))
    assert response.status == 200, response.body
    assert response.body["subject"]


@pytest.mark.parametrize("method, template", WRITES, ids=WRITE_IDS)
def test_every_sample_body_is_accepted(world, method, template):
    """The samples are valid and change the tables: the array case above refuses a body
    that, unwrapped, would have gone through."""
    assert (method, template) in SAMPLES, f"{method} {template}: add a valid body to SAMPLES"
    before = snapshot()
    try:
        response = world.api(method, concrete(template),
                             body=fresh(SAMPLES[(method, template)]))
        world.pump()
        assert response.status in (200, 201, 202), response.body
        if not template.endswith("/preview"):  # a preview renders, it stores nothing
            assert snapshot() != before
    finally:
        seed(world)  # the configuration as seeded again (entries stay: they are new ids)
