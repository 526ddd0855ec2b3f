"""SendNoticeFunction: NoticesTable stream (INSERT only) -> one email per audience through
SES v2, and one EventBridge event per notice.

Each record names a notice; ``deliver_notice`` re-reads it and acts on its current
status, so a redelivered record never sends twice. Transient failures (SES throttling,
5xx) are reported in ``batchItemFailures`` and Lambda retries from that record; a record
that cannot be parsed is logged and skipped.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from balance_alerts.adapters.delivery import deliver_notice
from balance_alerts.observability import logger, metrics

# A batch whose every record failed is reported like a partial failure (not raised), so
# Lambda resumes from the first failed record either way and the logs stay clean.
processor = BatchProcessor(
    event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False, logger=logger
)


def notice_keys(record: DynamoDBRecord) -> tuple[str, str] | None:
    """(account_key, notice_key) of the notice a record announces; None if unreadable."""
    try:
        stream = record.dynamodb
        image = (stream.new_image or stream.keys) if stream else {}
        account_key, notice_key = image.get("account_key"), image.get("notice_key")
    except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError):
        account_key = notice_key = None
    if isinstance(account_key, str) and isinstance(notice_key, str) and account_key and notice_key:
        return account_key, notice_key
    return None


def record_handler(record: DynamoDBRecord) -> None:
    keys = notice_keys(record)
    if keys is None:
        sequence = record.dynamodb.sequence_number if record.dynamodb else None
        logger.error("unreadable notice record; skipped",
                     extra={"event_id": record.event_id, "sequence_number": sequence})
        return
    deliver_notice(*keys)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
