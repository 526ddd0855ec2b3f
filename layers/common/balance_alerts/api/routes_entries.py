"""``/accounts/{account_id}/entries`` and ``.../notices``: record a ledger entry, read
the history and the notice log. POST: admin, staff; GET: also the account's customer."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from ..observability import logger
from . import accounts, entries, notices
from .auth import current_identity
from .openapi import write_responses
from .paging import DEFAULT_LIMIT
from .params import AccountId, Cursor, Limit
from .responses import EntriesPage, EntryOut, NoticesPage, json_response
from .schemas import EntryIn

router = Router()


@router.post("/accounts/<account_id>/entries", responses=write_responses(HTTPStatus.ACCEPTED))
def post_entry(
    account_id: AccountId, entry: Annotated[EntryIn, Body()]
) -> Response[EntryOut]:
    """202 with the stored entry (the balance follows through the stream); 200 with the
    stored entry when the same request was recorded before; 409 for a different one."""
    identity = current_identity()
    account = accounts.require_account(identity.tenant_id, account_id)
    item, created = entries.record_entry(identity, account, entry)
    logger.info(
        "entry recorded" if created else "entry replayed",
        extra={"tenant_id": identity.tenant_id, "account_id": account_id,
               "entry_id": item.entry_id, "kind": item.kind},
    )
    status = HTTPStatus.ACCEPTED if created else HTTPStatus.OK
    return json_response(status, EntryOut.of(item))


@router.get("/accounts/<account_id>/entries")
def list_entries(
    account_id: AccountId, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> EntriesPage:
    tenant_id = current_identity().tenant_id
    accounts.require_account(tenant_id, account_id)
    result = entries.list_entries(tenant_id, account_id, limit, cursor)
    return EntriesPage(entries=result.items, next_cursor=result.next_cursor)


@router.get("/accounts/<account_id>/notices")
def list_notices(
    account_id: AccountId, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> NoticesPage:
    tenant_id = current_identity().tenant_id
    accounts.require_account(tenant_id, account_id)
    result = notices.list_notices(tenant_id, account_id, limit, cursor)
    return NoticesPage(notices=result.items, next_cursor=result.next_cursor)
