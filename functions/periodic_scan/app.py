"""PeriodicScanFunction: on the schedule, evaluate reminders and catch-up notices for the
accounts in the sparse WatchIndex, "as of" the scheduled event's ``time`` (else now)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from balance_alerts.adapters.settings import settings
from balance_alerts.observability import logger, metrics
from balance_alerts.services.periodic_scan import scan

# Cold start: the settings are read and checked now, so that a missing or malformed
# variable stops the function here, naming it, before it takes any event.
settings()


def scheduled_time(event: dict[str, Any]) -> datetime:
    """The event's ``time`` (EventBridge scheduled events carry one), else now."""
    value = event.get("time") if isinstance(event, dict) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is not None:
                return moment
        except ValueError:
            logger.warning("scheduled event time is not ISO 8601; using now")
    return datetime.now(timezone.utc)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = scan(scheduled_time(event), shards=event.get("shards"))
    metrics.add_metric("AccountsScanned", MetricUnit.Count, report.accounts_read)
    metrics.add_metric("NoticesCreated", MetricUnit.Count, report.notices)
    logger.info("scan done", extra={"report": report.__dict__})
    return report.__dict__
