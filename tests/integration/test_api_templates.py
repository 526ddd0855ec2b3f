"""``/templates/{template_set}/{notice_type}/{audience}`` on moto: overrides are validated
at save time (sandbox, syntax, variables, one-line subject), read back or replaced by the
built-in default, previewed with an account's data or sample data, and kept per tenant."""

from __future__ import annotations

import pytest

from balance_alerts.adapters import config_store, template_store

PATH = "/templates/vip/balance_low/customer"
OVERRIDE = {
    "subject": "{{ account.name }}, your balance is {{ balance }}",
    "html": "<p>Only {{ balance }} left, {{ account.name }}.</p>",
    "text": "Only {{ balance }} left.",
    "bcc": ["audit@acme.test"],
}


def override(**parts: object) -> dict:
    return {**OVERRIDE, **parts}


def stored(tenant_id: str = "t1", path: str = PATH) -> dict | None:
    _, template_set, notice_type, audience = path.strip("/").split("/")
    return config_store.get_doc(
        tenant_id, config_store.template_key(template_set, notice_type, audience))


@pytest.fixture
def tenant(aws):
    """Given tenant t1 with a name, a profile whose low level is 25.00, and an account."""
    aws.api("PUT", "/settings", body={
        "name": "Acme Energy", "from_email": "billing@acme.test",
        "default_currency": "EUR", "default_profile_id": "standard"})
    aws.api("PUT", "/profiles/standard", body={
        "name": "Standard", "reminder_every_hours": 24, "max_reminders": 2,
        "rules": [{"id": "low", "type": "balance_below", "threshold": "25.00"}]})
    aws.api("PUT", "/accounts/a1", body={
        "name": "Léa <b>Martin</b>", "email": "lea@customer.test", "currency": "EUR",
        "locale": "fr_FR", "timezone": "Europe/Paris"})
    return "t1"


# ------------------------------------------------------------------ PUT / GET
def test_get_returns_the_default_until_an_override_is_stored(aws, tenant):
    # When staff read a template nobody has overridden
    got = aws.api("GET", PATH, role="staff")
    # Then it is the built-in default, as a valid override to start from
    assert got.status == 200
    assert got.body["source"] == "default"
    default = template_store.default_template("balance_low", "customer")
    assert {k: got.body[k] for k in ("subject", "html", "text", "bcc")} == default
    assert (got.body["template_set"], got.body["notice_type"], got.body["audience"]) == (
        "vip", "balance_low", "customer")
    assert "threshold" in got.body["available_variables"]
    assert "days_left" not in got.body["available_variables"]


def test_an_override_is_stored_and_read_back(aws, tenant):
    # When an admin stores an override with a BCC
    put = aws.api("PUT", PATH, body=override())
    # Then it is stored as given, read back as the override, and the other set is untouched
    assert put.status == 200, put.body
    assert put.body["source"] == "override"
    assert stored() == OVERRIDE
    got = aws.api("GET", PATH, role="staff")
    assert got.body["source"] == "override"
    assert {k: got.body[k] for k in OVERRIDE} == OVERRIDE
    assert aws.api("GET", "/templates/default/balance_low/customer").body["source"] == (
        "default")
    # And send_notice's view of the tenant sees it under its set, type and audience
    config = config_store.load_tenant("t1", fresh=True)
    assert config.template("vip", "balance_low", "customer") == OVERRIDE


def test_delete_reverts_to_the_default(aws, tenant):
    # Given an override
    aws.api("PUT", PATH, body=override())
    # When an admin deletes it
    deleted = aws.api("DELETE", PATH)
    # Then the default applies again, and a second delete finds nothing to delete
    assert deleted.status == 200
    assert deleted.body["source"] == "default"
    assert stored() is None
    assert aws.api("GET", PATH).body["source"] == "default"
    again = aws.api("DELETE", PATH)
    assert again.status == 404 and again.body["message"]


@pytest.mark.parametrize("path", [
    "/templates/vip/balance_high/customer",
    "/templates/vip/balance_low/everyone",
])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_notice_type_or_audience_is_404(aws, tenant, method, path):
    response = aws.api(method, path, body=override() if method == "PUT" else None)

    assert response.status == 404
    assert "unknown" in response.body["message"]


def test_a_template_set_that_is_not_an_id_is_422(aws, tenant):
    response = aws.api("GET", "/templates/" + "x" * 80 + "/balance_low/customer")

    assert response.status == 422


# ------------------------------------------------------- refused at save time
SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ account.__class__ }}",
    "{{ balance.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ account['__class__'] }}",
    "{{ self._TemplateReference__context }}",
    "{{ account.name.format_map(account) }}",
    "{% set n = '__cla' ~ 'ss__' %}{{ (balance|map(attribute=n)|list)[0] }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
]


@pytest.mark.parametrize("source", SANDBOX_ESCAPES)
def test_sandbox_escapes_are_refused_with_422_and_the_line(aws, tenant, source):
    # When an admin stores an HTML part whose second line tries to leave the sandbox
    response = aws.api("PUT", PATH, body=override(html="<p>Hello</p>\n" + source))
    # Then it is refused with the field and line, and nothing is stored
    assert response.status == 422, response.body
    issues = response.body["issues"]
    assert issues and all(i["field"] == "html" and i["line"] == 2 for i in issues)
    assert response.body["message"].startswith("template refused: html line 2: ")
    assert stored() is None


def test_a_two_line_subject_is_refused(aws, tenant):
    response = aws.api("PUT", PATH, body=override(subject="Low balance\n{{ balance }}"))

    assert response.status == 422
    assert response.body["issues"] == [
        {"field": "subject", "line": 2, "message": "subject must render to one line"}]
    assert stored() is None


def test_a_subject_that_breaks_only_with_a_value_is_refused(aws, tenant):
    response = aws.api("PUT", PATH, body=override(subject="Low {{ 'balance\\r\\nBcc: x' }}"))

    assert response.status == 422
    assert response.body["issues"][0]["field"] == "subject"


def test_unknown_variables_are_refused_at_save_time(aws, tenant):
    # When the text names a variable and a field that the contract does not have
    response = aws.api("PUT", PATH, body=override(
        text="Hi {{ customer_name }}\n{{ account.phone }}"))
    # Then both unknown names are reported with their lines
    assert response.status == 422
    assert response.body["issues"] == [
        {"field": "text", "line": 1, "message": "unknown variable 'customer_name'"},
        {"field": "text", "line": 2, "message": "unknown variable 'account.phone'"},
    ]


def test_a_template_that_fails_with_this_types_data_is_refused(aws, tenant):
    response = aws.api("PUT", PATH, body=override(text="Left:\n{{ days_left + 1 }}"))

    assert response.status == 422
    assert response.body["issues"][0]["field"] == "text"
    assert response.body["issues"][0]["line"] == 2
    # ... while the same text suits funds_run_out, which sets days_left
    fine = aws.api("PUT", "/templates/vip/funds_run_out/customer",
                   body=override(text="Left:\n{{ days_left + 1 }}"))
    assert fine.status == 200


@pytest.mark.parametrize("body, field", [
    ({"subject": "x", "html": "<p>x</p>"}, "text"),
    ({**OVERRIDE, "from": "ceo@acme.test"}, "from"),
    ({**OVERRIDE, "bcc": ["not an address"]}, "bcc"),
    ({**OVERRIDE, "bcc": "audit@acme.test"}, "bcc"),
    ({**OVERRIDE, "html": 5}, "html"),
])
def test_a_malformed_document_is_refused(aws, tenant, body, field):
    response = aws.api("PUT", PATH, body=body)

    assert response.status == 422
    assert field in [issue["field"] for issue in response.body["issues"]]


# ------------------------------------------------------------------- preview
def test_preview_with_sample_data_speaks_for_the_tenant(aws, tenant):
    # When staff preview the default without an account
    response = aws.api("POST", "/templates/default/balance_low/customer/preview",
                       role="staff", body={})
    # Then it renders the sample data in the tenant's name and default currency
    assert response.status == 200, response.body
    body = response.body
    assert body["source"] == "default"
    assert body["subject"] == "Your Acme Energy balance is low (€12.50)"
    assert "Jordan Smith" in body["html"] and body["html"].startswith("<!DOCTYPE html>")
    assert "Current balance: €12.50" in body["text"]
    assert body["bcc"] == []
    assert body["variables"]["account"]["id"] == "acct-1001"


def test_preview_without_a_body_uses_sample_data(aws, tenant):
    response = aws.api("POST", "/templates/default/inactive/staff/preview")

    assert response.status == 200
    assert "Inactive for 30 days" in response.body["subject"]


def test_preview_with_an_account_uses_its_real_data(aws, tenant):
    # Given the account has a balance of 7.5 EUR
    aws.api("POST", "/accounts/a1/entries",
            body={"entry_id": "top", "kind": "credit", "amount": "7.5"})
    aws.pump()
    # When an admin previews the default balance_low email for that account
    response = aws.api("POST", "/templates/default/balance_low/customer/preview",
                       body={"account_id": "a1"})
    # Then its name, balance (French format, euros), the profile's level and its time
    # zone are used; the HTML escapes the name
    assert response.status == 200, response.body
    body = response.body
    assert body["subject"] == "Your Acme Energy balance is low (7,50\xa0€)"
    assert "Hello Léa <b>Martin</b>," in body["text"]
    assert "below 25,00\xa0€" in body["text"]
    assert "Léa &lt;b&gt;Martin&lt;/b&gt;" in body["html"] and "<b>Martin" not in body["html"]
    assert body["variables"]["notice"]["created_at"].endswith(("CET", "CEST"))
    assert body["variables"]["account"]["email"] == "lea@customer.test"


def test_preview_of_a_reminder(aws, tenant):
    response = aws.api("POST", "/templates/default/balance_low/staff/preview",
                       body={"account_id": "a1", "reminder": 2})

    assert response.status == 200
    assert response.body["subject"].endswith("(reminder 2)")
    assert "Reminder:  2 of 2" in response.body["text"]


def test_preview_of_the_stored_override_and_of_an_unsaved_one(aws, tenant):
    # Given a stored override
    aws.api("PUT", PATH, body=override())
    # When previewing the stored one, and then an unsaved edit
    saved = aws.api("POST", PATH + "/preview", body={"account_id": "a1"})
    unsaved = aws.api("POST", PATH + "/preview", role="staff", body={
        "account_id": "a1", "template": override(subject="Draft for {{ account.id }}")})
    # Then each renders with the account's data, with its BCC; nothing new is stored
    assert saved.body["source"] == "override"
    assert saved.body["subject"] == "Léa <b>Martin</b>, your balance is 0,00\xa0€"
    assert saved.body["html"] == "<p>Only 0,00\xa0€ left, Léa &lt;b&gt;Martin&lt;/b&gt;.</p>"
    assert saved.body["bcc"] == ["audit@acme.test"]
    assert unsaved.body["source"] == "request"
    assert unsaved.body["subject"] == "Draft for a1"
    assert stored() == OVERRIDE


def test_preview_of_an_unsafe_unsaved_template_is_422(aws, tenant):
    response = aws.api("POST", PATH + "/preview", body={
        "template": override(text="{{ cycler.__init__.__globals__ }}")})

    assert response.status == 422
    assert response.body["issues"][0]["field"] == "text"


def test_preview_of_an_unknown_account_is_404(aws, tenant):
    response = aws.api("POST", PATH + "/preview", body={"account_id": "nobody"})

    assert response.status == 404


# --------------------------------------------------------------- who may do what
@pytest.mark.parametrize("method, path, body, expected", [
    ("GET", PATH, None, {"admin": 200, "staff": 200, "customer": 403}),
    ("PUT", PATH, OVERRIDE, {"admin": 200, "staff": 403, "customer": 403}),
    ("DELETE", PATH, None, {"admin": 200, "staff": 403, "customer": 403}),
    ("POST", PATH + "/preview", {}, {"admin": 200, "staff": 200, "customer": 403}),
])
@pytest.mark.parametrize("role", ["admin", "staff", "customer"])
def test_role_checks(aws, tenant, method, path, body, expected, role):
    # Given a stored override (so that DELETE has one to remove)
    aws.api("PUT", PATH, body=override())
    # When the caller makes a valid request
    response = aws.api(method, path, body=body, role=role, account_id="a1")
    # Then it is allowed or refused as the contract says, and a refusal changes nothing
    assert response.status == expected[role], response.body
    if response.status == 403:
        assert response.body["message"]
        assert stored() == OVERRIDE


def test_staff_cannot_sneak_an_unsafe_template_in(aws, tenant):
    response = aws.api("PUT", PATH, role="staff",
                       body=override(html="{{ ''.__class__ }}"))

    assert response.status == 403
    assert stored() is None


def test_templates_are_per_tenant(aws, tenant):
    # Given t1's override
    aws.api("PUT", PATH, body=override())
    # When tenant t2 reads, deletes and previews the same path
    got = aws.api("GET", PATH, tenant="t2")
    deleted = aws.api("DELETE", PATH, tenant="t2")
    preview = aws.api("POST", PATH + "/preview", tenant="t2", body={})
    foreign_account = aws.api("POST", PATH + "/preview", tenant="t2",
                              body={"account_id": "a1"})
    # Then t2 sees the default, cannot delete t1's override, nor preview t1's account
    assert got.body["source"] == "default"
    assert deleted.status == 404
    assert preview.body["source"] == "default"
    assert foreign_account.status == 404
    assert stored("t1") == OVERRIDE
