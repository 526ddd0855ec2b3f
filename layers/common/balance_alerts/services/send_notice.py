"""Send a notice: SendNoticeFunction calls ``deliver_notice`` once per NoticesTable
INSERT record. The notice goes out through a channel (``adapters/channels``: email over
SES v2) and its outcome is announced through the event publisher (``adapters/events``:
EventBridge); this module talks to neither service itself.

What a record leads to, always decided on the notice item as it is now (a consistent
read; a redelivered record finds the outcome of the first delivery there):

``pending``
    the notice is rendered for each audience the channel can reach, and sent per audience;
    then one conditional update (``status = pending``) to ``sent`` (at least one audience
    delivered; a permanent failure of another is added to ``reason``) or ``failed``
    (none: a permanent channel error, every recipient on the SES suppression list, a
    template error, no recipients, account gone), then the event.
``sent`` / ``failed`` / ``suppressed``
    nothing is sent; the event is published if it was not yet published for that status.

Progress across retries. ``delivered`` on the notice item maps audience -> the channel's
message id. A transient failure (throttling, 5xx, network) records what was delivered so
far, with ``attempts + 1``, *before* raising ``RetryLater``; the retry skips the
audiences already in ``delivered``. So the only duplicate message possible is one the
channel accepted just before the process died, as DESIGN.md allows. ``published`` holds
the status for which the event went out, so each status decision is published once (at
least once if the process dies between the two writes).

Nothing here logs an email address or a name: the reasons channels return are masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pynamodb.exceptions import AttributeDeserializationError, UpdateError

from ..adapters import channels, config_store, events
from ..adapters.channels import Channel, Notice, PermanentFailure
from ..adapters.errors import describe
from ..adapters.tables import AccountItem, NoticeItem
from ..domain.model import AUDIENCES
from ..observability import logger, metrics

if TYPE_CHECKING:
    from ..adapters.rendering import RenderedEmail

__all__ = ["FAILED", "PENDING", "SENT", "PermanentFailure", "RetryLater", "compose",
           "deliver_notice"]

PENDING, SENT, FAILED = "pending", "sent", "failed"


class RetryLater(Exception):
    """A transient failure: the record is reported in ``batchItemFailures`` and Lambda
    retries from it."""


# ----------------------------------------------------------------- compose
@dataclass
class Message:
    audience: str
    email: RenderedEmail


@dataclass
class Plan:
    """What a pending notice becomes: the notice as the channel sees it, the messages to
    send and the audiences that cannot be served (audience -> reason)."""

    notice: Notice
    channel: Channel
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
    """Render the notice for each of its audiences that the channel can reach.
    Raises PermanentFailure when nothing can be sent at all."""
    # Jinja2 and Babel load here, on the first notice that renders: a container that
    # only publishes (suppressed notices, redelivered records) never loads them.
    from ..adapters import rendering, template_store
    try:
        account = AccountItem.get(notice.tenant_id, notice.account_id)
    except AccountItem.DoesNotExist:
        raise PermanentFailure("account not found") from None
    tenant = config_store.load_tenant(notice.tenant_id)
    plan = Plan(Notice(notice, account, tenant.settings), channels.channel(channels.EMAIL))
    reached = [audience for audience in _audiences(notice)
               if plan.channel.recipients(plan.notice, audience)]
    template_set = tenant.template_set(account.customer_class)
    context = rendering.account_variables(
        notice.variables or {},
        notice_type=notice.type,
        reminder=int(notice.reminder or 0),
        settings=tenant.settings,
        account=account,
        created_at=notice.created_at,
    )
    for audience in reached:
        override = tenant.template(template_set, notice.type, audience)
        try:
            email = template_store.render(notice.type, audience, context, override)
        except (rendering.TemplateRenderError, KeyError) as error:
            plan.failures[audience] = f"template {template_set}/{notice.type}/{audience}: " + (
                str(error) if isinstance(error, rendering.TemplateRenderError)
                else "unknown notice type")
            continue
        plan.messages.append(Message(audience, email))
    if not plan.messages and not plan.failures:
        raise PermanentFailure("no recipients")
    return plan


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
    except AttributeDeserializationError as error:
        # A notice item no retry can read (written around the product): recorded in the
        # log and a metric, and skipped, so that it never holds its shard back.
        logger.error("unreadable notice item; skipped", extra={
            "account_key": account_key, "notice_id": notice_key, "reason": str(error)})
        metrics.add_metric(name="NoticeRowsUnreadable", unit=MetricUnit.Count, value=1)
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
            outcome = plan.channel.send(plan.notice, message.audience, message.email)
        except Exception:
            _save_progress(notice, delivered)
            raise
        if outcome.status == channels.RETRY:
            _save_progress(notice, delivered)
            raise RetryLater(f"{message.audience}: {outcome.reason}")
        if outcome.status == channels.FAILED:
            failures[message.audience] = outcome.reason or "not sent"
            continue
        delivered[message.audience] = str(outcome.message_id)
        if outcome.reason:
            notes[message.audience] = outcome.reason
    _conclude(notice, plan, delivered, failures, notes)


def _save_progress(notice: NoticeItem, delivered: dict[str, str]) -> None:
    """Before a retry: what was delivered so far, and one more attempt."""
    actions: list[Any] = [NoticeItem.attempts.add(1)]
    if delivered:
        actions += [
            NoticeItem.delivered.set(delivered),
            NoticeItem.message_ids.set(_ids(delivered, AUDIENCES)),
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
    """The status decision: ``sent`` when any audience got its message, else ``failed``.
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
            NoticeItem.message_ids.set(_ids(delivered, sent_to)),
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


# ------------------------------------------------------------------- event
def publish(notice: NoticeItem) -> None:
    """Publish the notice's event, then remember it was published for this status."""
    try:
        events.publish(notice)
    except events.PublishFailed as failure:
        raise RetryLater(str(failure)) from None
    try:
        notice.update(actions=[NoticeItem.published.set(notice.status)],
                      condition=NoticeItem.status == notice.status)
    except UpdateError as error:
        if not _is_condition_failure(error):
            raise RetryLater(f"could not record the event: {describe(error)}") from None
    logger.info("notice event published", extra=_log_keys(notice))


def _ids(delivered: dict[str, str], audiences: Iterable[str]) -> list[Any]:
    """The provider's message ids of ``audiences``, in their order (a list attribute)."""
    return [delivered[audience] for audience in audiences if audience in delivered]
