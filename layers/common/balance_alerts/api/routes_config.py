"""``/settings``, ``/profiles`` and ``/classes``: per-tenant configuration documents.

Stored through ``adapters.config_store`` under ``settings``, ``profile#<id>`` and
``class#<id>``, as the validated JSON (decimals as strings, absent optionals omitted),
which is what the stream consumer and the scan read. Writes: admin; reads: admin, staff
(enforced in ``auth``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from ..adapters import accounts as account_store
from ..adapters import config_store
from .auth import current_identity
from .errors import NotFound
from .paging import DEFAULT_LIMIT, ListScope, take_page
from .params import ClassId, Cursor, Limit, ProfileId
from .responses import ClassOut, ProfileOut, ProfilesPage, SettingsOut, plain
from .schemas import ClassIn, ProfileIn, SettingsIn

router = Router()

SETTINGS_DEFAULTS: dict[str, Any] = SettingsIn().model_dump(mode="json")
PROFILE_DEFAULTS: dict[str, Any] = {
    "name": "", "reminder_every_hours": None, "max_reminders": 0, "rules": [],
}
CLASS_DEFAULTS: dict[str, Any] = {"name": None, "template_set": "default", "enabled": None}


def settings_view(doc: dict[str, Any] | None) -> SettingsOut:
    return SettingsOut.model_validate({**SETTINGS_DEFAULTS, **plain(doc or {})})


def profile_view(profile_id: str, doc: dict[str, Any]) -> ProfileOut:
    return ProfileOut.model_validate({"profile_id": profile_id, **PROFILE_DEFAULTS, **plain(doc)})


def class_view(class_id: str, doc: dict[str, Any]) -> ClassOut:
    return ClassOut.model_validate({"class_id": class_id, **CLASS_DEFAULTS, **plain(doc)})


# ------------------------------------------------------------------- settings
@router.put("/settings")
def put_settings(settings: Annotated[SettingsIn, Body()]) -> SettingsOut:
    doc = settings.model_dump(mode="json", exclude_none=True)
    tenant_id = current_identity().tenant_id
    before = config_store.get_doc(tenant_id, config_store.SETTINGS_KEY) or {}
    config_store.put_doc(tenant_id, config_store.SETTINGS_KEY, doc)
    default_profile = doc.get("default_profile_id")
    if default_profile and default_profile != before.get("default_profile_id"):
        _rewatch(tenant_id, default_profile)
    return settings_view(doc)


def _rewatch(tenant_id: str, profile_id: str) -> None:
    """The accounts using this profile may need the scan now, or no longer: ask the next
    scan to re-evaluate their ``watch`` (see scan.py)."""
    account_store.request_rewatch(
        tenant_id, profile_id, datetime.now(timezone.utc).isoformat()
    )


@router.get("/settings")
def get_settings() -> SettingsOut:
    """The tenant's settings; the defaults when none were stored yet."""
    doc = config_store.get_doc(current_identity().tenant_id, config_store.SETTINGS_KEY)
    return settings_view(doc)


# ------------------------------------------------------------------- profiles
@router.put("/profiles/<profile_id>")
def put_profile(profile_id: ProfileId, profile: Annotated[ProfileIn, Body()]) -> ProfileOut:
    doc = profile.to_doc()
    config_store.put_doc(
        current_identity().tenant_id, config_store.profile_key(profile_id), doc
    )
    _rewatch(current_identity().tenant_id, profile_id)
    return profile_view(profile_id, doc)


@router.get("/profiles/<profile_id>")
def get_profile(profile_id: ProfileId) -> ProfileOut:
    doc = config_store.get_doc(
        current_identity().tenant_id, config_store.profile_key(profile_id)
    )
    if doc is None:
        raise NotFound("no such profile")
    return profile_view(profile_id, doc)


@router.get("/profiles")
def list_profiles(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> ProfilesPage:
    """Profiles in id order. A tenant has few, so they are read with one Query and paged
    in memory."""
    tenant_id = current_identity().tenant_id
    scope = ListScope(tenant_id, "profiles", "", ("profile_id",))
    after = (scope.start(cursor) or {}).get("profile_id")
    prefix = config_store.profile_key("")
    docs = [
        (key[len(prefix):], doc)
        for key, doc in config_store.list_docs(tenant_id, prefix)
        if after is None or key[len(prefix):] > after
    ]
    result = take_page(iter(docs), limit, scope, lambda pair: {"profile_id": pair[0]})
    return ProfilesPage(
        profiles=[profile_view(profile_id, doc) for profile_id, doc in result.items],
        next_cursor=result.next_cursor,
    )


# -------------------------------------------------------------------- classes
@router.put("/classes/<class_id>")
def put_class(class_id: ClassId, customer_class: Annotated[ClassIn, Body()]) -> ClassOut:
    doc = customer_class.model_dump(mode="json", exclude_none=True)
    config_store.put_doc(current_identity().tenant_id, config_store.class_key(class_id), doc)
    return class_view(class_id, doc)


@router.get("/classes/<class_id>")
def get_class(class_id: ClassId) -> ClassOut:
    doc = config_store.get_doc(current_identity().tenant_id, config_store.class_key(class_id))
    if doc is None:
        raise NotFound("no such class")
    return class_view(class_id, doc)
