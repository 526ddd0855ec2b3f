"""ApiFunction on moto: every endpoint's happy path, and what it stores.

Requests go through ``aws.api`` (an API Gateway proxy event with Cognito claims, handled
by functions/api/app.py unchanged)."""

from __future__ import annotations

import re
from decimal import Decimal

from balance_alerts.adapters import config_store
from balance_alerts.adapters.tables import AccountItem, LedgerItem, NoticeItem
from balance_alerts.domain.profiles import profile_from_dict
from local.apigw import proxy_event
from local.runtime import LambdaContext
from tests.conftest import load_event

CONTRACT_PROFILE = {
    "name": "Standard",
    "reminder_every_hours": 24,
    "max_reminders": 3,
    "rules": [
        {"id": "low", "type": "balance_below", "threshold": "20.00",
         "notify": ["customer", "staff"], "notify_recovery": True},
        {"id": "empty", "type": "balance_below", "threshold": "0",
         "notify": ["customer", "staff"]},
        {"id": "runway", "type": "runs_out", "days": [10, 5, 3, 1, 0], "notify": ["customer"]},
        {"id": "idle", "type": "inactive", "threshold": "5.00", "inactive_days": 30,
         "notify": ["customer"]},
        {"id": "lessons", "type": "package_below", "remaining": "2",
         "notify": ["customer", "staff"]},
    ],
}
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def _account(aws, account_id="a1", **fields):
    response = aws.api("PUT", f"/accounts/{account_id}", body={"name": "Ann", **fields})
    assert response.status in (200, 201), response.body
    return response


# ---------------------------------------------------------------- settings
def test_settings_are_stored_and_read_back_with_defaults(aws):
    # Given no settings yet
    # When an admin reads them
    empty = aws.api("GET", "/settings")
    # Then the defaults come back
    assert empty.status == 200
    assert empty.body["default_currency"] == "USD"
    assert empty.body["track_packages_by"] == "account"
    # When the admin stores settings
    put = aws.api("PUT", "/settings", body={
        "name": "Acme Energy", "from_email": "billing@acme.test",
        "staff_emails": ["ops@acme.test"], "default_currency": "EUR",
        "default_profile_id": "standard", "default_class": "retail",
        "track_packages_by": "member",
    })
    # Then staff read the same document, and config_store holds it under "settings"
    assert put.status == 200
    got = aws.api("GET", "/settings", role="staff")
    assert got.status == 200
    assert got.body == put.body
    assert got.body["staff_emails"] == ["ops@acme.test"]
    stored = config_store.get_doc("t1", "settings")
    assert stored["default_currency"] == "EUR"
    assert stored["track_packages_by"] == "member"


# ---------------------------------------------------------------- profiles
def test_the_contract_profile_is_stored_with_decimal_strings_and_parses_in_the_domain(aws):
    # When an admin puts the profile from CONTRACT.md
    put = aws.api("PUT", "/profiles/standard", body=CONTRACT_PROFILE)
    # Then it is stored under profile#standard with thresholds as strings
    assert put.status == 200, put.body
    stored = config_store.get_doc("t1", "profile#standard")
    assert stored["rules"][0]["threshold"] == "20.00"
    assert stored["rules"][4]["remaining"] == "2"
    assert [int(day) for day in stored["rules"][2]["days"]] == [10, 5, 3, 1, 0]
    # And the stream consumer's parser understands it
    profile = profile_from_dict("standard", stored)
    assert profile.rules_of("balance_below")[0].threshold == Decimal("20.00")
    assert profile.max_reminders == 3
    # And GET returns it (staff may read)
    got = aws.api("GET", "/profiles/standard", role="staff")
    assert got.status == 200
    assert got.body["profile_id"] == "standard"
    assert got.body["rules"][0] == {**CONTRACT_PROFILE["rules"][0], "cc_emails": [],
                                    "staff_emails": []}
    assert got.body["reminder_every_hours"] == 24


def test_profiles_are_listed_in_pages(aws):
    # Given three profiles
    for profile_id in ("p1", "p2", "p3"):
        aws.api("PUT", f"/profiles/{profile_id}", body={"name": profile_id})
    # When staff list them two at a time
    first = aws.api("GET", "/profiles", role="staff", query={"limit": "2"})
    second = aws.api("GET", "/profiles", role="staff",
                     query={"limit": "2", "cursor": first.body["next_cursor"]})
    # Then every profile comes exactly once
    assert [p["profile_id"] for p in first.body["profiles"]] == ["p1", "p2"]
    assert [p["profile_id"] for p in second.body["profiles"]] == ["p3"]
    assert second.body["next_cursor"] is None


def test_an_unknown_profile_is_404(aws):
    assert aws.api("GET", "/profiles/nope").status == 404


# ----------------------------------------------------------------- classes
def test_a_class_is_stored_and_read_back(aws):
    # When an admin puts a class that enables two notice types, and one with defaults
    put = aws.api("PUT", "/classes/retail",
                  body={"name": "Retail", "enabled": ["balance_low", "balance_recovered"]})
    aws.api("PUT", "/classes/all", body={"name": "Everything"})
    # Then config_store sees the enabled types and template set
    assert put.status == 200
    config = config_store.load_tenant("t1", fresh=True)
    assert config.enabled_types("retail") == {"balance_low", "balance_recovered"}
    assert config.enabled_types("all") is None
    assert config.template_set("retail") == "default"
    # And staff read it
    got = aws.api("GET", "/classes/retail", role="staff")
    assert got.body == {"class_id": "retail", "name": "Retail", "template_set": "default",
                        "enabled": ["balance_low", "balance_recovered"]}
    assert aws.api("GET", "/classes/all").body["enabled"] is None
    assert aws.api("GET", "/classes/none").status == 404


# ---------------------------------------------------------------- accounts
def test_putting_a_new_account_creates_it_with_defaults(aws):
    # When staff create an account with only a name and an email
    created = aws.api("PUT", "/accounts/a1", role="staff",
                      body={"name": "Ann", "email": "ann@customer.test"})
    # Then it is 201 with the defaults and a zero balance
    assert created.status == 201, created.body
    body = created.body
    assert body["account_id"] == "a1"
    assert body["balance"] == "0"
    assert (body["status"], body["billing"], body["currency"]) == ("active", "prepaid", "USD")
    assert (body["timezone"], body["locale"]) == ("UTC", "en_US")
    assert body["last_charge_at"] is None
    assert ISO_WITH_OFFSET.match(body["created_at"])
    # And the item has what the stream consumer expects
    item = AccountItem.get("t1", "a1")
    assert item.account_key == "t1#a1"
    assert item.version == 0
    assert item.balance == Decimal(0)
    assert item.watch is None


def test_a_new_account_takes_the_tenants_default_currency(aws):
    # Given a tenant that bills in EUR
    aws.api("PUT", "/settings", body={"default_currency": "EUR"})
    # When an account is created without a currency
    created = _account(aws)
    # Then it is in EUR
    assert created.body["currency"] == "EUR"


def test_updating_an_account_changes_only_its_settings_and_bumps_the_version(aws):
    # Given an account that the stream consumer has already worked on
    _account(aws, email="ann@customer.test", extra_emails=["bob@customer.test"],
             profile_id="standard")
    AccountItem("t1", "a1").update(actions=[
        AccountItem.balance.set(Decimal("42.17")),
        AccountItem.version.set(7),
        AccountItem.last_charge_at.set("2026-11-01T10:00:00+00:00"),
        AccountItem.watch.set(3),
        AccountItem.latches.set({"low": {"episode": 2, "open": True}}),
        AccountItem.applied.set({"e1": 1700000000}),
    ])
    # When an admin puts new settings
    updated = aws.api("PUT", "/accounts/a1", body={
        "name": "Ann B.", "email": "ann.b@customer.test", "status": "suspended",
        "billing": "postpaid", "timezone": "Europe/Berlin", "locale": "de_DE",
        "customer_class": "retail",
    })
    # Then it is 200 with the new settings and the consumer's state untouched
    assert updated.status == 200, updated.body
    assert updated.body["balance"] == "42.17"
    assert updated.body["last_charge_at"] == "2026-11-01T10:00:00+00:00"
    assert updated.body["status"] == "suspended"
    assert updated.body["timezone"] == "Europe/Berlin"
    item = AccountItem.get("t1", "a1")
    assert item.version == 8
    assert item.balance == Decimal("42.17")
    assert item.watch == 3
    assert item.latches == {"low": {"episode": 2, "open": True}}
    assert item.applied == {"e1": 1700000000}
    # And a PUT is a full replacement of the settings: omitted ones are cleared
    assert item.profile_id is None
    assert item.extra_emails == []


def test_the_currency_cannot_change_once_the_account_has_entries(aws):
    # Given an account without entries, its currency may still change
    _account(aws)
    assert aws.api("PUT", "/accounts/a1", body={"currency": "EUR"}).body["currency"] == "EUR"
    # Given it now has an entry
    aws.api("POST", "/accounts/a1/entries",
            body={"entry_id": "e1", "kind": "credit", "amount": "5"})
    # When the currency is changed again
    refused = aws.api("PUT", "/accounts/a1", body={"currency": "USD"})
    # Then it is a conflict and nothing changed
    assert refused.status == 409
    assert "currency" in refused.body["message"]
    assert AccountItem.get("t1", "a1").currency == "EUR"
    # And leaving currency out keeps it
    assert aws.api("PUT", "/accounts/a1", body={"name": "x"}).body["currency"] == "EUR"


def test_get_account_returns_settings_and_balance(aws):
    _account(aws, email="ann@customer.test")
    got = aws.api("GET", "/accounts/a1", role="customer", account_id="a1")
    assert got.status == 200
    assert set(got.body) >= {"account_id", "name", "email", "extra_emails", "status",
                             "billing", "currency", "profile_id", "customer_class",
                             "timezone", "locale", "balance", "last_charge_at", "created_at"}
    assert got.body["balance"] == "0"


def test_accounts_are_listed_in_pages_of_the_tenant_only(aws):
    # Given five accounts in t1 and one in t2
    for index in range(5):
        _account(aws, f"a{index}")
    aws.api("PUT", "/accounts/other", tenant="t2", body={"name": "Other"})
    # When staff of t1 page through them two at a time
    seen, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = aws.api("GET", "/accounts", role="staff", query=query)
        assert page.status == 200, page.body
        seen += [account["account_id"] for account in page.body["accounts"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    # Then they see each of their accounts once, and none of t2's
    assert seen == ["a0", "a1", "a2", "a3", "a4"]


# ----------------------------------------------------------------- entries
def test_posting_an_entry_stores_it_as_the_stream_consumer_expects(aws):
    # Given an account
    _account(aws)
    # When staff (with a Cognito sub) record a charge with units
    event = proxy_event("POST", "/accounts/a1/entries", body={
        "entry_id": "use-1", "kind": "charge", "amount": "12.50", "currency": "USD",
        "service": "lessons", "quantity": "1.5", "member_id": "kid-1",
        "occurred_at": "2026-11-02T10:00:00+01:00", "description": "Lesson",
    }, claims={"custom:tenant_id": "t1", "custom:role": "staff", "sub": "user-123"})
    raw = aws.handler("ApiFunction")(event, LambdaContext("ApiFunction"))
    # Then it is accepted with every amount as a string
    assert raw["statusCode"] == 202
    item = LedgerItem.get("t1#a1", "use-1")
    assert item.amount == Decimal("12.50")
    assert item.quantity == Decimal("1.5")
    assert (item.service, item.member_id, item.kind) == ("lessons", "kid-1", "charge")
    assert (item.tenant_id, item.account_id, item.currency) == ("t1", "a1", "USD")
    assert item.actor == "user-123"
    assert item.occurred_at == "2026-11-02T09:00:00.000000+00:00"
    assert ISO_WITH_OFFSET.match(item.recorded_at)
    assert item.recorded_seq == f"{item.recorded_at}#use-1"
    assert re.fullmatch(r"[0-9a-f]{64}", item.body_hash)
    assert item.voided_by is None and item.rejected_reason is None


def test_an_entry_response_carries_the_stored_entry(aws):
    _account(aws)
    posted = aws.api("POST", "/accounts/a1/entries",
                     body={"entry_id": "top-1", "kind": "credit", "amount": "20.00"})
    assert posted.status == 202
    assert posted.body["amount"] == "20.00"
    assert posted.body["actor"] == "admin"  # no sub in the claims: the role
    assert posted.body["occurred_at"] == posted.body["recorded_at"]
    assert posted.body["voided_by"] is None
    assert posted.body["rejected_reason"] is None
    history = aws.api("GET", "/accounts/a1/entries", role="customer", account_id="a1")
    assert history.status == 200
    assert history.body["entries"] == [posted.body]
    assert history.body["next_cursor"] is None


def test_every_entry_kind_is_recorded(aws):
    _account(aws)
    bodies = [
        {"entry_id": "c1", "kind": "charge", "amount": "1"},
        {"entry_id": "c2", "kind": "charge", "service": "lessons", "quantity": "2"},
        {"entry_id": "k1", "kind": "credit", "amount": "50"},
        {"entry_id": "r1", "kind": "refund", "amount": "3"},
        {"entry_id": "j1", "kind": "adjustment", "amount": "-0.5"},
        {"entry_id": "j2", "kind": "adjustment", "amount": "2"},
        {"entry_id": "v1", "kind": "void", "voids": "c1"},
    ]
    for body in bodies:
        response = aws.api("POST", "/accounts/a1/entries", body=body)
        assert response.status == 202, (body, response.body)
    kinds = {item.entry_id: item.kind for item in LedgerItem.query("t1#a1")}
    assert kinds == {body["entry_id"]: body["kind"] for body in bodies}


# ----------------------------------------------------------------- notices
def _notice(key, created_at, **fields):
    NoticeItem(
        "t1#a1", key, created_seq=f"{created_at}#{key}", tenant_id="t1", account_id="a1",
        type="balance_low", rule_id="low", level="20.00", episode=1, reminder=0,
        audiences=["customer", "staff"], status="sent", created_at=created_at,
        sent_at=created_at, subject="Your balance is low", **fields,
    ).save()


def test_the_notice_log_is_newest_first(aws):
    # Given an account with two notices
    _account(aws)
    _notice("low#1#20.00#0", "2026-11-02T09:00:00.000000+00:00")
    _notice("low#1#20.00#1", "2026-11-03T09:00:00.000000+00:00", reason="reminder")
    # When its customer reads the log
    log = aws.api("GET", "/accounts/a1/notices", role="customer", account_id="a1")
    # Then the newest comes first, in the contract's shape
    assert log.status == 200
    assert [n["notice_id"] for n in log.body["notices"]] == ["low#1#20.00#1", "low#1#20.00#0"]
    assert log.body["notices"][0] == {
        "notice_id": "low#1#20.00#1", "type": "balance_low", "rule_id": "low",
        "level": "20.00", "reminder": 0, "audiences": ["customer", "staff"], "status": "sent",
        "reason": "reminder", "created_at": "2026-11-03T09:00:00.000000+00:00",
        "sent_at": "2026-11-03T09:00:00.000000+00:00", "subject": "Your balance is low",
    }
    assert log.body["next_cursor"] is None


def test_notices_page_with_a_cursor(aws):
    _account(aws)
    for day in range(1, 6):
        _notice(f"low#{day}#20.00#0", f"2026-11-0{day}T09:00:00.000000+00:00")
    first = aws.api("GET", "/accounts/a1/notices", query={"limit": "3"})
    rest = aws.api("GET", "/accounts/a1/notices",
                   query={"limit": "3", "cursor": first.body["next_cursor"]})
    ids = [n["notice_id"] for n in first.body["notices"] + rest.body["notices"]]
    assert ids == [f"low#{day}#20.00#0" for day in range(5, 0, -1)]
    assert rest.body["next_cursor"] is None


# ---------------------------------------------------------- sample event
def test_the_sample_event_reads_an_account(aws):
    # Given the account the sample event asks for
    aws.api("PUT", "/accounts/acct-1001", tenant="acme", body={"name": "Sample"})
    # When the sample event is invoked (as `sam local invoke ApiFunction -e` would)
    raw = aws.invoke("ApiFunction", load_event("api_get_account.json"))
    # Then it answers with the account
    assert raw["statusCode"] == 200
    assert '"account_id":"acct-1001"' in raw["body"].replace(" ", "")


def test_logs_carry_no_email_addresses(aws, capsys):
    # When requests carry email addresses, valid and invalid
    _account(aws, email="secret.person@customer.test")
    aws.api("PUT", "/accounts/a2", body={"email": "not-an-email@@customer.test"})
    aws.api("PUT", "/settings", body={"from_email": "billing@acme.test", "bogus": 1})
    aws.api("GET", "/accounts/a1")
    # Then no address reaches the logs
    captured = capsys.readouterr()
    logs = captured.out + captured.err
    assert "@customer.test" not in logs
    assert "billing@acme.test" not in logs


def test_balances_follow_entries_through_the_stream(aws):
    _account(aws)
    # When entries with awkward decimals are recorded, one of them voided
    for body in ({"entry_id": "k", "kind": "credit", "amount": "10.10"},
                 {"entry_id": "c1", "kind": "charge", "amount": "0.1"},
                 {"entry_id": "c2", "kind": "charge", "amount": "0.2"},
                 {"entry_id": "v", "kind": "void", "voids": "c2"}):
        assert aws.api("POST", "/accounts/a1/entries", body=body).status == 202
    # And the settings are changed while entries are in flight
    aws.api("PUT", "/accounts/a1", body={"name": "Ann B."})
    aws.pump()
    # Then the balance is exact and the settings change survived
    account = aws.api("GET", "/accounts/a1").body
    assert account["balance"] == "10.00"
    assert account["name"] == "Ann B."
