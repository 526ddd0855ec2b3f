"""The email channel: SES v2 SendEmail, one message per audience.

Recipients: the customer's are the account's email, its extra addresses and the rule's
``cc_emails``; the staff's are the tenant's ``staff_emails`` and the rule's. The sender is
the tenant's ``from_email`` with the tenant's name as display name. A message has HTML
and text parts, the template's BCC, the configuration set (``SES_CONFIGURATION_SET``),
``Auto-Submitted`` and, on customer emails when the tenant set ``unsubscribe``,
``List-Unsubscribe``.

Errors. A SendEmail error that retrying the same request cannot fix (a rejected message,
an unverified sender, a bad request) is ``FAILED``; throttling, 5xx, network and
credential problems are ``RETRY`` (credentials and permissions are for an operator to
fix: the record waits, with bounded retries, rather than failing every notice).

Suppressed recipients. SES accepts a message to an address on the account-level
suppression list and drops it later (a bounce event), so the notice would read ``sent``.
Before sending, each To address is looked up with ``GetSuppressedDestination``
(``SES_CHECK_SUPPRESSION``, on by default; answers cached per warm container for
``SUPPRESSION_CACHE_SECONDS``): listed addresses are left out, and an audience whose
every address is listed fails with the SES reason (``BOUNCE`` / ``COMPLAINT``), never
retried. The check is advisory: throttling retries the record like a send would, any
other problem with it (no permission, an emulator without the operation) lets the email
go out unchecked.

Nothing here logs an email address or a name: reasons taken from SES error messages are
masked before they are returned.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ...observability import logger, metrics
from .. import session
from ..errors import describe, error_code
from ..settings import settings
from ..tables import AccountItem, NoticeItem
from .interface import Notice, Outcome, PermanentFailure

if TYPE_CHECKING:
    from ..rendering import RenderedEmail

NAME = "email"
SUPPRESSION_CACHE_SECONDS = 300.0

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10
)


# A botocore client (boto3 adds nothing it needs, and its import alone is a tenth of the
# cold start) from the session the tables share, made on first use as pynamodb makes the
# tables' (docs/performance.md measures the cold start with and without it).
@cache
def client() -> Any:
    """The container's SES v2 client."""
    return session.botocore_session().create_client(
        "sesv2", region_name=settings().region, config=_CLIENT_CONFIG)


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


def reset_cache() -> None:
    """Forget the suppression answers cached in this container (a cold start)."""
    _suppression_cache.clear()


# ---------------------------------------------------------------- errors
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
        found = client().get_suppressed_destination(EmailAddress=address)
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
    if not settings().ses_check_suppression:
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


# -------------------------------------------------------------------- SES
@dataclass
class Message:
    audience: str
    to: list[str]
    email: RenderedEmail
    unsubscribe: str | None = None  # the List-Unsubscribe header value


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
    configuration_set = settings().ses_configuration_set
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    return str(client().send_email(**request)["MessageId"])


# ----------------------------------------------------------------- channel
class EmailChannel:
    """The Channel that sends email through SES v2."""

    name = NAME

    def recipients(self, notice: Notice, audience: str) -> list[str]:
        sender(notice.settings)  # no from_email: no audience can be sent anything
        return recipients(audience, notice.account, notice.settings,
                          notice.item.variables or {})

    def send(self, notice: Notice, audience: str, rendered: RenderedEmail) -> Outcome:
        try:
            source = sender(notice.settings)
        except PermanentFailure as failure:
            return Outcome.failed(str(failure))
        addresses = self.recipients(notice, audience)
        if not addresses:
            return Outcome.failed("no recipients")
        unsubscribe = list_unsubscribe(notice.settings) if audience == "customer" else None
        note = None
        try:
            to, suppressed = deliverable(addresses)
            if suppressed:
                metrics.add_metric(name="RecipientsSuppressed", unit=MetricUnit.Count,
                                   value=len(suppressed))
                note = suppressed_reason(suppressed, total=len(addresses))
                if not to:
                    return Outcome.failed(note)
            message_id = send_email(source, Message(audience, to, rendered, unsubscribe),
                                    notice.item)
        except (ClientError, BotoCoreError) as error:
            reason = describe(error, hide=[source])
            return Outcome.retry(reason) if is_transient(error) else Outcome.failed(reason)
        metrics.add_metric(name="EmailsSent", unit=MetricUnit.Count, value=1)
        return Outcome.delivered(message_id, note=note)
