"""The template renderer: built-in defaults, sandboxed rendering, validation of overrides."""

from __future__ import annotations

from decimal import Decimal

import pytest

from balance_alerts.adapters import renderer
from balance_alerts.adapters.renderer import (
    TemplateRenderError,
    default_template,
    format_money,
    render,
    sample_variables,
    template_variables,
    validate_template,
)
from balance_alerts.domain.model import AUDIENCES, NOTICE_TYPES

EVERY_TEMPLATE = [(t, a) for t in NOTICE_TYPES for a in AUDIENCES]


def override(**parts: object) -> dict:
    doc = {"subject": "Balance {{ balance }}", "html": "<p>{{ balance }}</p>",
           "text": "{{ balance }}", "bcc": []}
    doc.update(parts)
    return doc


def messages(issues) -> list[str]:
    return [issue.message for issue in issues]


# ------------------------------------------------------------------ defaults
@pytest.mark.parametrize("notice_type, audience", EVERY_TEMPLATE)
def test_every_default_renders_with_sample_data(notice_type, audience):
    # Given the sample data of the notice type
    variables = sample_variables(notice_type)

    # When its built-in template is rendered
    email = render(notice_type, audience, variables)

    # Then subject, HTML and text are complete, and nothing prints as "None"
    assert email.subject and "\n" not in email.subject
    assert email.html.startswith("<!DOCTYPE html>") and 'role="presentation"' in email.html
    assert "Acme Music School" in email.html and "Acme Music School" in email.text
    assert email.text.strip()
    for part in (email.subject, email.html, email.text):
        assert "None" not in part and "{{" not in part and "%%" not in part
    assert email.bcc == ()


@pytest.mark.parametrize("notice_type, audience", EVERY_TEMPLATE)
def test_every_default_is_a_valid_override(notice_type, audience):
    # The API returns the default as the starting point of an override: it must validate
    assert validate_template(default_template(notice_type, audience), notice_type) == []


@pytest.mark.parametrize("notice_type, audience", EVERY_TEMPLATE)
def test_every_default_renders_a_reminder(notice_type, audience):
    variables = {**sample_variables(notice_type), "reminder": 2}

    email = render(notice_type, audience, variables)

    assert "None" not in email.text


def test_defaults_show_the_amounts_of_the_notice():
    email = render("balance_low", "customer", sample_variables("balance_low"))

    assert email.subject == "Your Acme Music School balance is low ($12.50)"
    assert "Current balance: $12.50" in email.text
    assert "below $20.00" in email.text
    assert "$12.50" in email.html


def test_funds_run_out_today_reads_well():
    variables = {**sample_variables("funds_run_out"), "days_left": 0}

    assert render("funds_run_out", "customer", variables).subject == (
        "Your Acme Music School balance runs out today")
    variables["days_left"] = 1
    assert render("funds_run_out", "customer", variables).subject.endswith("about 1 day")


def test_unknown_notice_type_has_no_default():
    with pytest.raises(KeyError):
        default_template("balance_high", "customer")


# ---------------------------------------------------------------- variables
def test_amounts_are_formatted_for_locale_and_currency():
    assert format_money(Decimal("12.5"), "USD", "en_US") == "$12.50"
    assert format_money("12.5", "EUR", "de_DE") == "12,50\xa0€"
    assert format_money("1234.5", "EUR", "de_DE") == "1.234,50\xa0€"
    assert format_money("12.5", "USD", "xx_NOWHERE") == "$12.50"  # unknown locale: en_US
    assert format_money(None, "USD", "en_US") is None


def test_template_variables_follow_the_contract():
    # Given a notice's variables map as the deciders store it
    values = {"balance": "-3.5", "threshold": "0", "currency": "EUR", "days_left": Decimal("4"),
              "rule": {"cc_emails": ["x@y.test"], "staff_emails": []}}

    # When turned into the template context for a French account
    context = template_variables(values, notice_type="funds_run_out", reminder=1,
                                 tenant_name="Acme", account_id="a1", account_name="Léa",
                                 account_email="lea@example.com", locale="fr_FR",
                                 currency="USD")

    # Then amounts are formatted, absent values are None, the rule's addresses are not there
    assert context["balance"] == "-3,50\xa0€"
    assert context["threshold"] == "0,00\xa0€"
    assert context["currency"] == "EUR"
    assert context["days_left"] == 4 and context["inactive_days"] is None
    assert context["account"] == {"id": "a1", "name": "Léa", "email": "lea@example.com"}
    assert context["item"] == {"service": None, "remaining": None, "purchased": None}
    assert context["notice"] == {"type": "funds_run_out"} and context["reminder"] == 1
    assert "rule" not in context


@pytest.mark.parametrize("notice_type", NOTICE_TYPES)
def test_sample_variables_exist_for_every_type(notice_type):
    variables = sample_variables(notice_type)

    assert variables["notice"] == {"type": notice_type}
    assert variables["tenant"]["name"] and variables["account"]["email"]


# ------------------------------------------------------------------ rendering
def test_html_is_autoescaped_and_text_is_not():
    # Given an account name that contains HTML
    variables = sample_variables("balance_low")
    variables["account"]["name"] = "<script>alert('x')</script> & Co"

    # When rendered
    email = render("balance_low", "staff", variables)

    # Then the HTML part escapes it, the subject and text keep it as written
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co" in email.html
    assert "<script>alert('x')</script> & Co" in email.text
    assert "<script>alert('x')</script> & Co" in email.subject


def test_override_wins_and_brings_its_bcc():
    doc = override(subject="Hi {{ account.name }}", bcc=["audit@acme.test"])

    email = render("balance_low", "customer", sample_variables("balance_low"), doc)

    assert email.subject == "Hi Jordan Smith"
    assert email.html == "<p>$12.50</p>" and email.text == "$12.50"
    assert email.bcc == ("audit@acme.test",)


def test_subject_that_renders_two_lines_is_refused_at_render():
    with pytest.raises(TemplateRenderError, match="one line"):
        render("balance_low", "customer", sample_variables("balance_low"),
               override(subject="Low\n{{ balance }}"))


def test_subject_is_stripped():
    email = render("balance_low", "customer", sample_variables("balance_low"),
                   override(subject="  {{ balance }}\n"))

    assert email.subject == "$12.50"


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ balance.__class__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ '{0.__class__}'.format(balance) }}",
    "{% set n = '__cla' ~ 'ss__' %}{{ (balance|map(attribute=n)|list)[0] }}",
])
def test_sandbox_escapes_cannot_execute_at_render(source):
    # An override stored without validation still runs in the sandbox
    with pytest.raises(TemplateRenderError):
        render("balance_low", "customer", sample_variables("balance_low"),
               override(html=source))


def test_mutating_a_variable_is_refused_at_render():
    with pytest.raises(TemplateRenderError):
        render("balance_low", "customer", sample_variables("balance_low"),
               override(text="{{ account.update({'name': 'x'}) }}"))


def test_a_python_error_in_a_template_is_a_render_error():
    # balance_low has no days_left: None + 1 fails inside the template
    with pytest.raises(TemplateRenderError, match="html line 2"):
        render("balance_low", "customer", sample_variables("balance_low"),
               override(html="<p>\n{{ days_left + 1 }}</p>"))


def test_compiled_templates_are_cached():
    renderer.reset_cache()
    variables = sample_variables("inactive")

    render("inactive", "customer", variables)
    misses = renderer._compiled.cache_info().misses
    render("inactive", "customer", variables)

    assert renderer._compiled.cache_info().misses == misses
    assert renderer._compiled.cache_info().hits >= 3


# ----------------------------------------------------------------- validation
@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ x.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ account['__class__'] }}",
    "{{ balance.mro() }}",
])
def test_sandbox_escapes_are_refused(source):
    issues = validate_template(override(html="<p>ok</p>\n" + source))

    assert issues, source
    assert all(issue.field == "html" and issue.line == 2 for issue in issues)
    assert any("unsafe" in m or "not allowed" in m for m in messages(issues))


def test_a_dynamic_escape_is_refused_with_its_line():
    source = "<p>\n{% set n = '__cla' ~ 'ss__' %}\n{{ (balance|map(attribute=n)|list)[0] }}\n</p>"

    (issue,) = validate_template(override(html=source))

    assert issue.field == "html" and issue.line == 3
    assert "unsafe" in issue.message


@pytest.mark.parametrize("statement", [
    "{% include 'other.html' %}", "{% extends 'base.html' %}", "{% import 'm.html' as m %}",
])
def test_loading_other_templates_is_refused(statement):
    (issue,) = validate_template(override(text=statement))

    assert issue.field == "text" and "not allowed" in issue.message


def test_syntax_error_reports_its_line():
    (issue,) = validate_template(override(html="<p>Hello</p>\n{% if balance %}\n{{ balance }"))

    assert (issue.field, issue.line) == ("html", 3)
    assert str(issue).startswith("html line 3: ")


def test_unclosed_block_reports_a_line():
    (issue,) = validate_template(override(text="one\n{% if balance %}\ntwo"))

    assert issue.field == "text" and issue.line is not None


def test_unknown_filter_reports_its_line():
    (issue,) = validate_template(override(text="one\n{{ balance|shout }}"))

    assert (issue.field, issue.line) == ("text", 2) and "shout" in issue.message


def test_unknown_variables_are_refused():
    issues = validate_template(override(
        html="<p>{{ balance }}</p>\n<p>{{ customer_name }}</p>\n<p>{{ account.phone }}</p>"))

    assert [(i.line, i.message) for i in issues] == [
        (2, "unknown variable 'customer_name'"),
        (3, "unknown variable 'account.phone'"),
    ]


def test_every_contract_variable_is_accepted():
    text = ("{{ tenant.name }} {{ account.id }} {{ account.name }} {{ account.email }} "
            "{{ balance }} {{ currency }} {{ threshold }} {{ days_left }} {{ inactive_days }} "
            "{{ package.name }} {{ item.service }} {{ item.remaining }} {{ item.purchased }} "
            "{{ member_id }} {{ reminder }} {{ max_reminders }} {{ notice.type }}")

    assert validate_template(override(text=text)) == []


def test_local_names_loops_and_filters_are_fine():
    text = ("{% set who = account.name|upper %}{{ who }}\n"
            "{% for n in range(2) %}{{ loop.index }}{% endfor %}\n"
            "{{ account.name[:3] }} {{ balance|default('n/a') }}")

    assert validate_template(override(text=text)) == []


def test_subject_that_renders_two_lines_is_refused():
    (issue,) = validate_template(override(subject="Low balance\n{{ balance }}"))

    assert (issue.field, issue.line) == ("subject", 2)
    assert issue.message == "subject must render to one line"


def test_subject_with_a_newline_from_an_expression_is_refused():
    (issue,) = validate_template(override(subject="Low {{ 'balance\\n' ~ balance }}"))

    assert issue.field == "subject" and "one line" in issue.message


def test_subject_that_breaks_for_one_type_only_is_refused_for_that_type():
    doc = override(subject="Hi{% if days_left is not none %} {{ days_left }}\ndays{% endif %}")

    assert validate_template(doc, "balance_low") == []
    assert validate_template(doc, "funds_run_out")[0].message == "subject must render to one line"
    assert validate_template(doc) != []  # every type is tried when none is given


def test_template_that_fails_with_sample_data_is_refused():
    (issue,) = validate_template(override(text="Days:\n{{ days_left + 1 }}"))

    assert (issue.field, issue.line) == ("text", 2)
    assert validate_template(override(text="{{ days_left + 1 }}"), "funds_run_out") == []


def test_document_shape_is_checked():
    issues = validate_template({"subject": " ", "html": "<p>x</p>", "bcc": ["not-an-address"],
                                "from": "x@y.test"})

    assert [(i.field, i.message) for i in issues] == [
        ("from", "unknown field"),
        ("subject", "is required (a non-empty string)"),
        ("text", "is required (a non-empty string)"),
        ("bcc", "not an email address: 'not-an-address'"),
    ]
    assert validate_template("nope")[0].field == "template"


def test_issues_serialize_for_the_api():
    (issue,) = validate_template(override(text="{{ nope }}"))

    assert issue.to_dict() == {"field": "text", "line": 1,
                               "message": "unknown variable 'nope'"}
