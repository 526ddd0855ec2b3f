"""``/accounts/{account_id}/packages``: buy a package, read the package balances.
POST: admin, staff; GET: also the account's customer (enforced in ``auth``)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from ..domain.model import Units
from ..observability import logger
from . import accounts, packages
from .auth import current_identity
from .openapi import write_responses
from .paging import DEFAULT_LIMIT
from .params import AccountId, Cursor, Limit
from .responses import json_response
from .schemas import PackageIn

router = Router()

@router.post("/accounts/<account_id>/packages",
             responses=write_responses(HTTPStatus.ACCEPTED))
def post_package(
    account_id: AccountId, package: Annotated[PackageIn, Body()]
) -> Response[dict[str, Any]]:
    """202 with the stored purchase (the package balances follow through the stream);
    200 with the stored purchase when the same request was recorded before; 409 for a
    different one under the same ``package_id``."""
    identity = current_identity()
    account = accounts.require_account(identity.tenant_id, account_id)
    item, created = packages.record_package(identity, account, package)
    logger.info(
        "package recorded" if created else "package replayed",
        extra={"tenant_id": identity.tenant_id, "account_id": account_id,
               "package_id": package.package_id},
    )
    status = HTTPStatus.ACCEPTED if created else HTTPStatus.OK
    return json_response(status, packages.PurchaseOut.of(item).model_dump())


@router.get("/accounts/<account_id>/packages")
def list_packages(
    account_id: AccountId, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> dict[str, Any]:
    """Every package of the account, oldest purchase first, with its balances per item
    and its ``status`` (current, retired, pending); and the units charged with no
    package to take them from (``unallocated``)."""
    account = accounts.require_account(current_identity().tenant_id, account_id)
    units = Units.from_dict(account.units)  # parsed once for both parts of the answer
    result = packages.list_packages(account, units, limit, cursor)
    return {
        "packages": [packages.PackageOut.of(listed).model_dump() for listed in result.items],
        "unallocated": [row.model_dump() for row in packages.unallocated_out(units)],
        "next_cursor": result.next_cursor,
    }
