"""OnUsageFunction: LedgerTable stream (INSERT only) -> account balances and due notices.

The batch is applied per account (one read for the batch, one write per account); the
records of an account whose write failed for a transient reason are reported back so
Lambda resumes from the lowest of them. Already-applied records are skipped.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from balance_alerts.observability import logger, metrics
from balance_alerts.usage import BatchReport, process_batch

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class RetryLater(Exception):
    """This record's account could not be written now; Lambda redelivers from here."""


def _outcome_handler(report: BatchReport):
    failed = set(report.failed_sequence_numbers)

    def record_handler(record: DynamoDBRecord) -> None:
        if record.dynamodb and record.dynamodb.sequence_number in failed:
            raise RetryLater(record.dynamodb.sequence_number)

    return record_handler


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = process_batch(event.get("Records", []))
    metrics.add_metric("EntriesApplied", MetricUnit.Count, report.applied)
    metrics.add_metric("EntriesRejected", MetricUnit.Count, report.rejected)
    metrics.add_metric("NoticesCreated", MetricUnit.Count, report.notices)
    logger.info("batch applied", extra={"report": report.__dict__})
    return process_partial_response(
        event=event,
        record_handler=_outcome_handler(report),
        processor=processor,
        context=context,
    )
