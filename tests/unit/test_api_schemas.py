"""The API's pure parts: request models, the strict JSON reader, cursors, the role policy
and the idempotency hash. No AWS."""

from __future__ import annotations

import typing
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from balance_alerts.adapters import settings
from balance_alerts.api import cursors
from balance_alerts.api.auth import Identity, authorize, identity_from_claims
from balance_alerts.api.body import MAX_BODY_BYTES, parse_json_body
from balance_alerts.api.entries import body_hash
from balance_alerts.api.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
    describe_validation_errors,
)
from balance_alerts.api.schemas import (
    AccountIn,
    AccountStatus,
    Billing,
    ClassIn,
    EntryIn,
    EntryKind,
    NoticeType,
    ProfileIn,
    SettingsIn,
)
from balance_alerts.domain import model, rules
from balance_alerts.domain.profiles import profile_from_dict


# ------------------------------------------------------------ enum names
def test_the_models_use_the_domains_names():
    assert typing.get_args(EntryKind) == model.ENTRY_KINDS
    assert typing.get_args(NoticeType) == rules.NOTICE_TYPES
    assert typing.get_args(AccountStatus) == model.ACCOUNT_STATUSES
    assert typing.get_args(Billing) == model.BILLING_MODES


# --------------------------------------------------------------- entries
@pytest.mark.parametrize("body", [
    {"entry_id": "e-1", "kind": "charge", "amount": "12.50"},
    {"entry_id": "e.1", "kind": "charge", "service": "lessons", "quantity": "1"},
    {"entry_id": "e:1", "kind": "charge", "amount": "1", "service": "Piano lessons",
     "quantity": Decimal("0.5"), "member_id": "kid 1"},
    {"entry_id": "E_1", "kind": "credit", "amount": 20},
    {"entry_id": "x" * 64, "kind": "refund", "amount": Decimal("0.01")},
    {"entry_id": "a", "kind": "adjustment", "amount": "-3"},
    {"entry_id": "v", "kind": "void", "voids": "e-1", "description": "mistake"},
    {"entry_id": "t", "kind": "credit", "amount": "1", "currency": "EUR",
     "occurred_at": "2026-11-02T10:00:00Z"},
])
def test_valid_entries(body):
    entry = EntryIn.model_validate(body)
    assert entry.entry_id == body["entry_id"]


@pytest.mark.parametrize("body", [
    {"entry_id": "e", "kind": "credit", "amount": 1.5},            # a float
    {"entry_id": "e", "kind": "credit", "amount": True},
    {"entry_id": "e", "kind": "credit", "amount": "1e2"},
    {"entry_id": "e", "kind": "credit", "amount": Decimal("NaN")},
    {"entry_id": "e", "kind": "credit", "amount": "1" * 39},
    {"entry_id": "e", "kind": "credit", "amount": "0"},
    {"entry_id": "e", "kind": "charge"},
    {"entry_id": "e", "kind": "charge", "amount": "1", "service": "a#b", "quantity": "1"},
    {"entry_id": "e", "kind": "adjustment", "amount": "0"},
    {"entry_id": "e", "kind": "void"},
    {"entry_id": "e", "kind": "credit", "amount": "1", "voids": "x"},
    {"entry_id": "e", "kind": "credit", "amount": "1", "occurred_at": "2026-11-02T10:00"},
    {"entry_id": "e", "kind": "credit", "amount": "1", "unknown": 1},
    {"entry_id": "", "kind": "credit", "amount": "1"},
])
def test_invalid_entries(body):
    with pytest.raises(ValidationError):
        EntryIn.model_validate(body)


def test_occurred_at_is_normalised_to_utc_with_microseconds():
    entry = EntryIn.model_validate({"entry_id": "e", "kind": "credit", "amount": "1",
                                    "occurred_at": "2026-11-02T10:00:00.5+01:00"})
    assert entry.occurred_at == "2026-11-02T09:00:00.500000+00:00"


def test_the_hash_ignores_spelling_but_not_content():
    def digest(**fields):
        body = {"entry_id": "e", "kind": "charge", "amount": "5", **fields}
        return body_hash(EntryIn.model_validate(body), "USD")

    assert digest() == digest(amount="5.00") == digest(amount=5) == digest(currency="USD")
    assert digest(occurred_at="2026-11-02T10:00:00+01:00") == digest(
        occurred_at="2026-11-02T09:00:00Z")
    assert digest() != digest(amount="5.01")
    assert digest() != digest(description="x")
    assert digest() != body_hash(EntryIn.model_validate(
        {"entry_id": "e", "kind": "charge", "amount": "5"}), "EUR")


# -------------------------------------------------------------- profiles
CONTRACT_RULES = [
    {"id": "low", "type": "balance_below", "threshold": "20.00",
     "notify": ["customer", "staff"], "notify_recovery": True},
    {"id": "empty", "type": "balance_below", "threshold": "0", "notify": ["customer", "staff"]},
    {"id": "runway", "type": "runs_out", "days": [10, 5, 3, 1, 0], "notify": ["customer"]},
    {"id": "idle", "type": "inactive", "threshold": "5.00", "inactive_days": 30,
     "notify": ["customer"]},
    {"id": "lessons", "type": "package_below", "remaining": "2",
     "notify": ["customer", "staff"]},
]


def test_the_contract_profile_round_trips_into_the_domain():
    profile = ProfileIn.model_validate({"name": "Standard", "reminder_every_hours": 24,
                                        "max_reminders": 3, "rules": CONTRACT_RULES})
    doc = profile.to_doc()
    assert doc["rules"][0]["threshold"] == "20.00"
    assert doc["rules"][4]["remaining"] == "2"
    assert "percent" not in doc["rules"][4]
    domain = profile_from_dict("standard", doc)
    assert [rule.id for rule in domain.rules] == ["low", "empty", "runway", "idle", "lessons"]
    assert domain.rules[0].threshold == Decimal("20.00")
    assert domain.rules[2].days == (10, 5, 3, 1, 0)
    assert domain.rules[3].inactive_days == 30
    assert domain.rules[4].remaining == Decimal(2)


def test_rule_defaults():
    profile = ProfileIn.model_validate({"rules": [
        {"id": "r", "type": "runs_out"}, {"id": "b", "type": "balance_below", "threshold": 5}]})
    doc = profile.to_doc()
    assert doc["rules"][0]["days"] == [10, 5, 3, 1, 0]
    assert doc["rules"][0]["notify"] == ["customer"]
    assert doc["rules"][1]["threshold"] == "5"
    assert doc["rules"][1]["notify_recovery"] is False


def test_a_package_rule_may_name_a_service_and_use_a_percent():
    doc = ProfileIn.model_validate({"rules": [
        {"id": "p", "type": "package_below", "percent": "25", "service": "lessons"}]}).to_doc()
    assert doc["rules"][0] == {"id": "p", "type": "package_below", "percent": "25",
                               "service": "lessons", "notify": ["customer"], "cc_emails": [],
                               "staff_emails": []}


def test_settings_and_class_defaults():
    assert SettingsIn().model_dump(mode="json") == {
        "name": None, "from_email": None, "staff_emails": [], "default_currency": "USD",
        "default_profile_id": None, "default_class": None, "track_packages_by": "account",
        "unsubscribe": None}
    assert ClassIn().model_dump(exclude_none=True) == {"template_set": "default"}


def test_account_defaults_and_validators():
    account = AccountIn()
    assert (account.status, account.billing, account.timezone, account.locale) == (
        "active", "prepaid", "UTC", "en_US")
    assert account.currency is None
    assert AccountIn(timezone="America/New_York", locale="fr_CA", currency="CAD").locale == "fr_CA"
    for bad in ({"timezone": "Nowhere/City"}, {"locale": "zz"}, {"currency": "US"},
                {"email": "a@b"}, {"extra_emails": ["a@b.test", "a@b.test"]}):
        with pytest.raises(ValidationError):
            AccountIn.model_validate(bad)


# ------------------------------------------------------------ JSON reader
def test_json_numbers_become_exact_decimals():
    body = parse_json_body('{"a": 0.1, "b": 12.50, "c": 7, "d": -0.000001}')
    assert body == {"a": Decimal("0.1"), "b": Decimal("12.50"), "c": 7,
                    "d": Decimal("-0.000001")}
    assert isinstance(body["a"], Decimal)


@pytest.mark.parametrize("text", [
    '{"a": 1e5}', '{"a": 1E-2}', '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}',
    '{"a": 0.1000000000000000055511151231257827021181583404541015625}',
    '{"a": ' + "1" * 39 + "}", '{"a": 1, "a": 2}', "{", "", "[" * 100 + "]" * 100,
    '{"a": "\\udc00"}', " " * (MAX_BODY_BYTES + 1),
])
def test_json_the_api_refuses(text):
    with pytest.raises(Unprocessable) as refused:
        parse_json_body(text)
    assert refused.value.message
    assert refused.value.status == 422


@pytest.mark.parametrize("text, kind", [
    ('[{"a": "1"}]', "an array"), ("[]", "an array"), ('"a"', "a string"), ("5", "a number"),
    ("12.50", "a number"), ("true", "a boolean"), ("null", "null"),
])
def test_a_body_that_is_not_an_object_is_a_400(text, kind):
    with pytest.raises(BadRequest) as refused:
        parse_json_body(text)
    assert refused.value.status == 400
    assert refused.value.message == f"the request body must be a JSON object, not {kind}"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=6,
                   min_value=Decimal("-1e20"), max_value=Decimal("1e20")))
def test_any_plain_decimal_survives_the_reader_exactly(number):
    text = format(number, "f")
    assert parse_json_body(f'{{"n": {text}, "s": "{text}"}}')["n"] == number


# ---------------------------------------------------------------- cursors
def _encode(position=None, **binding):
    return cursors.encode_cursor(**{"tenant_id": "t1", "list_name": "entries", "scope": "a1",
                                    "position": position or {"entry_id": "e1"}, **binding})


def _decode(cursor, **binding):
    return cursors.decode_cursor(cursor, **{"tenant_id": "t1", "list_name": "entries",
                                            "scope": "a1", "fields": ("entry_id",), **binding})


@given(st.text(min_size=1, max_size=100))
def test_a_cursor_round_trips_any_position(value):
    assert _decode(_encode({"entry_id": value})) == {"entry_id": value}


@pytest.mark.parametrize("binding", [
    {"tenant_id": "t2"}, {"list_name": "notices"}, {"scope": "a2"},
    {"fields": ("entry_id", "recorded_seq")},
])
def test_a_cursor_is_bound_to_its_tenant_list_and_scope(binding):
    with pytest.raises(BadRequest):
        _decode(_encode(), **binding)


def test_a_cursor_cannot_be_altered():
    cursor = _encode()
    payload, signature = cursor.split(".")
    forged_payload = cursors._b64(b'{"l":"entries","p":{"entry_id":"zzz"},"s":"a1","t":"t1"}')
    for bad in (f"{forged_payload}.{signature}", f"{payload}.", f"{payload}.{signature}x",
                "", "no-dot", "a.b.c", "é.é"):
        with pytest.raises(BadRequest):
            _decode(bad)


def test_a_cursor_depends_on_the_secret(monkeypatch):
    cursor = _encode()
    monkeypatch.setenv("CURSOR_SECRET", "s3cret")
    settings.reset_cache()
    try:
        with pytest.raises(BadRequest):
            _decode(cursor)
        assert _decode(_encode()) == {"entry_id": "e1"}
    finally:
        monkeypatch.delenv("CURSOR_SECRET")
        settings.reset_cache()


# ---------------------------------------------------------------- identity
def test_identity_comes_from_the_cognito_claims():
    who = identity_from_claims({"custom:tenant_id": "t1", "custom:role": "staff",
                                "sub": "u-1", "cognito:username": "someone"})
    assert who == Identity(tenant_id="t1", role="staff", account_id=None, actor="u-1")
    assert identity_from_claims({"custom:tenant_id": "t1", "custom:role": "admin",
                                 "cognito:username": "boss"}).actor == "boss"
    assert identity_from_claims({"custom:tenant_id": "t1", "custom:role": "admin"}).actor == (
        "admin")


@pytest.mark.parametrize("claims, error", [
    (None, Unauthorized), ({}, Unauthorized), ({"custom:role": "admin"}, Unauthorized),
    ({"custom:tenant_id": "t#1", "custom:role": "admin"}, Unauthorized),
    ({"custom:tenant_id": "t1"}, Forbidden),
    ({"custom:tenant_id": "t1", "custom:role": "root"}, Forbidden),
])
def test_missing_or_unknown_claims_are_refused(claims, error):
    with pytest.raises(error):
        identity_from_claims(claims)


ADMIN = Identity("t1", "admin", None, "x")
STAFF = Identity("t1", "staff", None, "x")
CUSTOMER = Identity("t1", "customer", "a1", "x")


@pytest.mark.parametrize("who, method, path, refusal", [
    (ADMIN, "PUT", "/settings", None),
    (ADMIN, "DELETE", "/templates/default/balance_low/customer", None),
    (STAFF, "GET", "/settings", None),
    (STAFF, "PUT", "/settings", Forbidden),
    (STAFF, "PUT", "/profiles/p", Forbidden),
    (STAFF, "PUT", "/classes/c", Forbidden),
    (STAFF, "DELETE", "/templates/default/balance_low/customer", Forbidden),
    (STAFF, "POST", "/templates/default/balance_low/customer/preview", None),
    (STAFF, "PUT", "/accounts/a1", None),
    (STAFF, "POST", "/accounts/a1/entries", None),
    (STAFF, "POST", "/accounts/a1/packages", None),
    (CUSTOMER, "GET", "/accounts/a1", None),
    (CUSTOMER, "GET", "/accounts/a1/", None),
    (CUSTOMER, "GET", "/accounts/a1/entries", None),
    (CUSTOMER, "GET", "/accounts/a1/packages", None),
    (CUSTOMER, "GET", "/accounts/a1/notices", None),
    (CUSTOMER, "GET", "/accounts/a2", NotFound),
    (CUSTOMER, "GET", "/accounts/a2/entries", NotFound),
    (CUSTOMER, "GET", "/accounts", Forbidden),
    (CUSTOMER, "PUT", "/accounts/a1", Forbidden),
    (CUSTOMER, "POST", "/accounts/a1/entries", Forbidden),
    (CUSTOMER, "GET", "/settings", Forbidden),
    (CUSTOMER, "GET", "/profiles", Forbidden),
    (Identity("t1", "customer", None, "x"), "GET", "/accounts/a1", Forbidden),
])
def test_the_role_policy(who, method, path, refusal):
    if refusal is None:
        authorize(who, method, path)
    else:
        with pytest.raises(refusal):
            authorize(who, method, path)


def test_validation_errors_are_described_without_their_input():
    message, details = describe_validation_errors([
        {"loc": ("body", "amount"), "type": "value_error",
         "msg": "Value error, amount is bad", "input": "secret@example.test"},
        {"loc": ("path", "account_id"), "type": "string_pattern_mismatch", "msg": "bad id"},
    ])
    assert message == "amount: amount is bad; path.account_id: bad id"
    assert "secret" not in repr(details)
