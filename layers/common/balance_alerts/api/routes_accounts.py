"""``/accounts``: create or update an account's settings, read it with its balance, list
the tenant's accounts. PUT and the list: admin, staff; GET one: also the customer whose
account it is (enforced in ``auth``)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from . import accounts
from .auth import current_identity
from .openapi import write_responses
from .paging import DEFAULT_LIMIT
from .params import AccountId, Cursor, Limit
from .responses import AccountOut, AccountsPage, json_response
from .schemas import AccountIn

router = Router()


@router.put("/accounts/<account_id>", responses=write_responses(HTTPStatus.CREATED))
def put_account(
    account_id: AccountId, settings: Annotated[AccountIn, Body()]
) -> Response[AccountOut]:
    """201 with the new account, or 200 with the updated one."""
    item, created = accounts.put_account(current_identity().tenant_id, account_id, settings)
    status = HTTPStatus.CREATED if created else HTTPStatus.OK
    return json_response(status, AccountOut.of(item))


@router.get("/accounts/<account_id>")
def get_account(account_id: AccountId) -> AccountOut:
    return AccountOut.of(accounts.require_account(current_identity().tenant_id, account_id))


@router.get("/accounts")
def list_accounts(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> AccountsPage:
    """The tenant's accounts in id order."""
    result = accounts.list_accounts(current_identity().tenant_id, limit, cursor)
    return AccountsPage(accounts=[AccountOut.of(item) for item in result.items],
                        next_cursor=result.next_cursor)
