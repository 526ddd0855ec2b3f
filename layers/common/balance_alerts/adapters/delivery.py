"""Delivery of notices: recipients, SES v2 sending with error classification, and the
EventBridge event of each notice. SendNoticeFunction calls ``deliver_notice`` once per
NoticesTable INSERT record.

What a record leads to, always decided on the notice item as it is now (a consistent
read; a redelivered record finds the outcome of the first delivery there):

``pending``
    one email per audience with recipients (SES v2, HTML and text parts, template BCC,
    the configuration set, ``List-Unsubscribe`` on customer emails when the tenant set
    ``unsubscribe``), then one conditional update (``status = pending``) to ``sent`` (at
    least one audience delivered; a permanent failure of another is added to
    ``reason``) or ``failed`` (none: permanent SES error, every recipient on the SES
    suppression list, template error, no recipients, account gone), then the event.
``sent`` / ``failed`` / ``suppressed``
    nothing is sent; the event is published if it was not yet published for that status.

Progress across retries. ``delivered`` on the notice item maps audience -> SES message
id. A transient failure (throttling, 5xx, network) records what was delivered so far,
with ``attempts + 1``, *before* raising ``RetryLater``; the retry skips the audiences
already in ``delivered``. So the only duplicate email possible is one SES accepted
just before the process died, as DESIGN.md allows. ``published`` holds the status for
which the event went out, so each status decision is published once (at least once if
the process dies between the two writes).

Suppressed recipients. SES accepts a message to an address on the account-level
suppression list and drops it later (a bounce event), so the notice would read ``sent``.
Before sending, each To address is looked up with ``GetSuppressedDestination``
(``SES_CHECK_SUPPRESSION``, on by default; answers cached per warm container for
``SUPPRESSION_CACHE_SECONDS``): listed addresses are left out, and an audience whose
every address is listed fails with the SES reason (``BOUNCE`` / ``COMPLAINT``), never
retried. The check is advisory: throttling retries the record like a send would, any
other problem with it (no permission, an emulator without the operation) lets the email
go out unchecked.

Nothing here logs an email address or a name: reasons taken from SES error messages
are masked before they are stored, logged or published.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from email.utils import formataddr, parseaddr
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import UpdateError

from ..domain.model import AUDIENCES
from ..observability import logger, mask_emails, metrics
from . import config_store, session
from .settings import region
from .tables import AccountItem, NoticeItem

if TYPE_CHECKING:
    from .rendering import RenderedEmail

EVENT_SOURCE = "balance-alerts"
EVENT_BUS_NAME = os.environ.get("EVENT_BUS_NAME", "").strip() or "default"
CONFIGURATION_SET = os.environ.get("SES_CONFIGURATION_SET", "").strip()
CHECK_SUPPRESSION = os.environ.get("SES_CHECK_SUPPRESSION", "true").strip().lower() not in (
    "false", "no", "0", "off")
SUPPRESSION_CACHE_SECONDS = 300.0

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10
)


# botocore clients (boto3 adds nothing they need, and its import alone is a tenth of the
# cold start) from the session the tables share, made on first use as pynamodb makes the
# tables' (docs/performance.md measures the cold start with and without them).
@cache
def ses() -> Any:
    """The container's SES v2 client."""
    return session.botocore_session().create_client(
        "sesv2", region_name=region(), config=_CLIENT_CONFIG)


@cache
def events() -> Any:
    """The container's EventBridge client."""
    return session.botocore_session().create_client(
        "events", region_name=region(), config=_CLIENT_CONFIG)

PENDING, SENT, FAILED = "pending", "sent", "failed"

#: SES v2 SendEmail errors that retrying the same request cannot fix.
PERMANENT_SES_ERRORS = frozenset({
    "MessageRejected",
    "MailFromDomainNotVerifiedException",
    "AccountSuspendedException",
    "SendingPausedException",
    "NotFoundException",
    "BadRequestException",
    "InvalidParameterValue",  # what moto (and SES v1) call a bad request
})
#: Errors that go away: throttling and quotas per second, and the server side.
TRANSIENT_ERRORS = frozenset({
    "TooManyRequestsException",
    "LimitExceededException",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
})
#: Configuration problems an operator fixes; the record waits (bounded retries, then the
#: on-failure queue) instead of failing every notice.
OPERATOR_ERRORS = frozenset({
    "AccessDenied", "AccessDeniedException", "ExpiredToken", "ExpiredTokenException",
    "UnrecognizedClientException", "InvalidClientTokenId", "RequestExpired",
})


class RetryLater(Exception):
    """A transient failure: the record is reported in ``batchItemFailures`` and Lambda
    retries from it."""


class PermanentFailure(Exception):
    """A failure retrying cannot fix: the notice is marked failed with this reason."""


def reset_cache() -> None:
    """Forget the suppression answers cached in this container (a cold start)."""
    _suppression_cache.clear()


# ---------------------------------------------------------------- errors
def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def is_transient(error: BaseException) -> bool:
    """Throttling, 5xx, network and credential problems are transient; every other
    client error (a 4xx) is permanent."""
    if not isinstance(error, ClientError):
        return isinstance(error, BotoCoreError)
    code = error_code(error)
    if code in PERMANENT_SES_ERRORS:
        return False
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return code in TRANSIENT_ERRORS or code in OPERATOR_ERRORS or status >= 500


def describe(error: BaseException, *, hide: Iterable[str] = ()) -> str:
    """``Code: message`` with email addresses masked (SES names identities in messages),
    and the strings in ``hide`` (a sender with its display name) masked first."""
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message") or "")
    else:
        message = str(error)
    for secret in sorted((s for s in hide if s), key=len, reverse=True):
        message = message.replace(secret, "***@***")
    text = f"{error_code(error)}: {message}".strip().rstrip(":")
    return mask_emails(text)[:500]


# ------------------------------------------------------------ recipients
def unique_addresses(*groups: Iterable[Any] | None) -> list[str]:
    """Addresses in order of first appearance, without blanks or case-insensitive repeats."""
    seen: set[str] = set()
    result: list[str] = []
    for group in groups:
        for value in group or ():
            address = str(value).strip() if isinstance(value, str) else ""
            if address and address.lower() not in seen:
                seen.add(address.lower())
                result.append(address)
    return result


def recipients(audience: str, account: AccountItem, settings: Mapping[str, Any],
               variables: Mapping[str, Any]) -> list[str]:
    """customer: account email, extra_emails and the rule's cc_emails;
    staff: the tenant's staff_emails and the rule's staff_emails."""
    rule = variables.get("rule") or {}
    if not isinstance(rule, Mapping):
        rule = {}
    if audience == "customer":
        return unique_addresses([account.email], account.extra_emails, rule.get("cc_emails"))
    if audience == "staff":
        return unique_addresses(settings.get("staff_emails"), rule.get("staff_emails"))
    return []


def sender(settings: Mapping[str, Any]) -> str:
    """The tenant's from_email, with the tenant's name as display name."""
    display, address = parseaddr(str(settings.get("from_email") or ""))
    if not address or "@" not in address:
        raise PermanentFailure("tenant settings have no from_email")
    name = str(settings.get("name") or display or "").strip()
    return formataddr((name, address), charset="utf-8") if name else address


_UNSUBSCRIBE = re.compile(r"^(mailto:[^@\s<>,]+@[^@\s<>,]+|https://[^\s<>,]+)$", re.IGNORECASE)


def list_unsubscribe(settings: Mapping[str, Any]) -> str | None:
    """The ``List-Unsubscribe`` header value (RFC 2369) from the tenant's ``unsubscribe``
    setting, a ``mailto:`` address or an ``https://`` URL: ``<mailto:...>``. None when
    unset or unusable (the API validates it; this only refuses what would break the
    header)."""
    value = str(settings.get("unsubscribe") or "").strip()
    if not value or len(value) > 500 or not _UNSUBSCRIBE.match(value):
        return None
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        return None
    return f"<{value}>"


# ------------------------------------------------------------- suppression
_suppression_cache: dict[str, tuple[float, str | None]] = {}


def suppression(address: str) -> str | None:
    """Why SES would drop mail to ``address`` (``BOUNCE`` / ``COMPLAINT`` from the
    account-level suppression list), or None. Raises ClientError/BotoCoreError only when
    transient; any other failure of the look-up counts as "not listed"."""
    key = address.strip().lower()
    now = time.monotonic()
    cached = _suppression_cache.get(key)
    if cached and now - cached[0] < SUPPRESSION_CACHE_SECONDS:
        return cached[1]
    reason: str | None = None
    try:
        found = ses().get_suppressed_destination(EmailAddress=address)
        reason = str((found.get("SuppressedDestination") or {}).get("Reason") or "listed")
    except ClientError as error:
        code = error_code(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in TRANSIENT_ERRORS or status >= 500:
            raise
        if code != "NotFoundException":  # NotFound: not listed, the usual answer
            logger.warning("suppression list look-up failed; sending unchecked",
                           extra={"error_code": code})
    except NotImplementedError:  # an emulator (moto) without the operation
        pass
    if len(_suppression_cache) > 5_000:
        _suppression_cache.clear()
    _suppression_cache[key] = (now, reason)
    return reason


def deliverable(addresses: list[str]) -> tuple[list[str], list[str]]:
    """(the addresses SES will deliver to, the suppression reasons of the others)."""
    if not CHECK_SUPPRESSION:
        return list(addresses), []
    keep: list[str] = []
    reasons: list[str] = []
    for address in addresses:
        reason = suppression(address)
        if reason is None:
            keep.append(address)
        else:
            reasons.append(reason)
    return keep, reasons


def suppressed_reason(reasons: list[str], *, total: int) -> str:
    """``recipient on the SES suppression list (BOUNCE)``; ``2 of 3 recipients ...``."""
    kinds = ", ".join(dict.fromkeys(reasons))
    if len(reasons) == 1 and total == 1:
        who = "recipient"
    elif len(reasons) == total:
        who = f"{len(reasons)} recipients"
    else:
        who = f"{len(reasons)} of {total} recipients"
    return f"{who} on the SES suppression list ({kinds})"


# ----------------------------------------------------------------- compose
@dataclass
class Message:
    audience: str
    to: list[str]
    email: RenderedEmail
    unsubscribe: str | None = None  # the List-Unsubscribe header value


@dataclass
class Plan:
    """What a pending notice becomes: the messages to send and the audiences that
    cannot be served (audience -> reason)."""

    source: str
    messages: list[Message] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str | None:
        subjects = {m.audience: m.email.subject for m in self.messages}
        return subjects.get("customer") or subjects.get("staff")


def _audiences(notice: NoticeItem) -> list[str]:
    wanted = set(notice.audiences or [])
    return [audience for audience in AUDIENCES if audience in wanted]


def compose(notice: NoticeItem) -> Plan:
    """Render the notice for each of its audiences that has recipients.
    Raises PermanentFailure when nothing can be sent at all."""
    # Jinja2 and Babel load here, on the first notice that renders: a container that
    # only publishes (suppressed notices, redelivered records) never loads them.
    from . import rendering, template_store
    try:
        account = AccountItem.get(notice.tenant_id, notice.account_id)
    except AccountItem.DoesNotExist:
        raise PermanentFailure("account not found") from None
    tenant = config_store.load_tenant(notice.tenant_id)
    plan = Plan(source=sender(tenant.settings))
    unsubscribe = list_unsubscribe(tenant.settings)
    values = notice.variables or {}
    template_set = tenant.template_set(account.customer_class)
    context = rendering.account_variables(
        values,
        notice_type=notice.type,
        reminder=int(notice.reminder or 0),
        settings=tenant.settings,
        account=account,
        created_at=notice.created_at,
    )
    for audience in _audiences(notice):
        to = recipients(audience, account, tenant.settings, values)
        if not to:
            continue
        override = tenant.template(template_set, notice.type, audience)
        try:
            email = template_store.render(notice.type, audience, context, override)
        except (rendering.TemplateRenderError, KeyError) as error:
            plan.failures[audience] = f"template {template_set}/{notice.type}/{audience}: " + (
                str(error) if isinstance(error, rendering.TemplateRenderError)
                else "unknown notice type")
            continue
        plan.messages.append(Message(audience, to, email,
                                     unsubscribe if audience == "customer" else None))
    if not plan.messages and not plan.failures:
        raise PermanentFailure("no recipients")
    return plan


# -------------------------------------------------------------------- SES
def _tag(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", value)[:256] or "none"


def send_email(source: str, message: Message, notice: NoticeItem) -> str:
    """One SendEmail call; returns SES's message id. Raises ClientError/BotoCoreError."""
    email = message.email
    taken = {address.lower() for address in message.to}
    bcc = [address for address in unique_addresses(email.bcc) if address.lower() not in taken]
    destination: dict[str, list[str]] = {"ToAddresses": message.to}
    if bcc:
        destination["BccAddresses"] = bcc
    # RFC 3834: automated mail; out-of-office replies are not sent back.
    headers = [{"Name": "Auto-Submitted", "Value": "auto-generated"}]
    if message.unsubscribe:
        headers.append({"Name": "List-Unsubscribe", "Value": message.unsubscribe})
    request: dict[str, Any] = {
        "FromEmailAddress": source,
        "Destination": destination,
        "Content": {
            "Simple": {
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {
                    "Html": {"Data": email.html, "Charset": "UTF-8"},
                    "Text": {"Data": email.text, "Charset": "UTF-8"},
                },
                "Headers": headers,
            }
        },
        "EmailTags": [
            {"Name": "notice_type", "Value": _tag(notice.type)},
            {"Name": "audience", "Value": _tag(message.audience)},
            {"Name": "tenant_id", "Value": _tag(notice.tenant_id)},
        ],
    }
    if CONFIGURATION_SET:
        request["ConfigurationSetName"] = CONFIGURATION_SET
    return str(ses().send_email(**request)["MessageId"])


# ------------------------------------------------------------------ notice
def _log_keys(notice: NoticeItem) -> dict[str, Any]:
    return {
        "notice_id": notice.notice_key,
        "tenant_id": notice.tenant_id,
        "account_id": notice.account_id,
        "notice_type": notice.type,
        "status": notice.status,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _is_condition_failure(error: UpdateError) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def deliver_notice(account_key: str, notice_key: str) -> None:
    """Send a pending notice and publish its event; see the module docstring."""
    try:
        notice = NoticeItem.get(account_key, notice_key, consistent_read=True)
    except NoticeItem.DoesNotExist:
        logger.warning("notice not found; skipped", extra={"notice_id": notice_key})
        return
    if notice.status == PENDING:
        _deliver_pending(notice)
    if notice.status != PENDING and notice.published != notice.status:
        publish(notice)
    elif notice.status != PENDING:
        logger.info("notice already handled; skipped", extra=_log_keys(notice))


def _deliver_pending(notice: NoticeItem) -> None:
    try:
        plan = compose(notice)
    except PermanentFailure as failure:
        earlier = dict(notice.delivered or {})
        _conclude(notice, None, earlier, {"other audiences" if earlier else "all": str(failure)})
        return
    delivered: dict[str, str] = dict(notice.delivered or {})
    failures = dict(plan.failures)
    notes: dict[str, str] = {}
    for message in plan.messages:
        if message.audience in delivered:
            continue  # sent by an earlier attempt
        try:
            to, suppressed = deliverable(message.to)
            if suppressed:
                metrics.add_metric(name="RecipientsSuppressed", unit=MetricUnit.Count,
                                   value=len(suppressed))
                reason = suppressed_reason(suppressed, total=len(message.to))
                if not to:
                    failures[message.audience] = reason
                    continue
                notes[message.audience] = reason
                message.to = to
            delivered[message.audience] = send_email(plan.source, message, notice)
            metrics.add_metric(name="EmailsSent", unit=MetricUnit.Count, value=1)
        except (ClientError, BotoCoreError) as error:
            reason = describe(error, hide=[plan.source])
            if not is_transient(error):
                failures[message.audience] = reason
                continue
            _save_progress(notice, delivered)
            raise RetryLater(f"{message.audience}: {reason}") from None
        except Exception:
            _save_progress(notice, delivered)
            raise
    _conclude(notice, plan, delivered, failures, notes)


def _save_progress(notice: NoticeItem, delivered: dict[str, str]) -> None:
    """Before a retry: what was delivered so far, and one more attempt."""
    actions: list[Any] = [NoticeItem.attempts.add(1)]
    if delivered:
        actions += [
            NoticeItem.delivered.set(delivered),
            NoticeItem.message_ids.set([delivered[a] for a in AUDIENCES if a in delivered]),
        ]
    try:
        notice.update(actions=actions, condition=NoticeItem.status == PENDING)
    except Exception:  # noqa: BLE001 - the caller raises the original failure anyway
        logger.exception("could not record delivery progress", extra=_log_keys(notice))


def _failure_reason(failures: Mapping[str, str]) -> str:
    reasons = list(dict.fromkeys(failures.values()))
    if len(reasons) == 1:
        return reasons[0]
    return "; ".join(f"{audience}: {reason}" for audience, reason in failures.items())


def _conclude(notice: NoticeItem, plan: Plan | None, delivered: dict[str, str],
              failures: dict[str, str], notes: Mapping[str, str] | None = None) -> None:
    """The status decision: ``sent`` when any audience got its email, else ``failed``.
    ``notes`` (audience -> what was left out, such as suppressed recipients) join the
    reason of a sent notice."""
    sent_to = [audience for audience in AUDIENCES if audience in delivered]
    actions: list[Any] = [NoticeItem.attempts.add(1)]
    if sent_to:
        status = SENT
        subjects = {m.audience: m.email.subject for m in plan.messages} if plan else {}
        subject = next((subjects[a] for a in sent_to if a in subjects), None)
        actions += [
            NoticeItem.sent_at.set(_now()),
            NoticeItem.delivered.set(delivered),
            NoticeItem.message_ids.set([delivered[a] for a in sent_to]),
        ]
        remarks = [f"{a} not sent: {r}" for a, r in failures.items()]
        remarks += [f"{a}: {r}" for a, r in (notes or {}).items() if a in delivered]
        if remarks:
            missed = "; ".join(remarks)
            reason = f"{notice.reason}; {missed}" if notice.reason else missed
            actions.append(NoticeItem.reason.set(reason[:1000]))
    else:
        status = FAILED
        subject = plan.subject if plan else None
        actions.append(NoticeItem.reason.set(_failure_reason(failures)[:1000]))
    actions.append(NoticeItem.status.set(status))
    if subject:
        actions.append(NoticeItem.subject.set(subject))
    try:
        notice.update(actions=actions, condition=NoticeItem.status == PENDING)
    except UpdateError as error:
        if not _is_condition_failure(error):
            _save_progress(notice, delivered)  # so that a retry does not send them again
            raise RetryLater(f"could not record the outcome: {describe(error)}") from None
        notice.refresh(consistent_read=True)
        logger.warning("notice changed while it was sent", extra=_log_keys(notice))
        return
    if status == SENT:
        metrics.add_metric(name="NoticesSent", unit=MetricUnit.Count, value=1)
        logger.info("notice sent", extra={**_log_keys(notice), "audiences": sent_to,
                                          "message_ids": list(notice.message_ids or [])})
    else:
        metrics.add_metric(name="NoticesFailed", unit=MetricUnit.Count, value=1)
        logger.warning("notice failed", extra={**_log_keys(notice), "reason": notice.reason})


# ------------------------------------------------------------- EventBridge
def event_detail(notice: NoticeItem) -> dict[str, Any]:
    """The event of a notice: identifiers and outcome, no email address, no name."""
    return {
        "notice_id": notice.notice_key,
        "tenant_id": notice.tenant_id,
        "account_id": notice.account_id,
        "type": notice.type,
        "rule_id": notice.rule_id,
        "level": notice.level,
        "episode": int(notice.episode),
        "reminder": int(notice.reminder or 0),
        "status": notice.status,
        "reason": mask_emails(notice.reason) if notice.reason else None,
        "created_at": notice.created_at,
        "sent_at": notice.sent_at,
    }


def publish(notice: NoticeItem) -> None:
    """Put the notice's event on the bus, then remember it was published for this status."""
    try:
        response = events().put_events(Entries=[{
            "Source": EVENT_SOURCE,
            "DetailType": notice.type,
            "Detail": json.dumps(event_detail(notice)),
            "EventBusName": EVENT_BUS_NAME,
        }])
    except (ClientError, BotoCoreError) as error:
        raise RetryLater(f"EventBridge: {describe(error)}") from None
    if response.get("FailedEntryCount"):
        entry = (response.get("Entries") or [{}])[0]
        raise RetryLater(f"EventBridge: {entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
    try:
        notice.update(actions=[NoticeItem.published.set(notice.status)],
                      condition=NoticeItem.status == notice.status)
    except UpdateError as error:
        if not _is_condition_failure(error):
            raise RetryLater(f"could not record the event: {describe(error)}") from None
    logger.info("notice event published", extra=_log_keys(notice))
