"""Path and query parameters shared by the routes (validated by Powertools: a bad id or
limit is a 422 before any route code runs)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.models import Example
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from .paging import MAX_LIMIT
from .schemas import ID_PATTERN



def _example(value: str) -> dict[str, Example]:
    return {value: Example(value=value)}


AccountId = Annotated[str, Path(pattern=ID_PATTERN, description="The client's account id",
                                openapi_examples=_example("acct-1"))]
ProfileId = Annotated[str, Path(pattern=ID_PATTERN, description="Alert profile id",
                                openapi_examples=_example("standard"))]
ClassId = Annotated[str, Path(pattern=ID_PATTERN, description="Customer class id",
                              openapi_examples=_example("retail"))]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1-100)")]
Cursor = Annotated[str | None, Query(
    description="The next_cursor of the previous page; anything else is refused (400)")]
