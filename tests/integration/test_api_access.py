"""Who may do what (CONTRACT.md section 2, Identity), and tenant isolation.

Customers asking for another account's resources get 404, like for an account that does
not exist (balance_alerts.api.auth)."""

from __future__ import annotations

import itertools

import pytest

from balance_alerts.adapters.tables import AccountItem, LedgerItem

OK, FORBIDDEN, NOT_FOUND = "ok", 403, 404
_ids = itertools.count()


def _body(method: str, path: str):
    """A valid body for each writing endpoint (entries get a fresh id each time)."""
    if path == "/settings":
        return {"name": "Acme", "default_currency": "USD"}
    if path.startswith("/profiles/"):
        return {"name": "P", "rules": [{"id": "low", "type": "balance_below",
                                        "threshold": "10"}]}
    if path.startswith("/classes/"):
        return {"name": "Retail"}
    if path.endswith("/entries") and method == "POST":
        return {"entry_id": f"e{next(_ids)}", "kind": "credit", "amount": "1"}
    if path.startswith("/accounts/") and method == "PUT":
        return {"name": "Ann"}
    return None


#  method, path,                      admin, staff,     own customer, other customer
MATRIX = [
    ("PUT", "/settings",                OK, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("GET", "/settings",                OK, OK,        FORBIDDEN, FORBIDDEN),
    ("PUT", "/profiles/p1",             OK, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("GET", "/profiles/p1",             OK, OK,        FORBIDDEN, FORBIDDEN),
    ("GET", "/profiles",                OK, OK,        FORBIDDEN, FORBIDDEN),
    ("PUT", "/classes/c1",              OK, FORBIDDEN, FORBIDDEN, FORBIDDEN),
    ("GET", "/classes/c1",              OK, OK,        FORBIDDEN, FORBIDDEN),
    ("PUT", "/accounts/a1",             OK, OK,        FORBIDDEN, FORBIDDEN),
    ("GET", "/accounts/a1",             OK, OK,        OK,        NOT_FOUND),
    ("GET", "/accounts",                OK, OK,        FORBIDDEN, FORBIDDEN),
    ("POST", "/accounts/a1/entries",    OK, OK,        FORBIDDEN, FORBIDDEN),
    ("GET", "/accounts/a1/entries",     OK, OK,        OK,        NOT_FOUND),
    ("GET", "/accounts/a1/notices",     OK, OK,        OK,        NOT_FOUND),
]
CALLERS = {
    "admin": {"role": "admin"},
    "staff": {"role": "staff"},
    "own customer": {"role": "customer", "account_id": "a1"},
    "other customer": {"role": "customer", "account_id": "a2"},
}


@pytest.fixture
def tenant(aws):
    """Given tenant t1 with accounts a1 and a2, a profile p1, a class c1 and an entry."""
    aws.api("PUT", "/accounts/a1", body={"name": "Ann"})
    aws.api("PUT", "/accounts/a2", body={"name": "Bob"})
    aws.api("PUT", "/profiles/p1", body={"name": "P"})
    aws.api("PUT", "/classes/c1", body={"name": "C"})
    aws.api("POST", "/accounts/a1/entries",
            body={"entry_id": "first", "kind": "credit", "amount": "1"})
    return "t1"


@pytest.mark.parametrize(
    "method, path, caller, expected",
    [
        pytest.param(method, path, caller, expected, id=f"{caller}: {method} {path}")
        for method, path, *outcomes in MATRIX
        for caller, expected in zip(CALLERS, outcomes, strict=True)
    ],
)
def test_role_matrix(aws, tenant, method, path, caller, expected):
    # When the caller makes a valid request
    response = aws.api(method, path, body=_body(method, path), **CALLERS[caller])
    # Then it is allowed (2xx) or refused with the contract's status and a message
    if expected == OK:
        assert 200 <= response.status < 300, response.body
    else:
        assert response.status == expected, response.body
        assert response.body["message"]


def test_refused_writes_leave_nothing_behind(aws, tenant):
    before = aws.api("GET", "/accounts/a1").body
    aws.api("PUT", "/accounts/a1", role="customer", account_id="a1", body={"name": "Hacked"})
    aws.api("POST", "/accounts/a1/entries", role="customer", account_id="a1",
            body={"entry_id": "free-money", "kind": "credit", "amount": "1000"})
    aws.api("PUT", "/profiles/p1", role="staff", body={"name": "Changed"})
    assert aws.api("GET", "/accounts/a1").body == before
    assert [item.entry_id for item in LedgerItem.query("t1#a1")] == ["first"]
    assert aws.api("GET", "/profiles/p1").body["name"] == "P"


@pytest.mark.parametrize("method, path", [(m, p) for m, p, *_ in MATRIX] + [("GET", "/nope")])
def test_no_tenant_is_401_on_every_path(aws, method, path):
    response = aws.api(method, path, tenant=None, body=_body(method, path))
    assert response.status == 401
    assert response.body["message"]
    assert aws.api(method, path, tenant=None, role=None).status == 401


@pytest.mark.parametrize("claims", [
    {"role": None},
    {"role": "superuser"},
    {"role": "Admin"},
    {"role": "customer"},  # a customer without an account
], ids=["no role", "unknown role", "wrong case", "customer without account"])
def test_callers_without_a_known_role_are_403(aws, tenant, claims):
    response = aws.api("GET", "/accounts/a1", **claims)
    assert response.status == 403
    assert response.body["message"]


def test_a_tenant_id_that_could_break_key_isolation_is_401(aws, tenant):
    assert aws.api("GET", "/accounts/a1", tenant="t1#a1").status == 401
    assert aws.api("GET", "/accounts/a1", tenant="").status == 401


@pytest.mark.parametrize("caller, request_kwargs, expected", [
    ("customer writing with a bad body", dict(method="PUT", path="/accounts/a1",
     raw_body="{not json", role="customer", account_id="a1"), 403),
    ("staff writing config with a bad body", dict(method="PUT", path="/profiles/p1",
     body={"rules": "nope"}, role="staff"), 403),
    ("no tenant with a bad body", dict(method="POST", path="/accounts/a1/entries",
     raw_body="[", tenant=None), 401),
    ("other customer with a bad cursor", dict(method="GET", path="/accounts/a1/entries",
     query={"cursor": "forged"}, role="customer", account_id="a2"), 404),
    ("other customer with a bad limit", dict(method="GET", path="/accounts/a1/entries",
     query={"limit": "0"}, role="customer", account_id="a2"), 404),
    ("customer on a bad path id", dict(method="GET", path="/accounts/" + "x" * 80,
     role="customer", account_id="a1"), 404),
])
def test_refusing_the_caller_comes_before_judging_the_input(aws, tenant, caller,
                                                            request_kwargs, expected):
    kwargs = dict(request_kwargs)
    response = aws.api(kwargs.pop("method"), kwargs.pop("path"), **kwargs)
    assert response.status == expected, (caller, response.body)


# --------------------------------------------------------- tenant isolation
ACCOUNT_PATHS = [
    ("GET", "/accounts/a1", None),
    ("GET", "/accounts/a1/entries", None),
    ("GET", "/accounts/a1/notices", None),
    ("POST", "/accounts/a1/entries", {"entry_id": "t2-entry", "kind": "credit", "amount": "9"}),
]


@pytest.mark.parametrize("role", ["admin", "staff"])
@pytest.mark.parametrize("method, path, body", ACCOUNT_PATHS)
def test_another_tenants_account_is_404_on_every_account_path(aws, tenant, role, method,
                                                              path, body):
    # Given t1's account a1; when t2's caller uses the same path
    response = aws.api(method, path, tenant="t2", role=role, body=body)
    # Then it is not found, and nothing was written to t1's ledger
    assert response.status == 404
    assert response.body["message"]
    assert [item.entry_id for item in LedgerItem.query("t1#a1")] == ["first"]
    assert list(LedgerItem.query("t2#a1")) == []


def test_another_tenants_customer_with_the_same_account_id_sees_nothing(aws, tenant):
    assert aws.api("GET", "/accounts/a1", tenant="t2", role="customer",
                   account_id="a1").status == 404
    assert aws.api("GET", "/accounts/a1/entries", tenant="t2", role="customer",
                   account_id="a1").status == 404


def test_putting_the_same_account_id_in_another_tenant_creates_a_separate_account(aws, tenant):
    before = AccountItem.get("t1", "a1")
    created = aws.api("PUT", "/accounts/a1", tenant="t2", body={"name": "Mallory"})
    assert created.status == 201
    after = AccountItem.get("t1", "a1")
    assert (after.name, after.version, after.updated_at) == (
        before.name, before.version, before.updated_at)
    assert AccountItem.get("t2", "a1").account_key == "t2#a1"


def test_lists_and_config_are_per_tenant(aws, tenant):
    assert aws.api("GET", "/accounts", tenant="t2").body == {"accounts": [],
                                                             "next_cursor": None}
    assert aws.api("GET", "/profiles", tenant="t2").body == {"profiles": [],
                                                             "next_cursor": None}
    assert aws.api("GET", "/profiles/p1", tenant="t2").status == 404
    assert aws.api("GET", "/classes/c1", tenant="t2").status == 404
    aws.api("PUT", "/settings", tenant="t2", body={"default_currency": "EUR"})
    assert aws.api("GET", "/settings").body["default_currency"] == "USD"
