"""Reading one page of a DynamoDB query: read one item more than the page holds, so
``next_cursor`` is null exactly on the last page (no empty trailing page).

Rows that cannot be read are skipped (``rows.Readable``): a page holds ``limit`` readable
rows when there are that many, whatever lies between them, and its cursor is the
position of its last row, so the next page starts past every row this one skipped."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.models import Model

from .cursors import decode_cursor, encode_cursor
from .rows import Readable, query_rows

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


@dataclass(frozen=True)
class ListScope:
    """Which list a cursor belongs to: the tenant, the list's name and its scope (the
    account, for per-account lists), and the key fields that mark a position in it."""

    tenant_id: str
    list_name: str
    scope: str
    fields: tuple[str, ...]

    def start(self, cursor: str | None) -> dict[str, str] | None:
        if cursor is None:
            return None
        return decode_cursor(
            cursor,
            tenant_id=self.tenant_id,
            list_name=self.list_name,
            scope=self.scope,
            fields=self.fields,
        )

    def cursor_after(self, position: dict[str, str]) -> str:
        return encode_cursor(
            tenant_id=self.tenant_id, list_name=self.list_name, scope=self.scope,
            position=position,
        )


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def take_page(
    results: Iterable[T], limit: int, scope: ListScope, position_of: Callable[[T], dict[str, str]]
) -> Page[T]:
    """The first ``limit`` of ``results`` (which yields at most ``limit + 1``)."""
    items: list[T] = []
    more = False
    for item in results:
        if len(items) == limit:
            more = True
            break
        items.append(item)
    next_cursor = scope.cursor_after(position_of(items[-1])) if more and items else None
    return Page(items=items, next_cursor=next_cursor)


def exclusive_start(**keys: str) -> dict[str, dict[str, str]]:
    """A DynamoDB ExclusiveStartKey of string attributes."""
    return {name: {"S": value} for name, value in keys.items()}


def newest_first(
    model: type[Model],
    *,
    index_name: str,
    tenant_id: str,
    list_name: str,
    account_id: str,
    partition_key: str,
    fields: tuple[str, str],
    limit: int,
    cursor: str | None,
    read: Callable[[Any], T],
) -> Page[T]:
    """A page of an account's items from a local index sorted by time, newest first,
    each made into what ``read`` returns (a response model); a row that cannot be read
    or made into one is skipped. ``fields`` are the table's range key and the index's
    range key (a position)."""
    scope = ListScope(tenant_id, list_name, account_id, fields)
    start = scope.start(cursor)
    rows = Readable(model, query_rows(
        model,
        partition_key,
        index_name=index_name,
        scan_index_forward=False,
        limit=limit + 1,  # the page size of the first Query; more are read past bad rows
        exclusive_start_key=(
            exclusive_start(account_key=partition_key, **start) if start else None
        ),
    ), read)
    page = take_page(
        rows, limit, scope, lambda row: {name: getattr(row[0], name) for name in fields}
    )
    rows.report()
    return Page(items=[value for _, value in page.items], next_cursor=page.next_cursor)
