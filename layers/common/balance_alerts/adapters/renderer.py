"""Notice email templates: built-in defaults, tenant overrides, sandboxed rendering and
validation.

Templates are Jinja2 run in ``ImmutableSandboxedEnvironment`` (no access to ``_``
attributes, no mutation of the values passed in) with ``StrictUndefined``: a template
can only print the variables of CONTRACT.md section 5. HTML is autoescaped; the subject
and the text part are not (they are not HTML) and the subject must render to one line.
A variable that does not apply to a notice type (``days_left`` for ``balance_low``) is
``None`` and prints as nothing.

Compiled templates are cached per warm container, keyed by their source, so an edited
override compiles once and the built-in defaults compile once per container.

The built-in defaults live in ``balance_alerts/templates/``: one shared ``layout.html``
(table layout, inline styles, a preheader) around a per type and audience fragment,
assembled into self-contained documents, so what the API returns for "the default" is
a valid override to start from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal
from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..domain.model import AUDIENCES, NOTICE_TYPES

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
PARTS = ("subject", "html", "text")
DEFAULT_LOCALE = "en_US"

#: The variables of CONTRACT.md section 5: namespaces with their fields, and plain names.
NAMESPACES: dict[str, frozenset[str]] = {
    "tenant": frozenset({"name"}),
    "account": frozenset({"id", "name", "email"}),
    "package": frozenset({"name"}),
    "item": frozenset({"service", "remaining", "purchased"}),
    "notice": frozenset({"type"}),
}
SCALARS = frozenset({
    "balance", "currency", "threshold", "days_left", "inactive_days", "member_id",
    "reminder", "max_reminders",
})
KNOWN_VARIABLES = frozenset(NAMESPACES) | SCALARS

MAX_SUBJECT_SOURCE = 1_000
MAX_BODY_SOURCE = 100_000
MAX_BCC = 10
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
#: Attribute names refused even though the sandbox would stop most of them at render.
_UNSAFE_ATTRIBUTES = frozenset({"mro", "format", "format_map", "gi_frame", "gi_code",
                                "cr_frame", "cr_code", "ag_frame", "ag_code", "f_globals"})
_FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
}


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    bcc: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemplateIssue:
    """One reason a template is refused: which part, which line (1-based), what."""

    field: str
    line: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "line": self.line, "message": self.message}

    def __str__(self) -> str:
        where = f"{self.field} line {self.line}" if self.line else self.field
        return f"{where}: {self.message}"


class TemplateRenderError(Exception):
    """A template cannot be rendered with these variables (a permanent failure)."""


# ----------------------------------------------------------------------- environment
def _blank_none(value: Any) -> Any:
    """Variables that do not apply to a notice type are None and print as nothing."""
    return "" if value is None else value


def _environment(*, autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=autoescape,
        undefined=StrictUndefined,
        finalize=_blank_none,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.pop("lipsum", None)
    return env


_HTML_ENV = _environment(autoescape=True)
_PLAIN_ENV = _environment(autoescape=False)


def _env_for(part: str) -> ImmutableSandboxedEnvironment:
    return _HTML_ENV if part == "html" else _PLAIN_ENV


@lru_cache(maxsize=512)
def _compiled(part: str, source: str) -> Template:
    return _env_for(part).from_string(source)


def reset_cache() -> None:
    """Forget compiled templates and loaded defaults (a cold start)."""
    _compiled.cache_clear()
    default_template.cache_clear()


# ------------------------------------------------------------------ built-in defaults
def _read(name: str) -> str:
    return (TEMPLATES_DIR / name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def default_template(notice_type: str, audience: str) -> dict[str, Any]:
    """The built-in template of a notice type and audience, as a self-contained document
    ``{"subject", "html", "text", "bcc": []}`` (the shape of an override)."""
    if notice_type not in NOTICE_TYPES or audience not in AUDIENCES:
        raise KeyError(f"no template for {notice_type}/{audience}")
    base = f"{notice_type}/{audience}"
    fragment = _read(f"{base}.html")
    first, _, content = fragment.partition("\n")
    match = re.fullmatch(r"\s*<!--\s*preheader:(.*?)-->\s*", first)
    preheader = match.group(1).strip() if match else ""
    if not match:
        content = fragment
    html = (
        _read("layout.html")
        .replace("%%PREHEADER%%", preheader)
        .replace("%%CONTENT%%", content.strip("\n"))
        .replace("%%FOOTER%%", _read(f"footer_{audience}.html").strip("\n"))
    )
    return {
        "subject": _read(f"{base}.subject").strip(),
        "html": html,
        "text": _read(f"{base}.txt"),
        "bcc": [],
    }


# ------------------------------------------------------------------------- variables
def _locale(locale: str | None) -> Locale:
    try:
        return Locale.parse(locale or DEFAULT_LOCALE)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def format_money(amount: Any, currency: str | None, locale: str | None) -> str | None:
    """``Decimal("12.5"), "USD", "en_US"`` -> ``"$12.50"``; ``"EUR", "de_DE"`` -> ``"12,50 €"``
    (with a no-break space, as CLDR has it). None stays None; garbage is shown as is."""
    number = _decimal(amount)
    if number is None:
        return None if amount is None else str(amount)
    if not currency:
        return format_decimal(number, locale=_locale(locale))
    return format_currency(number, currency.upper(), locale=_locale(locale))


def format_quantity(value: Any, locale: str | None) -> str | None:
    number = _decimal(value)
    if number is None:
        return None if value is None else str(value)
    return format_decimal(number, locale=_locale(locale))


def _whole(value: Any) -> int | None:
    number = _decimal(value)
    if number is None:
        return None
    return int(number.to_integral_value())


def template_variables(
    values: Mapping[str, Any] | None,
    *,
    notice_type: str,
    reminder: int = 0,
    tenant_name: str | None = None,
    account_id: str | None = None,
    account_name: str | None = None,
    account_email: str | None = None,
    locale: str | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """The template context of CONTRACT.md section 5, from a notice's ``variables`` map
    (raw decimals, as the deciders store them) and the account and tenant it is about.
    Amounts are formatted for the account's locale and currency."""
    values = values or {}
    currency = str(values.get("currency") or currency or "") or None
    package = values.get("package") or {}
    item = values.get("item") or {}
    return {
        "tenant": {"name": tenant_name},
        "account": {"id": account_id, "name": account_name, "email": account_email},
        "balance": format_money(values.get("balance"), currency, locale),
        "currency": currency,
        "threshold": format_money(values.get("threshold"), currency, locale),
        "days_left": _whole(values.get("days_left")),
        "inactive_days": _whole(values.get("inactive_days")),
        "package": {"name": package.get("name") if isinstance(package, Mapping) else None},
        "item": {
            "service": item.get("service") if isinstance(item, Mapping) else None,
            "remaining": format_quantity(item.get("remaining"), locale)
            if isinstance(item, Mapping) else None,
            "purchased": format_quantity(item.get("purchased"), locale)
            if isinstance(item, Mapping) else None,
        },
        "member_id": values.get("member_id"),
        "reminder": int(reminder or 0),
        "max_reminders": _whole(values.get("max_reminders")),
        "notice": {"type": notice_type},
    }


_SAMPLES: dict[str, dict[str, Any]] = {
    "balance_low": {"balance": "12.50", "threshold": "20.00", "max_reminders": 3},
    "balance_recovered": {"balance": "45.00", "threshold": "20.00"},
    "funds_run_out": {"balance": "18.40", "days_left": 5},
    "inactive": {"balance": "3.20", "threshold": "5.00", "inactive_days": 30,
                 "max_reminders": 3},
    "package_low": {
        "package": {"name": "10 piano lessons"},
        "item": {"service": "piano lesson", "remaining": "2", "purchased": "10"},
        "member_id": "student-7",
    },
}


def sample_variables(notice_type: str, *, locale: str = DEFAULT_LOCALE,
                     currency: str = "USD") -> dict[str, Any]:
    """A plausible template context for a notice type (previews, docs, validation)."""
    if notice_type not in _SAMPLES:
        raise KeyError(f"unknown notice type {notice_type!r}")
    return template_variables(
        {"currency": currency, **_SAMPLES[notice_type]},
        notice_type=notice_type,
        reminder=0,
        tenant_name="Acme Music School",
        account_id="acct-1001",
        account_name="Jordan Smith",
        account_email="jordan@example.com",
        locale=locale,
        currency=currency,
    )


def _complete(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Every known variable present (None when missing), namespaces with all their fields,
    so a valid template never meets an undefined name."""
    context: dict[str, Any] = {name: variables.get(name) for name in SCALARS}
    for namespace, fields in NAMESPACES.items():
        given = variables.get(namespace)
        given = given if isinstance(given, Mapping) else {}
        context[namespace] = {name: given.get(name) for name in fields}
    return context


# -------------------------------------------------------------------------- render
def _template_line(traceback: TracebackType | None) -> int | None:
    """The template line a runtime error happened on (Jinja rewrites the traceback)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _render_part(part: str, source: str, context: Mapping[str, Any]) -> str:
    try:
        output = _compiled(part, source).render(context)
    except Exception as error:  # noqa: BLE001 - any error of a template is the template's
        line = getattr(error, "lineno", None) or _template_line(error.__traceback__)
        where = f"{part} line {line}" if line else part
        detail = error.message if isinstance(error, TemplateError) else str(error)
        raise TemplateRenderError(f"{where}: {detail or type(error).__name__}") from None
    if part == "subject":
        output = output.strip()
        if "\n" in output or "\r" in output:
            raise TemplateRenderError("subject must render to one line")
        if not output:
            raise TemplateRenderError("subject renders empty")
    return output


def render(
    notice_type: str,
    audience: str,
    variables: Mapping[str, Any],
    override: Mapping[str, Any] | None = None,
) -> RenderedEmail:
    """Render one email. ``override`` (a tenant's template document) wins over the
    built-in default, part by part. Raises TemplateRenderError (permanent)."""
    default = default_template(notice_type, audience)
    doc = override or {}
    context = _complete(variables)
    sources = {part: doc.get(part) or default[part] for part in PARTS}
    bcc = doc.get("bcc") if override else default["bcc"]
    return RenderedEmail(
        subject=_render_part("subject", sources["subject"], context),
        html=_render_part("html", sources["html"], context),
        text=_render_part("text", sources["text"], context),
        bcc=tuple(str(address).strip() for address in (bcc or []) if str(address).strip()),
    )


# ------------------------------------------------------------------------ validate
def _check_ast(part: str, ast: nodes.Template) -> list[TemplateIssue]:
    issues: list[TemplateIssue] = []

    def refuse(node: nodes.Node, message: str) -> None:
        issues.append(TemplateIssue(part, getattr(node, "lineno", None), message))

    undeclared = meta.find_undeclared_variables(ast)
    for name in sorted(undeclared - KNOWN_VARIABLES):
        first = next((n for n in ast.find_all(nodes.Name) if n.name == name), None)
        if name.startswith("_"):
            refuse(first or ast, f"unsafe name {name!r}")
        else:
            refuse(first or ast, f"unknown variable {name!r}")
    for node_type, label in _FORBIDDEN_NODES.items():
        for node in ast.find_all(node_type):
            refuse(node, f"{{% {label} %}} is not allowed in email templates")
    for node in ast.find_all(nodes.Getattr):
        if node.attr.startswith("_") or node.attr in _UNSAFE_ATTRIBUTES:
            refuse(node, f"unsafe attribute {node.attr!r}")
        elif (isinstance(node.node, nodes.Name) and node.node.name in NAMESPACES
              and node.node.name in undeclared
              and node.attr not in NAMESPACES[node.node.name]):
            refuse(node, f"unknown variable '{node.node.name}.{node.attr}'")
    for node in ast.find_all(nodes.Getitem):
        key = node.arg.value if isinstance(node.arg, nodes.Const) else None
        if isinstance(key, str) and (key.startswith("_") or key in _UNSAFE_ATTRIBUTES):
            refuse(node, f"unsafe attribute {key!r}")
        elif (isinstance(key, str) and isinstance(node.node, nodes.Name)
              and node.node.name in NAMESPACES and node.node.name in undeclared
              and key not in NAMESPACES[node.node.name]):
            refuse(node, f"unknown variable '{node.node.name}.{key}'")
        elif not isinstance(node.arg, (nodes.Const, nodes.Slice)):
            refuse(node, "computed attribute names are not allowed")
    for node in ast.find_all(nodes.Filter):
        if node.name == "attr":
            refuse(node, "the attr filter is not allowed")
    for node in ast.find_all(nodes.Name):
        if node.name.startswith("_") and node.name not in undeclared:
            refuse(node, f"unsafe name {node.name!r}")
    return issues


def _validate_source(part: str, source: str) -> list[TemplateIssue]:
    env = _env_for(part)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as error:
        return [TemplateIssue(part, error.lineno, error.message or "syntax error")]
    try:
        env.compile(source)  # unknown filters and tests are found here
    except TemplateSyntaxError as error:
        return [TemplateIssue(part, error.lineno, error.message or "syntax error")]
    return sorted(_check_ast(part, ast), key=lambda issue: issue.line or 0)


def validate_template(doc: Any, notice_type: str | None = None) -> list[TemplateIssue]:
    """Why a template document ``{"subject", "html", "text", "bcc"}`` cannot be used;
    an empty list when it can. Refuses syntax errors, unsafe constructs, unknown
    variables, and a subject that does not render to one line (tried with the sample
    data of ``notice_type``, or of every type when None)."""
    if not isinstance(doc, Mapping):
        return [TemplateIssue("template", None, "must be an object with subject, html, text")]
    issues: list[TemplateIssue] = []
    for name in sorted(set(doc) - {*PARTS, "bcc"}):
        issues.append(TemplateIssue(str(name), None, "unknown field"))
    for part in PARTS:
        source = doc.get(part)
        limit = MAX_SUBJECT_SOURCE if part == "subject" else MAX_BODY_SOURCE
        if not isinstance(source, str) or not source.strip():
            issues.append(TemplateIssue(part, None, "is required (a non-empty string)"))
        elif len(source) > limit:
            issues.append(TemplateIssue(part, None, f"is longer than {limit} characters"))
        else:
            issues.extend(_validate_source(part, source))
    issues.extend(_validate_bcc(doc.get("bcc")))
    if issues:
        return issues
    types = [notice_type] if notice_type in NOTICE_TYPES else list(NOTICE_TYPES)
    for kind in types:
        context = _complete(sample_variables(kind))
        for part in PARTS:
            try:
                _render_part(part, doc[part], context)
            except TemplateRenderError as error:
                text = str(error)
                line = _line_in(text) or (_subject_break_line(doc[part])
                                          if part == "subject" else None)
                return [TemplateIssue(part, line, _without_where(text, part))]
    return []


def _validate_bcc(bcc: Any) -> list[TemplateIssue]:
    if bcc is None:
        return []
    if not isinstance(bcc, list) or not all(isinstance(a, str) for a in bcc):
        return [TemplateIssue("bcc", None, "must be a list of email addresses")]
    if len(bcc) > MAX_BCC:
        return [TemplateIssue("bcc", None, f"at most {MAX_BCC} addresses")]
    bad = [a for a in bcc if not _EMAIL.match(a.strip())]
    return [TemplateIssue("bcc", None, f"not an email address: {a!r}") for a in bad]


def _line_in(text: str) -> int | None:
    match = re.search(r" line (\d+):", text)
    return int(match.group(1)) if match else None


def _without_where(text: str, part: str) -> str:
    return re.sub(rf"^{part}( line \d+)?: ", "", text)


def _subject_break_line(source: str) -> int:
    """Where a subject breaks into a second line: the line after the first newline of its
    source, else 1 (the newline comes from a value)."""
    stripped = source.strip()
    return 2 if "\n" in stripped else 1
