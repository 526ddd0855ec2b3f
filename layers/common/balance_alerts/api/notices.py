"""The notice log of an account, newest first (the ByCreated index of NoticesTable).
A notice item that cannot be read is left out (logged, ``NoticeRowsUnreadable``)."""

from __future__ import annotations

from ..adapters.tables import NoticeItem, account_key
from .paging import Page, newest_first
from .responses import NoticeOut


def list_notices(
    tenant_id: str, account_id: str, limit: int, cursor: str | None
) -> Page[NoticeOut]:
    return newest_first(
        NoticeItem, index_name=NoticeItem.by_created.Meta.index_name, tenant_id=tenant_id,
        list_name="notices", account_id=account_id,
        partition_key=account_key(tenant_id, account_id),
        fields=("notice_key", "created_seq"), limit=limit, cursor=cursor, read=NoticeOut.of,
    )
