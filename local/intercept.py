"""One hook on botocore's single entry point for every AWS call, shared by the request
meter and the outgoing-email capture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.client import BaseClient

Observer = Callable[[str, str, dict[str, Any], dict[str, Any]], None]
FailureObserver = Callable[[str, str, dict[str, Any], BaseException], None]


@contextmanager
def observe_calls(
    observer: Observer, on_error: FailureObserver | None = None
) -> Iterator[None]:
    """Call ``observer(service, operation, params, response)`` after each successful call
    made inside the block, and ``on_error(service, operation, params, error)`` after each
    failed one (a failed conditional write is a request too)."""
    original = BaseClient._make_api_call

    def observed(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_name
        try:
            response = original(self, operation, params)
        except Exception as error:
            if on_error is not None:
                on_error(service, operation, params, error)
            raise
        observer(service, operation, params, response)
        return response

    BaseClient._make_api_call = observed  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
