"""SendNoticeFunction: NoticesTable stream (INSERT only) -> one email per audience through
SES v2, and one EventBridge event per notice.

Each record names a notice; ``deliver_notice`` re-reads it and acts on its current
status, so a redelivered record never sends twice. Records are delivered in stream order;
at the first one that fails for a transient reason (``RetryLater``: SES throttling, 5xx)
the function stops and reports it in ``batchItemFailures``: Lambda resumes from that
record, so the records after it would be redelivered anyway, and a throttled SES is not
pressed further. A record that fails otherwise (an unexpected error) is reported too, but
the records after it are still delivered; the lowest failed record is the one reported.
A record that cannot be parsed is logged and skipped.

The loop is written here rather than with Powertools' BatchProcessor, which would import
asyncio and every Powertools event class at cold start (docs/decisions.md).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from balance_alerts.adapters.settings import settings
from balance_alerts.observability import logger, metrics
from balance_alerts.services.send_notice import RetryLater, deliver_notice

# Cold start: the settings are read and checked now, so that a missing or malformed
# variable stops the function here, naming it, before it takes any event.
settings()


def notice_keys(record: dict[str, Any]) -> tuple[str, str] | None:
    """(account_key, notice_key) of the notice a stream record announces (from its new
    image, else its keys); None if the record does not name one."""
    stream = record.get("dynamodb") if isinstance(record, dict) else None
    image = (stream.get("NewImage") or stream.get("Keys")) if isinstance(stream, dict) else None
    if not isinstance(image, dict):
        return None
    keys = []
    for name in ("account_key", "notice_key"):
        value = image.get(name)
        value = value.get("S") if isinstance(value, dict) else None
        if not isinstance(value, str) or not value:
            return None
        keys.append(value)
    return keys[0], keys[1]


def _sequence_number(record: dict[str, Any]) -> str | None:
    stream = record.get("dynamodb") if isinstance(record, dict) else None
    return stream.get("SequenceNumber") if isinstance(stream, dict) else None


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    first_failed: dict[str, Any] | None = None  # Lambda resumes from the lowest failed
    for record in event.get("Records", []):
        keys = notice_keys(record)
        if keys is None:
            logger.error("unreadable notice record; skipped",
                         extra={"event_id": record.get("eventID") if isinstance(record, dict)
                                else None, "sequence_number": _sequence_number(record)})
            continue
        try:
            deliver_notice(*keys)
        except RetryLater as error:
            logger.warning("notice delivery will be retried",
                           extra={"notice_key": keys[1], "reason": str(error)})
            first_failed = first_failed or record
            break  # transient (throttling, 5xx): the records after it wait with it
        except Exception:  # noqa: BLE001 - the record is retried, never lost
            # Not known to be transient, maybe this notice's own data: the records after
            # it are still delivered, so that one bad notice cannot hold them back until
            # its retries run out and the rest of its batch goes to the failure queue.
            logger.exception("notice delivery failed; the record will be retried",
                             extra={"notice_key": keys[1]})
            if first_failed is None:
                first_failed = record
    if first_failed is None:
        return {"batchItemFailures": []}
    return {"batchItemFailures": [{"itemIdentifier": _sequence_number(first_failed)}]}
