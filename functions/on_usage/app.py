"""OnUsageFunction: LedgerTable stream (INSERT only) -> account balances and due notices.

The batch is applied per account (one read for the batch, one write per account); for an
account whose write failed for a transient reason, the sequence number of its first
record in the batch is reported in ``batchItemFailures`` (the mapping sets
ReportBatchItemFailures), so Lambda resumes from the lowest of them. Already-applied
records are skipped; poison records are recorded and skipped, never reported.

The response is built here rather than by Powertools' BatchProcessor: the unit of work
is an account, not a record, and the batch utility would import asyncio and every
Powertools event class at cold start (docs/decisions.md).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from balance_alerts.adapters.settings import settings
from balance_alerts.observability import logger, metrics
from balance_alerts.services.on_usage import process_batch

# Cold start: the settings are read and checked now, so that a missing or malformed
# variable stops the function here, naming it, before it takes any event.
settings()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = process_batch(event.get("Records", []))
    metrics.add_metric("EntriesApplied", MetricUnit.Count, report.applied)
    metrics.add_metric("EntriesRejected", MetricUnit.Count, report.rejected)
    metrics.add_metric("NoticesCreated", MetricUnit.Count, report.notices)
    logger.info("batch applied", extra={"report": report.__dict__})
    return {"batchItemFailures": [{"itemIdentifier": sequence}
                                  for sequence in report.failed_sequence_numbers]}
