"""Rendering notice emails: the sandboxed Jinja2 environments, the template variables
and their formatting, and one template document turned into an email.

Templates are Jinja2 run in ``ImmutableSandboxedEnvironment`` (no access to ``_``
attributes, no mutation of the values passed in) with ``StrictUndefined``: a template
can only print the variables of CONTRACT.md section 5. HTML is autoescaped (the ``safe``
filter and ``autoescape`` blocks are refused); the subject and the text part are not
(they are not HTML) and the subject must render to one line.

The sandbox stops code from escaping, not work from piling up, so rendering is also
bounded: at most ``MAX_ITERATIONS`` loop steps per part, ``range`` and lists of at most
``MAX_ITEMS``, strings built with ``~``, ``+``, ``*``, ``join`` or ``replace`` of at most
``MAX_STRING`` characters, integers of at most ``MAX_INT_BITS`` bits, no ``%``
formatting, no macros or recursive loops, a filter allow-list without the ones that pad
or repeat (``center``, ``indent``, ``wordwrap``, ``format``, ``batch``, ...), and
``MAX_OUTPUT`` characters per rendered part. These are enforced by the environment
(compiled into every template), not only by ``template_store.validate_template``.
The environments have no loader: a template cannot read another one, or any file.
A variable that does not apply to a notice type (``days_left`` for ``balance_low``) is
``None`` and prints as nothing. Amounts are formatted for the account's locale and
currency (babel), ``notice.created_at`` in the account's time zone; which variables each
notice type sets is ``TYPE_VARIABLES`` (docs/templates.md is its long form).

Compiled templates are cached per warm container, keyed by their source, so an edited
override compiles once and the built-in defaults compile once per container.

Which template applies (a tenant's override or the built-in default) is
``template_store``'s; the sample data of previews is ``preview``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from types import TracebackType
from typing import Any

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal
from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

PARTS = ("subject", "html", "text")
DEFAULT_LOCALE = "en_US"
DEFAULT_TIMEZONE = "UTC"

#: The variables of CONTRACT.md section 5: namespaces with their fields, and plain names.
NAMESPACES: dict[str, frozenset[str]] = {
    "tenant": frozenset({"name"}),
    "account": frozenset({"id", "name", "email"}),
    "package": frozenset({"name"}),
    "item": frozenset({"service", "remaining", "purchased"}),
    "notice": frozenset({"type", "created_at"}),
}
SCALARS = frozenset({
    "balance", "currency", "threshold", "days_left", "inactive_days", "member_id",
    "reminder", "max_reminders",
})
KNOWN_VARIABLES = frozenset(NAMESPACES) | SCALARS

#: Set for every notice type (``account.name`` and ``account.email`` may still be empty).
COMMON_VARIABLES = ("tenant.name", "account.id", "account.name", "account.email",
                    "currency", "reminder", "notice.type", "notice.created_at")
#: What each notice type sets besides COMMON_VARIABLES; the others are None (print as
#: nothing). ``max_reminders`` is set on reminders (``reminder`` >= 1), which only
#: balance_low and inactive have; ``member_id`` only when the package has a member.
TYPE_VARIABLES: dict[str, tuple[str, ...]] = {
    "balance_low": ("balance", "threshold", "max_reminders"),
    "balance_recovered": ("balance", "threshold"),
    "funds_run_out": ("balance", "days_left"),
    "inactive": ("balance", "threshold", "inactive_days", "max_reminders"),
    "package_low": ("package.name", "item.service", "item.remaining", "item.purchased",
                    "member_id"),
}

#: Work a template may do while rendering one part (see the module docstring).
MAX_ITERATIONS = 10_000
MAX_ITEMS = 10_000
MAX_STRING = 200_000
MAX_OUTPUT = 1_000_000
MAX_INT_BITS = 4_096
#: Filters a template may use: the Jinja built-ins that cannot be made to pad, repeat or
#: build without bound, and that keep HTML escaped.
ALLOWED_FILTERS = frozenset({
    "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape",
    "filesizeformat", "first", "float", "forceescape", "groupby", "int", "items", "join",
    "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr",
    "replace", "reverse", "round", "select", "selectattr", "sort", "string", "striptags",
    "sum", "title", "trim", "truncate", "unique", "upper", "urlencode", "urlize",
    "wordcount", "xmlattr",
})
#: str methods that pad or repeat by an argument; the filters cover the useful ones.
BOUNDLESS_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "join",
                               "replace", "format", "format_map"})


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    bcc: tuple[str, ...] = ()


class TemplateRenderError(Exception):
    """A template cannot be rendered with these variables (a permanent failure)."""


# ----------------------------------------------------------------------- environment
def _blank_none(value: Any) -> Any:
    """Variables that do not apply to a notice type are None and print as nothing."""
    return "" if value is None else value


#: Loop steps left in the part being rendered (set by ``render_part``).
_ITERATIONS_LEFT: ContextVar[list[int] | None] = ContextVar("iterations_left", default=None)


def _limit(message: str) -> SecurityError:
    return SecurityError(f"template exceeds a limit: {message}")


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple)) else None


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse ``+``, ``*``, ``**`` and ``%`` whose result would be too big, before it is
    computed."""
    sizes = (_size(left), _size(right))
    if operator == "%" and isinstance(left, str):
        raise _limit("% formatting of strings is not allowed")
    if operator == "+" and None not in sizes:
        if sum(sizes) > (MAX_STRING if isinstance(left, str) else MAX_ITEMS):  # type: ignore[arg-type]
            raise _limit("a value grows too long")
    if operator == "*":
        size = sizes[0] if sizes[0] is not None else sizes[1]
        times = right if sizes[0] is not None else left
        if size is not None and isinstance(times, int):
            limit = MAX_STRING if isinstance(left, str) or isinstance(right, str) else MAX_ITEMS
            if size * max(times, 0) > limit:
                raise _limit("a repeated value grows too long")
        elif isinstance(left, int) and isinstance(right, int):
            if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                raise _limit("a number grows too large")
    if operator == "**" and isinstance(left, int) and isinstance(right, int):
        if right > 0 and abs(left).bit_length() * right > MAX_INT_BITS:
            raise _limit("a number grows too large")


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every ``{% for %}`` iterates through this: it spends the part's loop budget."""
    budget = _ITERATIONS_LEFT.get()
    if budget is None:
        budget = [MAX_ITERATIONS]
    for item in iterable:
        budget[0] -= 1
        if budget[0] < 0:
            raise _limit(f"more than {MAX_ITERATIONS} loop steps")
        yield item


def _concat(markup: bool, parts: tuple[Any, ...]) -> str:
    """``a ~ b ~ c``, refused when the result would be longer than MAX_STRING."""
    total = 0
    for part in parts:
        total += len(part) if isinstance(part, str) else len(str(part))
        if total > MAX_STRING:
            raise _limit("a value grows too long")
    return markup_join(parts) if markup else str_join(parts)


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_ITEMS:
        raise _limit(f"range() of more than {MAX_ITEMS} numbers")
    return numbers


def _is_counted(node: nodes.Expr) -> bool:
    return (isinstance(node, nodes.Call) and isinstance(node.node, nodes.EnvironmentAttribute)
            and node.node.name == "counted")


class _CodeGenerator(CodeGenerator):
    """Compiles the limits into every template: loops spend a budget, ``~`` is bounded,
    macros and recursive loops do not compile."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if node.recursive:
            self.fail("recursive loops are not allowed in email templates", node.lineno)
        if not (isinstance(node.iter, nodes.Expr) and _is_counted(node.iter)):  # iterate through environment.counted(...)
            node.iter = nodes.Call(nodes.EnvironmentAttribute("counted"), [node.iter], [],
                                   None, None, lineno=node.iter.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        markup = ("context.eval_ctx.autoescape" if frame.eval_ctx.volatile
                  else repr(bool(frame.eval_ctx.autoescape)))
        self.write(f"environment.concat({markup}, (")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")

    def visit_Macro(self, node: nodes.Macro, frame: Frame) -> None:
        self.fail("{% macro %} is not allowed in email templates", node.lineno)

    def visit_CallBlock(self, node: nodes.CallBlock, frame: Frame) -> None:
        self.fail("{% call %} is not allowed in email templates", node.lineno)

    def visit_ScopedEvalContextModifier(self, node: nodes.ScopedEvalContextModifier,
                                        frame: Frame) -> None:
        self.fail("{% autoescape %} is not allowed in email templates", node.lineno)


class _Sandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})
    counted = staticmethod(_counted)
    concat = staticmethod(_concat)  # type: ignore[assignment]  # our code generator's signature

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any,  # noqa: N805
             **kwargs: Any) -> Any:
        if (isinstance(getattr(__obj, "__self__", None), str)
                and getattr(__obj, "__name__", "") in BOUNDLESS_METHODS):
            raise SecurityError(f"the string method {__obj.__name__!r} is not allowed")
        return super().call(__context, __obj, *args, **kwargs)


def _bounded_join(original: Any) -> Any:
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        items = list(value) if not isinstance(value, (list, tuple)) else value
        if len(items) > MAX_ITEMS:
            raise _limit("join of too many items")
        if len(str(d)) * len(items) + sum(len(str(item)) for item in items) > MAX_STRING:
            raise _limit("a value grows too long")
        return original(eval_ctx, items, d, attribute)

    join.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return join


def _bounded_replace(original: Any) -> Any:
    def replace(eval_ctx: Any, s: str, old: str, new: str, count: int | None = None) -> str:
        text, before, after = str(s), str(old), str(new)
        times = text.count(before) if before else len(text) + 1
        if count is not None:
            times = min(times, max(int(count), 0))
        if len(text) + times * max(len(after) - len(before), 0) > MAX_STRING:
            raise _limit("a value grows too long")
        return original(eval_ctx, s, old, new, count)

    replace.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return replace


def _environment(*, autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = _Sandbox(
        autoescape=autoescape,
        undefined=StrictUndefined,
        finalize=_blank_none,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.pop("lipsum", None)
    env.globals["range"] = _range
    env.filters = {name: env.filters[name] for name in ALLOWED_FILTERS}
    env.filters["join"] = _bounded_join(env.filters["join"])
    env.filters["replace"] = _bounded_replace(env.filters["replace"])
    return env


_HTML_ENV = _environment(autoescape=True)
_PLAIN_ENV = _environment(autoescape=False)


def environment_for(part: str) -> ImmutableSandboxedEnvironment:
    """The sandbox a part is parsed and rendered in: autoescaped for ``html`` only."""
    return _HTML_ENV if part == "html" else _PLAIN_ENV


@lru_cache(maxsize=512)
def _compiled(part: str, source: str) -> Template:
    return environment_for(part).from_string(source)


def reset_cache() -> None:
    """Forget compiled templates (a cold start)."""
    _compiled.cache_clear()


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


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def format_moment(value: Any, zone: str | None, locale: str | None) -> str | None:
    """An instant (ISO 8601 string or aware datetime) as the account reads it: its time
    zone, its locale's medium date and short time, and the zone's abbreviation.
    ``"2026-11-02T09:00:05+00:00", "America/New_York", "en_US"`` ->
    ``"Nov 2, 2026, 4:00\u202fAM EST"``; ``"Europe/Berlin", "de_DE"`` ->
    ``"02.11.2026, 10:00 CET"``. None stays None; garbage is shown as is."""
    if value is None or value == "":
        return None
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(_zone(zone))
    language = _locale(locale)
    pattern = language.datetime_formats.get("medium") or "{1}, {0}"
    text = str(pattern).format(format_time(local, "short", locale=language),
                               format_date(local, "medium", locale=language))
    return f"{text} {local.tzname()}".strip()


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
    timezone: str | None = None,
    created_at: str | datetime | None = None,
) -> dict[str, Any]:
    """The template context of CONTRACT.md section 5, from a notice's ``variables`` map
    (raw decimals, as the deciders store them) and the account and tenant it is about.
    Amounts are formatted for the account's locale and currency, the notice's
    ``created_at`` for its locale and time zone."""
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
        "notice": {"type": notice_type,
                   "created_at": format_moment(created_at, timezone, locale)},
    }


def account_variables(
    values: Mapping[str, Any] | None,
    *,
    notice_type: str,
    reminder: int,
    settings: Mapping[str, Any],
    account: Any,
    created_at: str | datetime | None,
) -> dict[str, Any]:
    """``template_variables`` for a notice about ``account`` (an AccountItem) of the
    tenant with ``settings``: what send_notice renders and a preview shows."""
    return template_variables(
        values,
        notice_type=notice_type,
        reminder=reminder,
        tenant_name=settings.get("name"),
        account_id=account.account_id,
        account_name=account.name,
        account_email=account.email,
        locale=account.locale,
        currency=account.currency,
        timezone=account.timezone,
        created_at=created_at,
    )


def complete_context(variables: Mapping[str, Any]) -> dict[str, Any]:
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


def _generate(template: Template, context: Mapping[str, Any]) -> str:
    """Render with a fresh loop budget, stopping at MAX_OUTPUT characters."""
    token = _ITERATIONS_LEFT.set([MAX_ITERATIONS])
    try:
        chunks: list[str] = []
        length = 0
        for chunk in template.generate(context):
            length += len(chunk)
            if length > MAX_OUTPUT:
                raise _limit(f"renders more than {MAX_OUTPUT} characters")
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _ITERATIONS_LEFT.reset(token)


def render_part(part: str, source: str, context: Mapping[str, Any]) -> str:
    """One part of an email (``subject``, ``html`` or ``text``) rendered with a complete
    context; a subject is stripped and must be one line. Raises TemplateRenderError with
    the part and, where known, the line."""
    try:
        output = _generate(_compiled(part, source), context)
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


def render_template(template: Mapping[str, Any], variables: Mapping[str, Any]) -> RenderedEmail:
    """Render one email from a complete template document ``{"subject", "html", "text",
    "bcc"}``. Raises TemplateRenderError (permanent)."""
    context = complete_context(variables)
    return RenderedEmail(
        subject=render_part("subject", template["subject"], context),
        html=render_part("html", template["html"], context),
        text=render_part("text", template["text"], context),
        bcc=tuple(str(address).strip() for address in (template.get("bcc") or [])
                  if str(address).strip()),
    )
