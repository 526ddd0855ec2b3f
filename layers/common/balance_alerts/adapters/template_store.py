"""Notice email templates: which one applies, and which a tenant may store.

The built-in defaults live in ``balance_alerts/templates/``, a ``.subject``, ``.html``
and ``.txt`` part per notice type and audience. Every HTML part ``{% extends %}`` its
audience's layout (``layout_customer.html``: greeting, balance card, sign-off;
``layout_staff.html``: the account's details), which extends the one ``layout.html``
(table layout, inline styles, preheader, footer), and fills in only the blocks that
differ. ``default_template`` resolves that inheritance when it loads a default, as
Jinja2 would, into a self-contained document: what the API returns for "the default"
is a valid override to start from, and the rendering sandbox needs no loader, so no
template can read another one or any file.

``render`` renders a tenant's override (a single document, stored by ``config_store``)
over the default, part by part. ``validate_template`` says why a document cannot be
stored: syntax errors, constructs the sandbox refuses, unknown variables, limits, and a
template that fails with the sample data of ``preview``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.filters import FILTERS as DEFAULT_FILTERS

from ..domain.model import AUDIENCES
from ..domain.rules import NOTICE_TYPES
from .preview import sample_variables
from .rendering import (
    ALLOWED_FILTERS,
    BOUNDLESS_METHODS,
    KNOWN_VARIABLES,
    NAMESPACES,
    PARTS,
    RenderedEmail,
    TemplateRenderError,
    complete_context,
    environment_for,
    render_part,
    render_template,
)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
#: A tag of Jinja2's template inheritance, with the whitespace that the environments'
#: ``lstrip_blocks`` (before a tag that starts its line) and ``trim_blocks`` (the newline
#: after it) take away with it.
_INHERITANCE_TAG = re.compile(
    r'(?:^[ \t]*)?\{%\s*(?:extends\s+"(?P<extends>[\w./-]+)"|block\s+(?P<block>\w+)'
    r"|endblock(?:\s+\w+)?)\s*%\}\n?",
    re.MULTILINE,
)

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
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
    nodes.ScopedEvalContextModifier: "autoescape",
    nodes.EvalContextModifier: "autoescape",
}


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


def reset_cache() -> None:
    """Forget the loaded defaults (a cold start)."""
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
    return {
        "subject": _read(f"{base}.subject").strip(),
        "html": _inherited(f"{base}.html"),
        "text": _read(f"{base}.txt"),
        "bcc": [],
    }


@dataclass(frozen=True)
class _Block:
    """A ``{% block %}`` of a built-in template: its name and what it holds."""

    name: str
    body: list[str | _Block]


def _inherited(name: str) -> str:
    """A built-in template with its ``{% extends %}`` chain resolved as Jinja2 resolves
    it: the text of the base layout, each block filled by the template furthest down
    the chain that defines it."""
    chain: list[list[str | _Block]] = []
    read: list[str] = []
    parent: str | None = name
    while parent is not None:
        if parent in read:
            raise ValueError(f"{name}: {{% extends %}} goes round in a circle")
        read.append(parent)
        parent, body = _parse(parent)
        chain.append(body)
    definitions: dict[str, list[str | _Block]] = {}
    for body in chain:
        for block in _blocks(body):
            definitions.setdefault(block.name, block.body)

    def text(body: list[str | _Block]) -> str:
        return "".join(part if isinstance(part, str) else text(definitions[part.name])
                       for part in body)

    return text(chain[-1])


def _parse(name: str) -> tuple[str | None, list[str | _Block]]:
    """A built-in template as the name it extends (None for the base layout) and its text
    and blocks."""
    source = _read(name)
    parent: str | None = None
    body: list[str | _Block] = []
    open_bodies = [body]
    position = 0
    for tag in _INHERITANCE_TAG.finditer(source):
        text = source[position:tag.start()]
        open_bodies[-1].append(text)
        position = tag.end()
        if tag["extends"]:
            if parent or len(body) > 1 or text.strip():
                raise ValueError(f"{name}: {{% extends %}} must come first, once")
            parent = tag["extends"]
        elif tag["block"]:
            block = _Block(tag["block"], [])
            open_bodies[-1].append(block)
            open_bodies.append(block.body)
        elif len(open_bodies) > 1:
            open_bodies.pop()
        else:
            raise ValueError(f"{name}: {{% endblock %}} without its block")
    open_bodies[-1].append(source[position:])
    if len(open_bodies) > 1:
        raise ValueError(f"{name}: a block is not closed")
    return parent, body


def _blocks(body: list[str | _Block]) -> Iterator[_Block]:
    for part in body:
        if isinstance(part, _Block):
            yield part
            yield from _blocks(part.body)


# -------------------------------------------------------------------------- render
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
    template = {part: doc.get(part) or default[part] for part in PARTS}
    template["bcc"] = doc.get("bcc") if override else default["bcc"]
    return render_template(template, variables)


# ------------------------------------------------------------------------ validate
def _check_ast(part: str, ast: nodes.Template) -> list[TemplateIssue]:
    issues: list[TemplateIssue] = []

    def refuse(node: nodes.Node, message: str) -> None:
        issues.append(TemplateIssue(part, getattr(node, "lineno", None), message))

    for node in ast.find_all(nodes.Filter):
        if node.name == "attr":
            refuse(node, "the attr filter is not allowed")
        elif node.name == "safe":
            refuse(node, "the safe filter is not allowed: values are always escaped in HTML")
        elif node.name in DEFAULT_FILTERS and node.name not in ALLOWED_FILTERS:
            refuse(node, f"the {node.name} filter is not allowed in email templates")
    try:
        undeclared = meta.find_undeclared_variables(ast)
    except TemplateSyntaxError as error:  # an unknown filter or test
        return issues or [TemplateIssue(part, error.lineno, error.message or "syntax error")]
    for name in sorted(undeclared - KNOWN_VARIABLES):
        first = next((n for n in ast.find_all(nodes.Name) if n.name == name), None)
        if name.startswith("_"):
            refuse(first or ast, f"unsafe name {name!r}")
        else:
            refuse(first or ast, f"unknown variable {name!r}")
    for node_type, label in _FORBIDDEN_NODES.items():
        for found in ast.find_all(node_type):
            refuse(found, f"{{% {label} %}} is not allowed in email templates")
    for loop in ast.find_all(nodes.For):
        if loop.recursive:
            refuse(loop, "recursive loops are not allowed in email templates")
    for attribute in ast.find_all(nodes.Getattr):
        if attribute.attr.startswith("_") or attribute.attr in _UNSAFE_ATTRIBUTES:
            refuse(attribute, f"unsafe attribute {attribute.attr!r}")
        elif attribute.attr in BOUNDLESS_METHODS:
            refuse(attribute, f"the string method {attribute.attr!r} is not allowed "
                         f"(use the {attribute.attr!r} filter where there is one)")
        elif (isinstance(attribute.node, nodes.Name) and attribute.node.name in NAMESPACES
              and attribute.node.name in undeclared
              and attribute.attr not in NAMESPACES[attribute.node.name]):
            refuse(attribute, f"unknown variable '{attribute.node.name}.{attribute.attr}'")
    for item in ast.find_all(nodes.Getitem):
        key = item.arg.value if isinstance(item.arg, nodes.Const) else None
        if isinstance(key, str) and (key.startswith("_") or key in _UNSAFE_ATTRIBUTES):
            refuse(item, f"unsafe attribute {key!r}")
        elif (isinstance(key, str) and isinstance(item.node, nodes.Name)
              and item.node.name in NAMESPACES and item.node.name in undeclared
              and key not in NAMESPACES[item.node.name]):
            refuse(item, f"unknown variable '{item.node.name}.{key}'")
        elif not isinstance(item.arg, (nodes.Const, nodes.Slice)):
            refuse(item, "computed attribute names are not allowed")
    for name_node in ast.find_all(nodes.Name):
        if name_node.name.startswith("_") and name_node.name not in undeclared:
            refuse(name_node, f"unsafe name {name_node.name!r}")
    return issues


def _validate_source(part: str, source: str) -> list[TemplateIssue]:
    env = environment_for(part)
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as error:
        return [TemplateIssue(part, error.lineno, error.message or "syntax error")]
    issues = sorted(_check_ast(part, ast), key=lambda issue: issue.line or 0)
    if issues:
        return issues
    try:
        env.compile(source)  # unknown filters and tests are found here
    except TemplateSyntaxError as error:
        return [TemplateIssue(part, error.lineno, error.message or "syntax error")]
    return []


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
        context = complete_context(sample_variables(kind))
        for part in PARTS:
            try:
                render_part(part, doc[part], context)
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
