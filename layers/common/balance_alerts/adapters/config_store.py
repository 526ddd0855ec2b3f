"""Per-tenant configuration documents in ConfigTable, with a warm-container cache.

Keys within a tenant's partition:
``settings`` · ``profile#<id>`` · ``class#<id>`` · ``template#<set>#<type>#<audience>``.
Readers (on_usage, periodic_scan, send_notice) load a tenant's whole partition with one
Query and keep it for ``CACHE_SECONDS``; writers (the API) go straight to the table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..domain.rules import RuleContext
from ..domain.model import AccountState, Profile
from ..domain.profiles import profile_from_dict
from .tables import ConfigItem

CACHE_SECONDS = 60.0

SETTINGS_KEY = "settings"


def profile_key(profile_id: str) -> str:
    return f"profile#{profile_id}"


def class_key(class_id: str) -> str:
    return f"class#{class_id}"


def template_key(template_set: str, notice_type: str, audience: str) -> str:
    return f"template#{template_set}#{notice_type}#{audience}"


@dataclass
class TenantConfig:
    tenant_id: str
    settings: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    templates: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def profile(self, profile_id: str | None) -> Profile | None:
        """The account's profile, else the tenant's default profile, else none."""
        chosen = profile_id or self.settings.get("default_profile_id")
        if not chosen or chosen not in self.profiles:
            return None
        return profile_from_dict(chosen, self.profiles[chosen])

    def class_id(self, customer_class: str | None) -> str | None:
        return customer_class or self.settings.get("default_class")

    def enabled_types(self, customer_class: str | None) -> frozenset[str] | None:
        """Notice types the class enables; None means every type."""
        doc = self.classes.get(self.class_id(customer_class) or "")
        if doc is None or doc.get("enabled") is None:
            return None
        return frozenset(doc["enabled"])

    def context(self, state: AccountState) -> RuleContext:
        """What the rules need besides the account: its profile, its class's enabled
        notice types, and how the tenant tracks packages."""
        class_id = self.class_id(state.customer_class)
        return RuleContext(
            profile=self.profile(state.profile_id),
            enabled_types=self.enabled_types(class_id),
            class_id=class_id,
            track_packages_by=str(self.settings.get("track_packages_by") or "account"),
        )

    def template_set(self, customer_class: str | None) -> str:
        doc = self.classes.get(self.class_id(customer_class) or "") or {}
        return str(doc.get("template_set") or "default")

    def template(self, template_set: str, notice_type: str, audience: str) -> dict | None:
        return self.templates.get((template_set, notice_type, audience))


_cache: dict[str, tuple[float, TenantConfig]] = {}


def reset_cache() -> None:
    _cache.clear()


def load_tenant(tenant_id: str, *, fresh: bool = False) -> TenantConfig:
    """All of a tenant's configuration, from one Query, cached across warm invocations."""
    now = time.monotonic()
    cached = _cache.get(tenant_id)
    if cached and not fresh and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    config = TenantConfig(tenant_id=tenant_id)
    for item in ConfigItem.query(tenant_id):
        key, doc = item.config_key, item.doc or {}
        if key == SETTINGS_KEY:
            config.settings = doc
        elif key.startswith("profile#"):
            config.profiles[key.split("#", 1)[1]] = doc
        elif key.startswith("class#"):
            config.classes[key.split("#", 1)[1]] = doc
        elif key.startswith("template#"):
            _, template_set, notice_type, audience = key.split("#", 3)
            config.templates[(template_set, notice_type, audience)] = doc
    _cache[tenant_id] = (now, config)
    return config


def get_doc(tenant_id: str, key: str) -> dict[str, Any] | None:
    try:
        return ConfigItem.get(tenant_id, key).doc
    except ConfigItem.DoesNotExist:
        return None


def put_doc(tenant_id: str, key: str, doc: dict[str, Any]) -> None:
    ConfigItem(
        tenant_id, key, doc=doc, updated_at=datetime.now(timezone.utc).isoformat()
    ).save()
    _cache.pop(tenant_id, None)


def delete_doc(tenant_id: str, key: str) -> bool:
    """Delete a document; False when there was none."""
    try:
        ConfigItem.get(tenant_id, key).delete()
    except ConfigItem.DoesNotExist:
        return False
    _cache.pop(tenant_id, None)
    return True


def list_docs(tenant_id: str, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (item.config_key, item.doc or {})
        for item in ConfigItem.query(tenant_id, ConfigItem.config_key.startswith(prefix))
    ]
