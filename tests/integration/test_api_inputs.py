"""Bad input is a 4xx with a message - never a 5xx - and leaves every table as it was."""

from __future__ import annotations

import json

import pytest

from balance_alerts.adapters.tables import AccountItem, ConfigItem, LedgerItem

ENTRIES = "/accounts/a1/entries"


def _snapshot():
    """Everything the API can write, as plain data."""
    return (
        sorted(json.dumps(item.to_simple_dict(), sort_keys=True, default=str)
               for item in LedgerItem.scan()),
        sorted(json.dumps(item.to_simple_dict(), sort_keys=True, default=str)
               for item in AccountItem.scan()),
        sorted(json.dumps(item.to_simple_dict(), sort_keys=True, default=str)
               for item in ConfigItem.scan()),
    )


@pytest.fixture
def seeded(aws):
    """Given an account a1 (USD) with a charge c1 and a refund r1, a settings document and
    a profile p1."""
    aws.api("PUT", "/settings", body={"name": "Acme"})
    aws.api("PUT", "/profiles/p1", body={"name": "P"})
    aws.api("PUT", "/accounts/a1", body={"name": "Ann", "email": "ann@customer.test"})
    aws.api("POST", ENTRIES, body={"entry_id": "c1", "kind": "charge", "amount": "5"})
    aws.api("POST", ENTRIES, body={"entry_id": "r1", "kind": "refund", "amount": "1"})
    return aws


def entry(**fields):
    """A credit body with ``fields`` changed (None removes a field)."""
    body = {"entry_id": "new", "kind": "credit", "amount": "1", **fields}
    return json.dumps({name: value for name, value in body.items() if value is not None})


DIGITS_39 = "1" * 39
BAD_ENTRY_BODIES = {
    "invalid JSON": "{bad json",
    "truncated JSON": '{"entry_id": "new", "kind": "credit"',
    "empty body": "",
    "JSON null": "null",
    "a list instead of an object": "[]",
    "a string instead of an object": '"credit"',
    "unknown field": entry(colour="red"),
    "duplicate key": '{"entry_id": "new", "kind": "credit", "amount": "1", "amount": "100"}',
    "missing entry_id": '{"kind": "credit", "amount": "1"}',
    "missing kind": '{"entry_id": "new", "amount": "1"}',
    "entry_id as a number": '{"entry_id": 5, "kind": "credit", "amount": "1"}',
    "entry_id empty": entry(entry_id=""),
    "entry_id too long": entry(entry_id="x" * 65),
    "entry_id with a hash": entry(entry_id="a#b"),
    "entry_id with a slash": entry(entry_id="a/b"),
    "entry_id with a trailing newline": entry(entry_id="e1\n"),
    "kind unknown": entry(kind="gift"),
    "kind as a list": entry(kind=["credit"]),
    "amount as a boolean": '{"entry_id": "new", "kind": "credit", "amount": true}',
    "amount as an object": entry(amount={"value": "1"}),
    "amount as a float with more digits than exact": (
        '{"entry_id": "new", "kind": "credit", '
        '"amount": 0.1000000000000000055511151231257827021181583404541015625}'),
    "amount with 39 digits": entry(amount=DIGITS_39),
    "amount as a 39-digit JSON integer": (
        f'{{"entry_id": "new", "kind": "credit", "amount": {DIGITS_39}}}'),
    "amount as a huge JSON integer": (
        '{"entry_id": "new", "kind": "credit", "amount": ' + "9" * 5000 + "}"),
    "amount NaN": '{"entry_id": "new", "kind": "credit", "amount": NaN}',
    "amount Infinity": '{"entry_id": "new", "kind": "credit", "amount": Infinity}',
    "amount -Infinity": '{"entry_id": "new", "kind": "credit", "amount": -Infinity}',
    "amount 'NaN' as a string": entry(amount="NaN"),
    "amount 'Infinity' as a string": entry(amount="Infinity"),
    "amount exponent as a string": entry(amount="1e5"),
    "amount exponent as a number": '{"entry_id": "new", "kind": "credit", "amount": 1e5}',
    "amount negative exponent": '{"entry_id": "new", "kind": "credit", "amount": 1E-2}',
    "amount with a comma": entry(amount="12,50"),
    "amount empty": entry(amount=""),
    "credit of zero": entry(amount="0"),
    "negative credit": entry(amount="-1"),
    "refund without amount": '{"entry_id": "new", "kind": "refund"}',
    "negative charge": entry(kind="charge", amount="-5"),
    "charge with neither amount nor units": '{"entry_id": "new", "kind": "charge"}',
    "charge with quantity but no service": entry(kind="charge", amount=None, quantity="1"),
    "charge with service but no quantity": entry(kind="charge", service="lessons"),
    "charge with zero quantity": entry(kind="charge", service="lessons", quantity="0"),
    "adjustment of zero": entry(kind="adjustment", amount="0.00"),
    "quantity on a credit": entry(service="lessons", quantity="1"),
    "voids on a credit": entry(voids="c1"),
    "void without voids": '{"entry_id": "new", "kind": "void"}',
    "void with an amount": entry(kind="void", voids="c1", amount="5"),
    "void of itself": entry(entry_id="c9", kind="void", voids="c9", amount=None),
    "void of an unknown entry": '{"entry_id": "new", "kind": "void", "voids": "nope"}',
    "void of a refund": '{"entry_id": "new", "kind": "void", "voids": "r1"}',
    "currency of another account": entry(currency="EUR"),
    "currency in lower case": entry(currency="usd"),
    "currency that does not exist": entry(currency="ABC"),
    "occurred_at without an offset": entry(occurred_at="2026-11-02T10:00:00"),
    "occurred_at as a date": entry(occurred_at="2026-11-02"),
    "occurred_at garbage": entry(occurred_at="yesterday"),
    "occurred_at out of range": entry(occurred_at="0001-01-01T00:00:00+05:00"),
    "occurred_at as a number": entry(occurred_at=1730000000),
    "description too long": entry(description="x" * 1001),
    "oversized body": entry(description="x" * 70_000),
    "deeply nested body": '{"entry_id": "new", "kind": "credit", "amount": "1", "x": '
                          + "[" * 5000 + "]" * 5000 + "}",
    "a lone surrogate in an id": '{"entry_id": "\\ud800", "kind": "credit", "amount": "1"}',
    "a lone surrogate in a text": entry(description="\ud800"),
    "a lone surrogate in a key": '{"entry_id": "new", "kind": "credit", "\\udc00": 1}',
}


@pytest.mark.parametrize("body", BAD_ENTRY_BODIES.values(), ids=BAD_ENTRY_BODIES.keys())
def test_a_bad_entry_is_refused_and_nothing_is_written(seeded, body):
    # Given the tables as they are
    before = _snapshot()
    # When a bad entry is posted
    response = seeded.api("POST", ENTRIES, raw_body=body)
    # Then it is a 4xx with a message, and nothing changed
    assert 400 <= response.status < 500, response.body
    assert isinstance(response.body, dict)
    assert isinstance(response.body["message"], str) and response.body["message"]
    assert _snapshot() == before


BAD_REQUESTS = {
    "account id too long": ("POST", "/accounts/" + "a" * 65 + "/entries", entry(), None),
    "account id with a space": ("GET", "/accounts/a b", None, None),
    "account id with a bang": ("PUT", "/accounts/a!b", "{}", None),
    "profile id with a colon and a bang": ("PUT", "/profiles/p!", '{"name": "x"}', None),
    "entries of an unknown account": ("POST", "/accounts/nope/entries", entry(), None),
    "limit zero": ("GET", ENTRIES, None, {"limit": "0"}),
    "limit above 100": ("GET", ENTRIES, None, {"limit": "101"}),
    "limit not a number": ("GET", ENTRIES, None, {"limit": "ten"}),
    "limit a decimal": ("GET", "/accounts", None, {"limit": "1.5"}),
    "cursor garbage": ("GET", ENTRIES, None, {"cursor": "garbage"}),
    "cursor on notices": ("GET", "/accounts/a1/notices", None, {"cursor": "a.b"}),
    "cursor on accounts": ("GET", "/accounts", None, {"cursor": "e30.e30"}),
    "cursor on profiles": ("GET", "/profiles", None, {"cursor": "!!!"}),
    "account: unknown status": ("PUT", "/accounts/a1", '{"status": "frozen"}', None),
    "account: unknown billing": ("PUT", "/accounts/a1", '{"billing": "credit"}', None),
    "account: bad email": ("PUT", "/accounts/a1", '{"email": "ann@"}', None),
    "account: email with a newline": ("PUT", "/accounts/a1",
                                      '{"email": "ann@customer.test\\n"}', None),
    "account: bad extra email": ("PUT", "/accounts/a1", '{"extra_emails": ["x"]}', None),
    "account: extra_emails not a list": ("PUT", "/accounts/a1",
                                         '{"extra_emails": "a@b.test"}', None),
    "account: bad time zone": ("PUT", "/accounts/a1", '{"timezone": "Mars/Base"}', None),
    "account: path as time zone": ("PUT", "/accounts/a1", '{"timezone": "../etc/x"}', None),
    "account: bad locale": ("PUT", "/accounts/a1", '{"locale": "xx_YY"}', None),
    "account: bad currency": ("PUT", "/accounts/a1", '{"currency": "DOLLARS"}', None),
    "account: name a number": ("PUT", "/accounts/a1", '{"name": 7}', None),
    "account: balance is not a setting": ("PUT", "/accounts/a1", '{"balance": "100"}', None),
    "account: version is not a setting": ("PUT", "/accounts/a1", '{"version": 0}', None),
    "account: bad profile id": ("PUT", "/accounts/a1", '{"profile_id": "a#b"}', None),
    "settings: unknown field": ("PUT", "/settings", '{"colour": "red"}', None),
    "settings: bad from_email": ("PUT", "/settings", '{"from_email": "nope"}', None),
    "settings: bad track_packages_by": ("PUT", "/settings",
                                        '{"track_packages_by": "family"}', None),
    "class: unknown notice type": ("PUT", "/classes/c1", '{"enabled": ["spam"]}', None),
    "class: enabled not a list": ("PUT", "/classes/c1", '{"enabled": "balance_low"}', None),
    "not JSON content": ("PUT", "/settings", "name=x", None),
    "account id with a non-ASCII letter": ("GET", "/accounts/\u00e41", None, None),
    "account id with a space in a write": ("PUT", "/accounts/a%20b", "{}", None),
    "profile id too long": ("GET", "/profiles/" + "p" * 65, None, None),
    "class id with a bang": ("PUT", "/classes/c!", "{}", None),
    "limit negative": ("GET", ENTRIES, None, {"limit": "-1"}),
    "limit with 40 digits": ("GET", ENTRIES, None, {"limit": "1" + "0" * 39}),
    "limit as an exponent": ("GET", "/accounts", None, {"limit": "1e2"}),
    "limit empty": ("GET", "/profiles", None, {"limit": ""}),
    "cursor empty": ("GET", ENTRIES, None, {"cursor": ""}),
    "cursor too long": ("GET", "/accounts", None, {"cursor": "a" * 3000}),
    "account: too many extra emails": ("PUT", "/accounts/a1", json.dumps(
        {"extra_emails": [f"x{n}@customer.test" for n in range(21)]}), None),
    "account: an extra email twice": ("PUT", "/accounts/a1", json.dumps(
        {"extra_emails": ["x@customer.test", "x@customer.test"]}), None),
    "account: name too long": ("PUT", "/accounts/a1", json.dumps({"name": "x" * 201}), None),
    "account: name empty": ("PUT", "/accounts/a1", '{"name": ""}', None),
    "account: status null": ("PUT", "/accounts/a1", '{"status": null}', None),
    "account: a list body": ("PUT", "/accounts/a1", "[]", None),
    "settings: too many staff emails": ("PUT", "/settings", json.dumps(
        {"staff_emails": [f"s{n}@acme.test" for n in range(21)]}), None),
    "settings: unsubscribe as javascript": ("PUT", "/settings",
                                            '{"unsubscribe": "javascript:alert(1)"}', None),
    "settings: body is null": ("PUT", "/settings", "null", None),
    "settings: a number too large for a float": ("PUT", "/settings", '{"name": 1e400}', None),
    "settings: over 64 KiB of whitespace": ("PUT", "/settings", "{" + " " * 70_000 + "}",
                                            None),
}


@pytest.mark.parametrize("method, path, body, query", BAD_REQUESTS.values(),
                         ids=BAD_REQUESTS.keys())
def test_a_bad_request_is_a_4xx_with_a_message(seeded, method, path, body, query):
    before = _snapshot()
    response = seeded.api(method, path, raw_body=body, query=query)
    assert 400 <= response.status < 500, response.body
    assert response.body["message"]
    assert _snapshot() == before


def test_a_body_that_is_not_json_content_is_415(seeded):
    response = seeded.api("PUT", "/settings", raw_body="name=x",
                          headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert response.body["message"]


def test_an_entry_for_an_unknown_account_is_404(seeded):
    response = seeded.api("POST", "/accounts/nope/entries", raw_body=entry())
    assert response.status == 404


def test_a_bad_cursor_is_400(seeded):
    response = seeded.api("GET", ENTRIES, query={"cursor": "garbage"})
    assert response.status == 400


def test_unknown_fields_and_wrong_types_are_422_with_the_field_named(seeded):
    unknown = seeded.api("POST", ENTRIES, raw_body=entry(colour="red"))
    assert unknown.status == 422
    assert "colour" in unknown.body["message"]
    wrong_type = seeded.api("PUT", "/accounts/a1", body={"status": 1})
    assert wrong_type.status == 422
    assert "status" in wrong_type.body["message"]


BAD_PROFILES = {
    "rule ids not unique": {"rules": [
        {"id": "x", "type": "balance_below", "threshold": "1"},
        {"id": "x", "type": "balance_below", "threshold": "2"}]},
    "unknown rule type": {"rules": [{"id": "x", "type": "balance_above", "threshold": "1"}]},
    "rule without type": {"rules": [{"id": "x", "threshold": "1"}]},
    "balance_below without threshold": {"rules": [{"id": "x", "type": "balance_below"}]},
    "threshold as a float": {"rules": [{"id": "x", "type": "balance_below",
                                        "threshold": "1e3"}]},
    "notify empty": {"rules": [{"id": "x", "type": "balance_below", "threshold": "1",
                                "notify": []}]},
    "notify someone unknown": {"rules": [{"id": "x", "type": "balance_below",
                                          "threshold": "1", "notify": ["boss"]}]},
    "notify twice the same": {"rules": [{"id": "x", "type": "balance_below",
                                         "threshold": "1",
                                         "notify": ["staff", "staff"]}]},
    "notify_recovery as a string": {"rules": [{"id": "x", "type": "balance_below",
                                               "threshold": "1", "notify_recovery": "yes"}]},
    "runs_out with a negative day": {"rules": [{"id": "x", "type": "runs_out",
                                                "days": [3, -1]}]},
    "runs_out with fractional days": {"rules": [{"id": "x", "type": "runs_out",
                                                 "days": [1.5]}]},
    "runs_out with days as strings": {"rules": [{"id": "x", "type": "runs_out",
                                                 "days": ["3"]}]},
    "inactive without inactive_days": {"rules": [{"id": "x", "type": "inactive",
                                                  "threshold": "5"}]},
    "inactive with zero days": {"rules": [{"id": "x", "type": "inactive", "threshold": "5",
                                           "inactive_days": 0}]},
    "package_below with remaining and percent": {"rules": [
        {"id": "x", "type": "package_below", "remaining": "2", "percent": "10"}]},
    "package_below with neither": {"rules": [{"id": "x", "type": "package_below"}]},
    "package_below percent above 100": {"rules": [{"id": "x", "type": "package_below",
                                                   "percent": "150"}]},
    "threshold on runs_out": {"rules": [{"id": "x", "type": "runs_out", "threshold": "1"}]},
    "bad cc email": {"rules": [{"id": "x", "type": "balance_below", "threshold": "1",
                                "cc_emails": ["not-an-email"]}]},
    "staff_emails not a list": {"rules": [{"id": "x", "type": "balance_below",
                                           "threshold": "1", "staff_emails": "a@b.test"}]},
    "rule id with a hash": {"rules": [{"id": "a#b", "type": "balance_below",
                                       "threshold": "1"}]},
    "rules not a list": {"rules": {"id": "x"}},
    "reminder hours as a string": {"reminder_every_hours": "24"},
    "reminder hours zero": {"reminder_every_hours": 0},
    "max_reminders without a period": {"max_reminders": 3},
    "max_reminders as a boolean": {"reminder_every_hours": 1, "max_reminders": True},
    "max_reminders above 100": {"reminder_every_hours": 1, "max_reminders": 101},
    "reminder hours above a year": {"reminder_every_hours": 24 * 365 + 1},
    "too many rules": {"rules": [{"id": f"r{n}", "type": "balance_below", "threshold": "1"}
                                 for n in range(51)]},
    "threshold with 39 digits": {"rules": [{"id": "x", "type": "balance_below",
                                            "threshold": "1" * 39}]},
    "threshold NaN": {"rules": [{"id": "x", "type": "balance_below", "threshold": "NaN"}]},
    "threshold as a boolean": {"rules": [{"id": "x", "type": "balance_below",
                                          "threshold": True}]},
    "runs_out with too many days": {"rules": [{"id": "x", "type": "runs_out",
                                               "days": list(range(21))}]},
    "runs_out with a day above 3650": {"rules": [{"id": "x", "type": "runs_out",
                                                  "days": [3651]}]},
    "inactive_days above 3650": {"rules": [{"id": "x", "type": "inactive", "threshold": "5",
                                            "inactive_days": 3651}]},
    "name too long": {"name": "x" * 201},
    "too many cc emails": {"rules": [{"id": "x", "type": "balance_below", "threshold": "1",
                                      "cc_emails": [f"c{n}@acme.test" for n in range(21)]}]},
}


@pytest.mark.parametrize("profile", BAD_PROFILES.values(), ids=BAD_PROFILES.keys())
def test_a_bad_profile_is_422_and_not_stored(seeded, profile):
    before = _snapshot()
    response = seeded.api("PUT", "/profiles/p2", body={"name": "New", **profile})
    assert response.status == 422, response.body
    assert response.body["message"]
    assert _snapshot() == before
    assert seeded.api("GET", "/profiles/p2").status == 404


@pytest.mark.filterwarnings("ignore:Received multipart/form-data:UserWarning")
@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data", '{"name": "x"}'),
    ("multipart/form-data; boundary=xyz", '--xyz\r\nContent-Disposition: form-data; '
                                          'name="name"\r\n\r\nx\r\n--xyz--\r\n'),
    ("application/x-www-form-urlencoded", "name=x"),
    ("text/plain", '{"name": "x"}'),
], ids=["multipart without a boundary", "multipart", "form", "text"])
def test_a_body_that_is_not_json_is_415_and_nothing_is_written(seeded, content_type, body):
    before = _snapshot()
    for path in ("/settings", "/accounts/a1"):
        response = seeded.api("PUT", path, raw_body=body,
                              headers={"Content-Type": content_type})
        assert response.status == 415, (path, response.body)
        assert response.body["message"]
    assert _snapshot() == before


def test_a_caller_who_may_not_write_learns_403_not_415(seeded):
    response = seeded.api("PUT", "/settings", raw_body="name=x", role="staff",
                          headers={"Content-Type": "multipart/form-data"})
    assert response.status == 403


@pytest.mark.parametrize("method, path, allowed", [
    ("PATCH", "/settings", "GET, PUT"),
    ("DELETE", "/accounts/a1", "GET, PUT"),
    ("POST", "/accounts", "GET"),
    ("PUT", "/accounts/a1/entries", "GET, POST"),
])
def test_a_method_the_path_does_not_take_is_405_with_allow(seeded, method, path, allowed):
    before = _snapshot()
    response = seeded.api(method, path, raw_body="{}")
    assert response.status == 405, response.body
    assert response.headers["Allow"] == allowed
    assert response.body["message"]
    assert _snapshot() == before


def test_a_read_ignores_the_content_type_and_a_body(seeded):
    plain = {"Content-Type": "text/plain"}
    assert seeded.api("GET", "/accounts/a1", raw_body="x=1", headers=plain).status == 200
    refused = seeded.api("GET", ENTRIES, query={"limit": "0"}, headers=plain)
    assert refused.status == 422, refused.body
