"""What the lifecycle and seal routes read from the request besides the tenant: the caller's
``sub``, the write scope, and the API's public root (for share link URLs)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from etl_artifacts.api.common import API_PREFIX


def caller_sub(app: APIGatewayHttpResolver) -> str:
    context = app.current_event.request_context.authorizer.get_lambda or {}
    return str(context.get("sub") or "")


def api_root(app: APIGatewayHttpResolver) -> str:
    """``https://<host>/api/v1`` as the caller reached it (API Gateway sends ``X-Forwarded-Proto``)."""
    event = app.current_event
    host = event.request_context.domain_name or event.headers.get("host", "")
    scheme = event.headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    return f"{scheme}://{host}{API_PREFIX}"


def require_write_scope(app: APIGatewayHttpResolver) -> None:
    """403 ``insufficient_scope`` unless the authorizer passed the write scope."""
    from etl_artifacts.config import get_settings
    from etl_artifacts.errors import InsufficientScope

    scope = get_settings().jwt_write_scope
    context = app.current_event.request_context.authorizer.get_lambda or {}
    if scope not in str(context.get("scopes") or "").split():
        raise InsufficientScope(scope)
