"""ApiFunction: the REST API behind API Gateway (Cognito authorizer).

Routes live in ``balance_alerts.api.routes_*``; this module only wires Powertools:
strict JSON bodies (exact decimals), request validation, the role check before any
route runs, and errors as ``{"message": ...}``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from balance_alerts.api import routes_accounts, routes_config, routes_entries
from balance_alerts.api.auth import authorization_middleware, authorize_current_request
from balance_alerts.api.body import parse_json_body
from balance_alerts.api.errors import register_error_handlers
from balance_alerts.observability import logger

app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_json_body)
app.use(middlewares=[authorization_middleware])
register_error_handlers(app, authorize=authorize_current_request)
app.include_router(routes_config.router)
app.include_router(routes_accounts.router)
app.include_router(routes_entries.router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
