"""The template renderer: built-in defaults, sandboxed rendering, validation of overrides."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from jinja2 import FileSystemLoader

from balance_alerts.adapters import rendering
from balance_alerts.adapters.preview import sample_variables
from balance_alerts.adapters.rendering import (
    COMMON_VARIABLES,
    TYPE_VARIABLES,
    TemplateRenderError,
    format_moment,
    format_money,
    template_variables,
)
from balance_alerts.adapters.template_store import (
    TEMPLATES_DIR,
    default_template,
    render,
    validate_template,
)
from balance_alerts.domain.model import AUDIENCES
from balance_alerts.domain.rules import NOTICE_TYPES

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


@pytest.mark.parametrize("notice_type, audience", EVERY_TEMPLATE)
def test_every_default_extends_the_one_base_layout(notice_type, audience):
    # Each default HTML holds only its blocks: it extends its audience's layout, which
    # extends layout.html
    source = (TEMPLATES_DIR / notice_type / f"{audience}.html").read_text(encoding="utf-8")
    layout = (TEMPLATES_DIR / f"layout_{audience}.html").read_text(encoding="utf-8")

    assert source.startswith(f'{{% extends "layout_{audience}.html" %}}\n')
    assert layout.startswith('{% extends "layout.html" %}\n')
    assert "<table" not in source and "<html" not in source  # the layouts hold those


@pytest.mark.parametrize("notice_type, audience", EVERY_TEMPLATE)
@pytest.mark.parametrize("reminder", [0, 2])
def test_defaults_render_as_jinja2_inheritance_renders_them(notice_type, audience, reminder):
    # Given the sandbox with a loader for the built-in templates (which rendering never
    # has) and a notice's context
    env = rendering._environment(autoescape=True)
    env.loader = FileSystemLoader(TEMPLATES_DIR)
    variables = sample_variables(notice_type, reminder=reminder)
    context = rendering.complete_context(variables)

    # When Jinja2 resolves the inheritance itself
    inherited = "".join(env.get_template(f"{notice_type}/{audience}.html").generate(context))

    # Then it is what the self-contained default renders to
    assert inherited == render(notice_type, audience, variables).html
    assert "{% block" not in default_template(notice_type, audience)["html"]


@pytest.mark.parametrize("statement", [
    '{% extends "layout.html" %}', '{% include "layout_customer.html" %}',
    '{% include "/etc/passwd" %}', '{% import "layout.html" as layout %}',
])
def test_a_stored_override_cannot_load_the_layout_or_any_file(statement):
    # An override stored around validation renders in a sandbox without a loader
    with pytest.raises(TemplateRenderError, match="no loader"):
        render("balance_low", "customer", sample_variables("balance_low"),
               override(html=statement))


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
                                 currency="USD", timezone="Europe/Paris",
                                 created_at="2026-11-02T09:00:05+00:00")

    # Then amounts are formatted, absent values are None, the rule's addresses are not there
    assert context["balance"] == "-3,50\xa0€"
    assert context["threshold"] == "0,00\xa0€"
    assert context["currency"] == "EUR"
    assert context["days_left"] == 4 and context["inactive_days"] is None
    assert context["account"] == {"id": "a1", "name": "Léa", "email": "lea@example.com"}
    assert context["item"] == {"service": None, "remaining": None, "purchased": None}
    assert context["notice"] == {"type": "funds_run_out",
                                 "created_at": "2 nov. 2026, 10:00 CET"}
    assert context["reminder"] == 1
    assert "rule" not in context


def _set_names(context: dict) -> set[str]:
    """The dotted names of the variables that hold a value."""
    names = set()
    for name, value in context.items():
        if isinstance(value, dict):
            names |= {f"{name}.{field}" for field, inner in value.items() if inner is not None}
        elif value is not None:
            names.add(name)
    return names


@pytest.mark.parametrize("notice_type", NOTICE_TYPES)
def test_sample_variables_set_what_the_type_documents(notice_type):
    # Given the sample data of a type as a reminder (so max_reminders applies)
    variables = sample_variables(notice_type, reminder=1)

    # Then exactly the common variables and the type's own are set (docs/templates.md)
    assert _set_names(variables) == {*COMMON_VARIABLES, *TYPE_VARIABLES[notice_type]}
    assert variables["notice"]["type"] == notice_type


def test_documented_variables_are_the_contract_ones_plus_created_at():
    documented = {*COMMON_VARIABLES, *(v for vs in TYPE_VARIABLES.values() for v in vs)}
    contract = {"tenant.name", "account.id", "account.name", "account.email", "balance",
                "currency", "threshold", "days_left", "inactive_days", "package.name",
                "item.service", "item.remaining", "item.purchased", "member_id", "reminder",
                "max_reminders", "notice.type"}

    assert documented == contract | {"notice.created_at"}
    assert set(TYPE_VARIABLES) == set(NOTICE_TYPES)


def test_the_docs_list_every_variable_and_show_every_default():
    docs = Path(__file__).resolve().parents[2] / "docs"
    page = (docs / "templates.md").read_text(encoding="utf-8")

    for name in {*COMMON_VARIABLES, *(v for vs in TYPE_VARIABLES.values() for v in vs)}:
        assert f"`{name}`" in page, name
    for notice_type, audience in EVERY_TEMPLATE:
        picture = f"emails/{notice_type}-{audience}.png"
        assert (docs / picture).is_file() and f"({picture})" in page, picture


# -------------------------------------------------------------------- dates
@pytest.mark.parametrize("zone, locale, expected", [
    ("America/New_York", "en_US", "Nov 2, 2026, 4:00\u202fAM EST"),
    ("Europe/Berlin", "de_DE", "02.11.2026, 10:00 CET"),
    ("Asia/Tokyo", "ja_JP", "2026/11/02 18:00 JST"),
    ("UTC", "en_GB", "2 Nov 2026, 09:00 UTC"),
    ("Nowhere/Atlantis", "xx", "Nov 2, 2026, 9:00\u202fAM UTC"),  # bad values: UTC, en_US
])
def test_dates_are_shown_in_the_accounts_time_zone_and_locale(zone, locale, expected):
    assert format_moment("2026-11-02T09:00:05+00:00", zone, locale) == expected


def test_absent_or_odd_dates():
    assert format_moment(None, "UTC", "en_US") is None
    assert format_moment("yesterday", "UTC", "en_US") == "yesterday"
    assert format_moment("2026-11-02T09:00:00", "Europe/Berlin", "de_DE") == (
        "02.11.2026, 10:00 CET")  # a naive time is taken as UTC


def test_defaults_say_when_the_balance_was_read():
    variables = sample_variables("balance_low", timezone="Europe/Berlin", locale="de_DE",
                                 currency="EUR")

    customer = render("balance_low", "customer", variables)
    staff = render("balance_low", "staff", variables)

    assert "Current balance: 12,50\xa0€ (on 02.11.2026, 15:30 CET)" in customer.text
    assert "Current balance on 02.11.2026, 15:30 CET" in customer.html
    assert "Date:      02.11.2026, 15:30 CET" in staff.text
    assert "02.11.2026, 15:30 CET" in staff.html


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
    rendering.reset_cache()
    variables = sample_variables("inactive")

    render("inactive", "customer", variables)
    misses = rendering._compiled.cache_info().misses
    render("inactive", "customer", variables)

    assert rendering._compiled.cache_info().misses == misses
    assert rendering._compiled.cache_info().hits >= 3


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


# ------------------------------------------------------------ resource limits
BOMBS = {
    "nested loops": "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}"
                    "{% endfor %}",
    "huge range": "{{ range(100000000)|list|length }}",
    "string repeat": "{{ 'x' * 1000000000 }}",
    "list repeat": "{{ [1] * 1000000000 }}",
    "concat": "{% set a = 'x' * 150000 %}{{ a ~ a }}",
    "doubling in a loop": "{% set ns = namespace(s='ab') %}{% for i in range(60) %}"
                          "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "plus": "{% set a = 'x' * 150000 %}{{ a + a }}",
    "power": "{{ (9 ** 999) ** 999 }}",
    "big product": "{{ (2 ** 4000) * (2 ** 4000) }}",
    "percent formatting": "{{ '%0999999999d' % 1 }}",
    "padding method": "{{ account.name.center(1000000000) }}",
    "padding filter": "{{ account.name|center(1000000000) }}",
    "tojson indent": "{{ account|tojson(indent=1000000000) }}",
    "batch fill": "{{ range(3)|batch(1000000000, 'x')|list }}",
    "join": "{{ range(5000)|join('x' * 100000) }}",
    "replace": "{{ ('x' * 1000)|replace('', 'y' * 1000) }}",
    "macro recursion": "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "recursive loop": "{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}",
    "safe": "{{ account.name|safe }}",
    "autoescape off": "{% autoescape false %}{{ account.name }}{% endautoescape %}",
}


@pytest.mark.parametrize("source", BOMBS.values(), ids=BOMBS.keys())
def test_templates_that_would_exhaust_memory_or_time_are_refused(source):
    # When a part that would do unbounded work is saved
    issues = validate_template(override(html="<p>x</p>\n" + source))

    # Then it is refused, with its line
    assert issues, source
    assert issues[0].field == "html" and issues[0].line == 2


def test_a_template_that_renders_too_much_is_refused():
    (issue,) = validate_template(override(
        text="{% for i in range(9999) %}{{ 'x' * 1000 }}{% endfor %}"))

    assert issue.field == "text" and "renders more than 1000000 characters" in issue.message


@pytest.mark.parametrize("source", [
    BOMBS[name] for name in ("nested loops", "string repeat", "concat", "doubling in a loop",
                             "power", "join", "replace", "macro recursion",
                             "padding method", "safe")
])
def test_the_limits_hold_at_render_time_too(source):
    # Given an override stored around validation (an old item, a direct table write)
    doc = override(html=source)

    # When it is rendered, it fails as a template error instead of running away
    with pytest.raises(TemplateRenderError):
        render("balance_low", "customer", sample_variables("balance_low"), doc)


def test_ordinary_loops_joins_and_repeats_are_fine():
    text = ("{{ '-' * 20 }}\n{{ range(3)|join(', ') }}\n"
            "{% for i in range(3) %}{{ loop.index }}{% endfor %}\n"
            "{{ account.name|replace('Jordan', 'J.')|upper }}\n"
            "{{ (account.name ~ ' / ' ~ account.id)|truncate(40) }}\n{{ 2 ** 10 }}")

    assert validate_template(override(text=text)) == []
    email = render("balance_low", "customer", sample_variables("balance_low"),
                   override(text=text))
    assert email.text.split("\n") == ["-" * 20, "0, 1, 2", "123J. SMITH",
                                      "Jordan Smith / acct-1001", "1024"]


def test_the_html_part_stays_escaped_in_concatenations():
    variables = sample_variables("balance_low")
    variables["account"]["name"] = "<b>x</b>"

    email = render("balance_low", "customer", variables,
                   override(html="<p>{{ 'Hi ' ~ account.name }}</p>"))

    assert email.html == "<p>Hi &lt;b&gt;x&lt;/b&gt;</p>"
