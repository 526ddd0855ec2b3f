"""``explain``: why was - or wasn't - this customer notified?

Reads one account (consistent reads), its tenant's configuration, its notices and its
ledger entries, and says in plain sentences what the rules see: eligibility (status,
billing), the profile and class in force, each rule's latch (episode, notified,
reminders, forecast marks) against the balance now, whether the scan watches it, every
notice with its status and reason, entries rejected and entries not applied yet.
Nothing is written. Addresses are masked unless ``show_addresses``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from .stack import Stack


def _mask(address: str | None) -> str | None:
    if not address or "@" not in address:
        return address
    local, domain = address.split("@", 1)
    return f"{local[:1]}***@{domain}"


def explain(stack: Stack, tenant_id: str, account_id: str, *, now: datetime | None = None,
            show_addresses: bool = False) -> dict[str, Any]:
    stack.apply_env()
    from balance_alerts.adapters import accounts, config_store
    from balance_alerts.adapters.tables import AccountItem, NoticeItem, account_key
    from balance_alerts.domain.rules.runs_out import days_left
    from balance_alerts.domain.ledger import APPLIED_RETENTION
    from balance_alerts.domain.watch import needs_watch

    now = now or datetime.now(timezone.utc)
    mask = (lambda a: a) if show_addresses else _mask
    report: dict[str, Any] = {"tenant_id": tenant_id, "account_id": account_id, "why": []}
    why: list[str] = report["why"]
    try:
        item = AccountItem.get(tenant_id, account_id, consistent_read=True)
    except AccountItem.DoesNotExist:
        why.append("The account does not exist: entries for it are rejected "
                   "('account does not exist') and no notice can be created.")
        report["rejected_entries"] = [e for e in _ledger(stack, tenant_id, account_id)
                                      if e["reason"]]
        return report
    state = accounts.state_of(item)
    tenant = config_store.load_tenant(tenant_id, fresh=True)
    profile = tenant.profile(state.profile_id)
    class_id = tenant.class_id(state.customer_class)
    enabled = tenant.enabled_types(class_id)
    report["account"] = {
        "status": state.status, "billing": state.billing, "currency": state.currency,
        "balance": format(state.balance, "f"), "version": state.version,
        "email": mask(item.email), "extra_emails": [mask(a) for a in item.extra_emails or []],
        "last_charge_at": state.last_charge_at, "created_at": state.created_at,
        "watch": item.watch,
    }
    # ---------------------------------------------------------------- eligibility
    if state.status != "active":
        why.append(f"No notices at all: the account's status is {state.status!r} "
                   "(only 'active' accounts are notified).")
    elif state.billing != "prepaid":
        why.append("No money notices (balance_below, runs_out, inactive): the account is "
                   "post-paid; package notices still apply.")
    if not item.email and not item.extra_emails:
        why.append("The account has no email address: customer emails cannot be sent "
                   "(a customer-only notice fails with 'no recipients').")
    if not tenant.settings:
        why.append("The tenant has no settings (no from_email): no email can be sent.")
    elif not (tenant.settings.get("staff_emails")):
        why.append("The tenant has no staff_emails: staff versions go to rule "
                   "staff_emails only.")
    # ---------------------------------------------------------------- profile
    chosen = state.profile_id or tenant.settings.get("default_profile_id")
    report["profile"] = {"id": chosen,
                         "source": "account" if state.profile_id else "tenant default"}
    if profile is None:
        why.append(f"No alert profile applies (profile {chosen!r} "
                   f"{'is not defined' if chosen else 'is not set on the account or the tenant'}): "
                   "no rule can fire.")
    else:
        report["profile"].update(reminder_every_hours=profile.reminder_every_hours,
                                 max_reminders=profile.max_reminders)
    report["class"] = {"id": class_id, "template_set": tenant.template_set(class_id),
                       "enabled": sorted(enabled) if enabled is not None else "all"}
    if enabled is not None:
        why.append(f"Class {class_id!r} enables only {sorted(enabled)}: notices of other "
                   "types are recorded as 'suppressed' and not emailed.")
    # ---------------------------------------------------------------- rules
    report["rules"] = []
    for rule in profile.rules if profile else ():
        latch = state.latches.get(rule.id)
        entry: dict[str, Any] = {"id": rule.id, "type": rule.type,
                                 "latch": latch.to_dict() if latch else None}
        report["rules"].append(entry)
        entry["now"] = _rule_now(rule, latch, state, profile, now, days_left)
        why.append(f"Rule {rule.id} ({rule.type}): {entry['now']}")
    watched = needs_watch(state, profile, now) if profile else False
    report["watch"] = {"shard": item.watch, "needed_now": watched}
    why.append("The periodic scan reads this account (watch shard "
               f"{item.watch})." if item.watch is not None else
               "The periodic scan does not read this account (not watched): no reminder, "
               "forecast or inactivity notice is due for it as of its last update.")
    # ---------------------------------------------------------------- notices
    notices = sorted(NoticeItem.query(account_key(tenant_id, account_id)),
                     key=lambda n: n.created_seq, reverse=True)
    raw = {i["notice_key"]["S"]: i for i in _raw_notices(stack, tenant_id, account_id)}
    report["notices"] = []
    for notice in notices:
        extra = raw.get(notice.notice_key, {})
        report["notices"].append({
            "notice_key": notice.notice_key, "type": notice.type, "status": notice.status,
            "reason": notice.reason, "created_at": notice.created_at,
            "sent_at": notice.sent_at, "attempts": int(notice.attempts or 0),
            "delivered": sorted((notice.delivered or {}).keys()),
            "audiences": list(notice.audiences or []),
            "redrives": int(extra.get("redrives", {}).get("N", 0)),
            "redrive_reason": extra.get("redrive_reason", {}).get("S"),
        })
        if notice.status == "failed":
            why.append(f"Notice {notice.notice_key} ({notice.type}) failed: {notice.reason}. "
                       "Once the cause is fixed: python -m ops redrive --tenant "
                       f"{tenant_id} --account {account_id}")
        elif notice.status == "pending":
            why.append(f"Notice {notice.notice_key} ({notice.type}) is pending since "
                       f"{notice.created_at} (attempts {notice.attempts}): send_notice has "
                       "not finished it - check the SendNotice alarms and queue.")
        elif notice.status == "suppressed":
            why.append(f"Notice {notice.notice_key} ({notice.type}) was suppressed: "
                       f"{notice.reason}")
    if not notices:
        why.append("No notice was ever created for this account.")
    # ---------------------------------------------------------------- ledger
    ledger = _ledger(stack, tenant_id, account_id)
    report["rejected_entries"] = [entry for entry in ledger if entry["reason"]]
    for rejected in report["rejected_entries"]:
        why.append(f"Entry {rejected['entry_id']} was rejected: {rejected['reason']}")
    horizon = (now - APPLIED_RETENTION + timedelta(hours=1)).isoformat()
    waiting = [entry["entry_id"] for entry in ledger
               if not entry["reason"] and entry["entry_id"] not in state.applied
               and (entry["recorded_at"] or "") > horizon]
    report["not_applied"] = waiting
    if waiting:
        why.append(f"{len(waiting)} recent entries are recorded but not applied yet "
                   f"({', '.join(waiting[:5])}{'...' if len(waiting) > 5 else ''}): the "
                   "ledger stream is behind or their batch failed - check IteratorAge and "
                   "the OnUsage failure queue (python -m ops replay --queue on-usage).")
    return report


def _rule_now(rule: Any, latch: Any, state: Any, profile: Any, now: datetime,
              days_left: Any) -> str:
    episode = f"episode {latch.episode}" if latch else "no episode yet"
    if rule.type in ("balance_below", "inactive"):
        threshold = rule.threshold if rule.threshold is not None else Decimal(0)
        below = state.balance < threshold
        where = (f"balance {format(state.balance, 'f')} is "
                 f"{'below' if below else 'at or above'} {format(threshold, 'f')}")
        if latch and latch.open:
            sent = "notified" if latch.notified else (
                "not notified (a lower level was notified for the same change)"
                if rule.type == "balance_below" else "not notified")
            reminders = (f"reminders {latch.reminders}/{profile.max_reminders}"
                         if profile.reminder_every_hours and profile.max_reminders
                         else "no reminders configured")
            nxt = ""
            if (profile.reminder_every_hours and latch.notified and latch.last_notice_at
                    and latch.reminders < profile.max_reminders):
                due = datetime.fromisoformat(latch.last_notice_at) + timedelta(
                    hours=profile.reminder_every_hours)
                nxt = f", next reminder due at the first scan after {due.isoformat()}"
            return f"{where}; {episode} open, {sent}, {reminders}{nxt}."
        if rule.type == "inactive":
            return f"{where}; {episode}, closed (due only after {rule.inactive_days} days " \
                   f"without a charge while below the threshold; last charge " \
                   f"{state.last_charge_at or 'never'})."
        return f"{where}; {episode}, closed."
    if rule.type == "runs_out":
        left = days_left(state, now)
        marks = latch.marks if latch else []
        forecast = (f"{left} days left" if left is not None else
                    "no forecast yet (it needs a first charge 3+ days back and spend in "
                    "the last 14 days)")
        return f"{forecast}; marks sent and not re-armed: {marks or 'none'}."
    return f"{episode}; evaluated per package item."


def _ledger(stack: Stack, tenant_id: str, account_id: str) -> list[dict[str, Any]]:
    """The account's ledger items, read raw: a poison record (a bad type, a missing
    field) must show up here too, with what can be read of it."""
    return [{
        "entry_id": _text(item.get("entry_id")), "kind": _text(item.get("kind")),
        "amount": _text(item.get("amount")),
        "recorded_at": _text(item.get("recorded_at")),
        "reason": _text(item.get("rejected_reason")),
    } for item in stack.query_all(
        TableName=stack.tables["LedgerTable"],
        KeyConditionExpression="account_key = :k",
        ExpressionAttributeValues={":k": {"S": f"{tenant_id}#{account_id}"}},
    )]


def _text(value: dict[str, Any] | None) -> str | None:
    """Any scalar attribute value as text (S or N), else None."""
    if not isinstance(value, dict):
        return None
    for kind in ("S", "N"):
        if isinstance(value.get(kind), str):
            return value[kind]
    return None


def _raw_notices(stack: Stack, tenant_id: str, account_id: str) -> list[dict[str, Any]]:
    return stack.query_all(
        TableName=stack.tables["NoticesTable"],
        KeyConditionExpression="account_key = :k",
        ExpressionAttributeValues={":k": {"S": f"{tenant_id}#{account_id}"}},
        ProjectionExpression="notice_key, redrives, redrive_reason",
    )


def render(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    lines = [f"account {report['tenant_id']}/{report['account_id']}"]
    account = report.get("account")
    if account:
        lines.append(f"  status {account['status']}, billing {account['billing']}, balance "
                     f"{account['balance']} {account['currency']}, version {account['version']}")
        lines.append(f"  email {account['email']}, extra {account['extra_emails']}")
    if "profile" in report:
        profile = report["profile"]
        lines.append(f"  profile {profile['id']} ({profile['source']}), class "
                     f"{report['class']['id']} (template set {report['class']['template_set']},"
                     f" enabled {report['class']['enabled']})")
    lines.append("why:")
    lines += [f"  - {sentence}" for sentence in report["why"]]
    if report.get("notices"):
        lines.append("notices (newest first):")
        for n in report["notices"]:
            lines.append(f"  {n['notice_key']:<28} {n['type']:<18} {n['status']:<10} "
                         f"created {n['created_at']} sent {n['sent_at'] or '-'} "
                         f"attempts {n['attempts']}"
                         + (f" reason: {n['reason']}" if n["reason"] else "")
                         + (f" (re-driven {n['redrives']}x after: {n['redrive_reason']})"
                            if n["redrives"] else ""))
    return "\n".join(lines)
