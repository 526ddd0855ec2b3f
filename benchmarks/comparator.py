"""on_usage as the Powertools documentation suggests writing it: the comparator of
``make bench``.

``BatchProcessor`` over the stream batch, each record handled by a function made
idempotent by the Idempotency utility (``idempotent_function`` with a
``DynamoDBPersistenceLayer`` on its own table, keyed by the ledger item's keys), and
inside it a read-modify-write of the account: GetItem, apply the entry, a conditional
write of the account. This is the pattern of the documentation's "Batch processing
with idempotency" example, with on_usage's business logic in the middle.

The business logic is balance_alerts' own (``apply_entries``, ``watch_of``,
``accounts.commit``), so both implementations produce the same balances, latches and
notices; what differs is only how a batch is read, written and made idempotent. A
record whose write fails is reported in ``batchItemFailures`` and retried by Lambda
(the Idempotency utility deletes its in-progress record first).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
)
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from balance_alerts.adapters import accounts, config_store
from balance_alerts.adapters.attributes import to_plain
from balance_alerts.adapters.settings import settings
from balance_alerts.adapters.tables import AccountItem
from balance_alerts.domain.ledger import apply_entries
from balance_alerts.domain.watch import watch_of
from balance_alerts.domain.entry import from_image as parse_entry

IDEMPOTENCY_TABLE = os.environ.get("IDEMPOTENCY_TABLE", "balance-alerts-IdempotencyTable")

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
persistence_layer = DynamoDBPersistenceLayer(table_name=IDEMPOTENCY_TABLE)
# A ledger item's key identifies its entry; the stream delivers the same keys again on
# a retry, so the key is the idempotency key.
config = IdempotencyConfig(event_key_jmespath="dynamodb.Keys")


def create_idempotency_table(dynamodb: Any) -> None:
    """The table the Idempotency utility documents: partition key ``id``, TTL
    ``expiration``, on-demand."""
    dynamodb.create_table(
        TableName=IDEMPOTENCY_TABLE,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=IDEMPOTENCY_TABLE,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
    )


@idempotent_function(data_keyword_argument="record", config=config,
                     persistence_store=persistence_layer)
def record_handler(record: DynamoDBRecord) -> dict[str, Any]:
    image = to_plain({"M": record.raw_event["dynamodb"]["NewImage"]})
    tenant_id, account_id = str(image["tenant_id"]), str(image["account_id"])
    entry = parse_entry(image)
    now = datetime.now(timezone.utc)

    # read ...
    item = AccountItem.get(tenant_id, account_id, consistent_read=True)
    state = accounts.state_of(item)
    rules = config_store.load_tenant(tenant_id).context(state)
    # ... modify (the Idempotency utility is this design's only dedup: the account
    # keeps no applied ids, so it pays nothing for on_usage's way of doing it) ...
    state.applied = {}
    result = apply_entries(state, [entry], rules, now)
    if not result.changed:
        return {"entry_id": entry.entry_id, "result": result.outcomes[0].result}
    result.state.applied = {}
    as_of = max(now, entry.occurred_at or entry.recorded_at)
    watch = watch_of(result.state, rules.profile, as_of, settings().watch_shards)
    # ... write (conditional on the version read; with the notices when one is due)
    accounts.commit(state, result.state, result.notices, watch=watch)
    return {"entry_id": entry.entry_id, "result": "applied",
            "balance": format(result.state.balance, "f")}


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    config.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
