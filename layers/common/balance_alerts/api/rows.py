"""Reading stored rows for the API one by one, so that one row that cannot be read never
makes the rest unreadable.

A pynamodb query maps every item it returns with ``Model.from_raw_data``; one item whose
attribute has the wrong type (``amount`` stored as a string, written around the API by
hand, by a migration or by a bug) raises ``AttributeDeserializationError`` from the
iterator, and a whole history answered 500. Here the query returns the raw items, each
is read on its own (the model, then whatever the caller builds from it, such as the
response model), and a row that fails is skipped: logged with its key and the reason -
never its values - and counted in a metric (``LedgerRowsUnreadable``,
``NoticeRowsUnreadable``, flushed with the request's metrics by ``log_metrics`` on the
API's handler). The rest is served.

The stream consumer has its own treatment of such items (they are poison records,
recorded with a ``rejected_reason``; docs/decisions.md 3); this is the read side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import DecimalException
from typing import Any, Generic, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError
from pynamodb.exceptions import AttributeDeserializationError
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator

from ..observability import logger, metrics

M = TypeVar("M", bound=Model)
T = TypeVar("T")

#: What reading a malformed row raises: pynamodb (a wrong attribute type), Decimal (a
#: number that is not one), json (pynamodb's NumberAttribute), a missing key or field,
#: a response model that refuses the values (pydantic's ValidationError is a ValueError).
UNREADABLE = (AttributeDeserializationError, DecimalException, ValueError, TypeError,
              KeyError, AttributeError)
#: The metric of each model's unreadable rows.
METRICS = {"LedgerItem": "LedgerRowsUnreadable", "NoticeItem": "NoticeRowsUnreadable"}


def query_rows(model: type[Model], hash_key: str, **query: Any) -> Iterator[dict[str, Any]]:
    """The raw items (DynamoDB JSON) of a Query on ``model``'s table, fetched page by page
    as they are consumed. ``query`` takes the arguments of pynamodb's
    ``TableConnection.query``: ``index_name``, ``range_key_condition``,
    ``scan_index_forward``, ``exclusive_start_key``, ``consistent_read`` and ``limit``
    (the page size: there is no cap on the items, the caller stops reading)."""
    # Model.query builds this same iterator with map_fn=from_raw_data; the connection is
    # the model's own (one per container, tables.transaction_connection).
    return ResultIterator(model._get_connection().query, (hash_key,), query)


def _key(model: type[Model], raw: dict[str, Any]) -> dict[str, Any]:
    key = {}
    for name, attribute in model.get_attributes().items():
        if attribute.is_hash_key or attribute.is_range_key:
            value = raw.get(attribute.attr_name)
            key[name] = next(iter(value.values()), None) if isinstance(value, dict) else None
    return key


def _reason(error: Exception) -> str:
    """Why a row could not be read: where, never the value (it may be personal data)."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'row'}: {issue['msg']}"
            for issue in error.errors(include_input=False, include_url=False))
    if isinstance(error, KeyError):
        return f"missing {error}"
    if isinstance(error, AttributeDeserializationError):
        return str(error)
    return type(error).__name__


@dataclass
class Readable(Generic[M, T]):
    """Read rows of ``model``, each with ``read`` (model item -> what the caller wants),
    skipping and reporting those that fail. Iterate it for ``(item, value)`` pairs; read
    ``skipped`` afterwards, or call ``report()`` once the caller is done."""

    model: type[M]
    rows: Iterable[dict[str, Any]]
    read: Callable[[M], T]
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def __iter__(self) -> Iterator[tuple[M, T]]:
        for raw in self.rows:
            try:
                item = self.model.from_raw_data(raw)
                value = self.read(item)
            except UNREADABLE as error:
                self._skip(raw, error)
                continue
            yield item, value

    def _skip(self, raw: dict[str, Any], error: Exception) -> None:
        key = _key(self.model, raw)
        self.skipped.append(key)
        log_unreadable(self.model, key, error)

    def report(self) -> None:
        """Count the skipped rows in the model's metric (nothing when none were)."""
        if self.skipped:
            count_unreadable(self.model, len(self.skipped))


def log_unreadable(model: type[Model], key: dict[str, Any], error: Exception,
                   message: str = "unreadable row skipped") -> None:
    logger.error(
        message,
        extra={"table": model.Meta.table_name, "key": key, "reason": _reason(error),
               "error_type": type(error).__name__},
    )


def count_unreadable(model: type[Model], count: int = 1) -> None:
    """Count ``count`` unreadable rows of ``model`` in its metric."""
    metrics.add_metric(name=METRICS.get(model.__name__, "RowsUnreadable"),
                       unit=MetricUnit.Count, value=count)
