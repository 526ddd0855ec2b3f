"""``/templates/{template_set}/{notice_type}/{audience}``: a tenant's notice emails.

A template set is named by customer classes (``template_set``, ``default`` unless a
class says otherwise). Each set may override the built-in template of any notice type
and audience; what is not overridden falls back to the built-in default.

- ``PUT``: store an override ``{"subject", "html", "text", "bcc"}`` after
  ``template_store.validate_template``: syntax errors, unsafe constructs (sandbox escapes),
  unknown variables and a subject that renders to more than one line are refused with
  422 and ``issues`` (field, line, message), so nothing fails later at send time.
- ``GET``: the override, else the built-in default (``source`` says which).
- ``DELETE``: remove the override (the default applies again); 404 when there was none.
- ``POST .../preview``: render with an account's real data (``account_id``) or with
  sample data, from an unsaved ``template``, the stored override or the default.

Writes: admin; reads and previews: admin, staff (enforced in ``auth``). Stored through
``adapters.config_store`` under ``template#<set>#<type>#<audience>``, which is what
SendNoticeFunction reads.

The template modules (``adapters.template_store``, ``rendering``, ``preview``) are
imported with the first template request, inside the routes: Jinja2 and Babel would add
a tenth to every API cold start, and only these routes render (docs/performance.md).
"""

from __future__ import annotations

from datetime import datetime, timezone
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import Field

from ..adapters import config_store
from ..domain.model import AUDIENCES, Profile
from ..domain.rules import NOTICE_TYPES, REGISTRY, rule_type_of
from . import accounts
from .auth import current_identity
from .errors import NotFound, error_response
from .responses import json_response
from .schemas import ID_PATTERN, Identifier, StrictModel

if TYPE_CHECKING:
    from ..adapters.template_store import TemplateIssue

router = Router()

TemplateSet = Annotated[
    str, Path(pattern=ID_PATTERN, description="Template set, as customer classes name it")
]
NoticeTypeName = Annotated[str, Path(description="One of the notice types")]
AudienceName = Annotated[str, Path(description="customer or staff")]


class PreviewIn(StrictModel):
    """POST .../preview. Without ``account_id``: sample data. Without ``template``: the
    stored override, else the built-in default."""

    account_id: Identifier | None = None
    template: dict[str, Any] | None = None
    reminder: Annotated[int, Field(ge=0, le=100)] = 0


# ------------------------------------------------------------------- helpers
def _check_kind(notice_type: str, audience: str) -> None:
    if notice_type not in NOTICE_TYPES:
        raise NotFound(f"unknown notice type {notice_type!r:.70}; "
                       f"one of {', '.join(NOTICE_TYPES)}")
    if audience not in AUDIENCES:
        raise NotFound(f"unknown audience {audience!r:.70}; one of {', '.join(AUDIENCES)}")


def _refused(issues: list[TemplateIssue]) -> Response[dict[str, Any]]:
    shown = "; ".join(str(issue) for issue in issues[:5])
    more = f" (and {len(issues) - 5} more)" if len(issues) > 5 else ""
    return error_response(
        HTTPStatus.UNPROCESSABLE_ENTITY, f"template refused: {shown}{more}",
        issues=[issue.to_dict() for issue in issues],
    )


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    """The override as stored and returned: the three parts and the BCC addresses."""
    return {
        "subject": doc["subject"],
        "html": doc["html"],
        "text": doc["text"],
        "bcc": [str(address).strip() for address in doc.get("bcc") or []],
    }


def _view(template_set: str, notice_type: str, audience: str, doc: dict[str, Any],
          source: str) -> dict[str, Any]:
    from ..adapters.rendering import COMMON_VARIABLES, TYPE_VARIABLES

    return {
        "template_set": template_set,
        "notice_type": notice_type,
        "audience": audience,
        "source": source,
        **_stored(doc),
        "available_variables": [*COMMON_VARIABLES, *TYPE_VARIABLES[notice_type]],
    }


def _current(tenant_id: str, template_set: str, notice_type: str,
             audience: str) -> tuple[dict[str, Any], str]:
    from ..adapters.template_store import default_template

    key = config_store.template_key(template_set, notice_type, audience)
    doc = config_store.get_doc(tenant_id, key)
    if doc is not None:
        return doc, "override"
    return default_template(notice_type, audience), "default"


# -------------------------------------------------------------------- routes
@router.put("/templates/<template_set>/<notice_type>/<audience>")
def put_template(
    template_set: TemplateSet,
    notice_type: NoticeTypeName,
    audience: AudienceName,
    template: Annotated[dict[str, Any], Body()],
) -> Response[dict[str, Any]]:
    from ..adapters.template_store import validate_template

    _check_kind(notice_type, audience)
    issues = validate_template(template, notice_type)
    if issues:
        return _refused(issues)
    doc = _stored(template)
    key = config_store.template_key(template_set, notice_type, audience)
    config_store.put_doc(current_identity().tenant_id, key, doc)
    return json_response(HTTPStatus.OK,
                         _view(template_set, notice_type, audience, doc, "override"))


@router.get("/templates/<template_set>/<notice_type>/<audience>")
def get_template(
    template_set: TemplateSet, notice_type: NoticeTypeName, audience: AudienceName
) -> dict[str, Any]:
    _check_kind(notice_type, audience)
    doc, source = _current(current_identity().tenant_id, template_set, notice_type, audience)
    return _view(template_set, notice_type, audience, doc, source)


@router.delete("/templates/<template_set>/<notice_type>/<audience>")
def delete_template(
    template_set: TemplateSet, notice_type: NoticeTypeName, audience: AudienceName
) -> dict[str, Any]:
    """Revert to the built-in default; returns what applies now."""
    from ..adapters.template_store import default_template

    _check_kind(notice_type, audience)
    key = config_store.template_key(template_set, notice_type, audience)
    if not config_store.delete_doc(current_identity().tenant_id, key):
        raise NotFound("no override to delete: the built-in default applies")
    default = default_template(notice_type, audience)
    return _view(template_set, notice_type, audience, default, "default")


@router.post("/templates/<template_set>/<notice_type>/<audience>/preview")
def preview_template(
    template_set: TemplateSet,
    notice_type: NoticeTypeName,
    audience: AudienceName,
    preview: Annotated[PreviewIn | None, Body()] = None,
) -> Response[dict[str, Any]]:
    """``{"subject", "html", "text", "bcc", "source", "variables"}``: the email as the
    account (or a sample account) would get it, and the variables it was rendered with."""
    from ..adapters.rendering import PARTS, TemplateRenderError
    from ..adapters.template_store import TemplateIssue, render, validate_template

    _check_kind(notice_type, audience)
    preview = preview or PreviewIn()
    tenant_id = current_identity().tenant_id
    if preview.template is not None:
        issues = validate_template(preview.template, notice_type)
        if issues:
            return _refused(issues)
        doc, source = preview.template, "request"
    else:
        doc, source = _current(tenant_id, template_set, notice_type, audience)
    tenant = config_store.load_tenant(tenant_id, fresh=True)
    if preview.account_id is not None:
        account = accounts.require_account(tenant_id, preview.account_id)
        variables = _account_variables(tenant, account, notice_type, preview.reminder)
    else:
        variables = _sample_variables(tenant, notice_type, preview.reminder)
    try:
        email = render(notice_type, audience, variables, doc)
    except TemplateRenderError as error:
        field, _, detail = str(error).partition(": ")
        part, _, line = field.partition(" line ")
        if part not in PARTS:
            part, detail = "subject", str(error)
        return _refused([TemplateIssue(part, int(line) if line.isdigit() else None, detail)])
    return json_response(HTTPStatus.OK, {
        "subject": email.subject,
        "html": email.html,
        "text": email.text,
        "bcc": list(email.bcc),
        "source": source,
        "variables": variables,
    })


# ------------------------------------------------------------------ preview data
def _sample_variables(tenant: config_store.TenantConfig, notice_type: str,
                      reminder: int) -> dict[str, Any]:
    """The sample data, spoken in the tenant's name and default currency."""
    from ..adapters.preview import sample_variables

    currency = str(tenant.settings.get("default_currency") or "USD")
    variables = sample_variables(notice_type, currency=currency, reminder=reminder)
    if tenant.settings.get("name"):
        variables["tenant"] = {"name": tenant.settings["name"]}
    return variables


def _account_variables(tenant: config_store.TenantConfig, account: Any, notice_type: str,
                       reminder: int) -> dict[str, Any]:
    """The account's real name, address, balance, currency, locale and time zone; what a
    notice of this type would add (threshold, days) from the account's profile where it
    says, else from the sample."""
    from ..adapters.preview import sample_values
    from ..adapters.rendering import TYPE_VARIABLES, account_variables

    values = sample_values(notice_type)
    values["currency"] = account.currency
    if "balance" in TYPE_VARIABLES[notice_type]:
        values["balance"] = format(account.balance or 0, "f")
    values.update(_profile_values(tenant.profile(account.profile_id), notice_type))
    return account_variables(
        values,
        notice_type=notice_type,
        reminder=reminder,
        settings=tenant.settings,
        account=account,
        created_at=datetime.now(timezone.utc),
    )


def _profile_values(profile: Profile | None, notice_type: str) -> dict[str, Any]:
    """What the account's profile says about this notice type, for a preview: the
    variables its rule type takes from the rule (its first rule of that type)."""
    rule_type = rule_type_of(notice_type)
    if profile is None or rule_type is None:
        return {}
    rules = profile.rules_of(rule_type)
    if not rules:
        return {}
    return REGISTRY[rule_type].rule_variables(rules[0], profile)
