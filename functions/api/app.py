"""ApiFunction: the REST API behind API Gateway (Cognito authorizer).

Routes live in ``balance_alerts.api.routes_*``; this module only wires Powertools:
strict JSON bodies (JSON objects, exact decimals), request validation, the role check
before any route runs, errors as ``{"message": ...}``, and the request's metrics (such as
``LedgerRowsUnreadable``), flushed by ``log_metrics``.
"""

from __future__ import annotations

import warnings
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from balance_alerts.adapters.settings import settings
from balance_alerts.api import routes_accounts, routes_config, routes_entries
from balance_alerts.api import routes_templates
from balance_alerts.api import routes_packages
from balance_alerts.api.auth import authorization_middleware, authorize_current_request
from balance_alerts.api.body import parse_json_body
from balance_alerts.api.errors import json_only_middleware, register_error_handlers
from balance_alerts.api.openapi import configure as configure_openapi
from balance_alerts.observability import logger, metrics

# Cold start: the settings are read and checked now, so that a missing or malformed
# variable stops the function here, naming it, before it takes any request. The API also
# signs its paging cursors: it does not start without CURSOR_SECRET.
settings().required("cursor_secret")

app = APIGatewayRestResolver(
    enable_validation=True,
    json_body_deserializer=parse_json_body,
    # a response that does not match its model is a bug (500), not the caller's 422
    response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR,
)
configure_openapi(app)
app.use(middlewares=[authorization_middleware, json_only_middleware])
register_error_handlers(app, authorize=authorize_current_request)
app.include_router(routes_config.router)
app.include_router(routes_accounts.router)
app.include_router(routes_entries.router)
app.include_router(routes_templates.router)
app.include_router(routes_packages.router)


# Most requests add no metric (the API counts only what goes wrong, such as
# LedgerRowsUnreadable): Powertools would warn about an empty flush on each of them.
warnings.filterwarnings("ignore", "No application metrics to publish")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
