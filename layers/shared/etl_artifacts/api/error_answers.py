"""The one error mapping: every ``ApiError`` (and the driver and framework failures around it) as
its HTTP answer (docs/api.md Errors), whether a route raised it, the response path decided it
after the route (413, 429), or the write scope refused the request before routing (403)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from etl_artifacts.api.openapi_text import OPENAPI_TITLE, SECURITY_SCHEMES
from etl_artifacts.api.request_context import request_id
from etl_artifacts.config import get_settings
from etl_artifacts.errors import ApiError, ConfigurationError, InsufficientScope, InternalError, NotFound
from etl_artifacts.observability import logger

# Requests that change something: they need the write scope (see ``entry.lambda_entry``).
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error_headers(exc: ApiError) -> dict[str, str]:
    """``Retry-After`` (when waiting helps) and the error's own headers (e.g. ``WWW-Authenticate``)."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
    headers.update(exc.headers())
    return headers


def _json_error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def configure(app: APIGatewayHttpResolver) -> APIGatewayHttpResolver:
    """Install the one error mapping and the OpenAPI settings on a family's resolver."""
    from etl_artifacts import __version__

    app.configure_openapi(title=OPENAPI_TITLE, version=__version__, security_schemes=SECURITY_SCHEMES)

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return _json_error(exc.status, exc.body(request_id(app)), error_headers(exc) or None)

    @app.exception_handler(RequestValidationError)
    def _validation_error(exc: RequestValidationError) -> Response:
        # FastAPI's shape; the offending input is never echoed back.
        items = [
            {
                "loc": list(err.get("loc", ())),
                "msg": str(err.get("msg", "Invalid value")),
                "type": str(err.get("type", "value_error")),
            }
            for err in exc.errors()
        ]
        return _json_error(422, {"detail": items})

    @app.exception_handler(UnicodeDecodeError)
    def _body_not_utf8(_: UnicodeDecodeError) -> Response:
        # A JSON body that is not UTF-8: Powertools turns only JSONDecodeError into a validation error.
        return _json_error(
            422, {"detail": [{"loc": ["body"], "msg": "JSON decode error", "type": "json_invalid"}]}
        )

    @app.not_found
    def _not_found(_: NotFoundError) -> Response:
        return _json_error(404, NotFound().body(request_id(app)))

    @app.exception_handler(ConfigurationError)
    def _configuration_error(exc: ConfigurationError) -> Response:
        logger.error("configuration error", extra={"error": str(exc)})
        return _json_error(500, InternalError().body(request_id(app)))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Type only: messages and tracebacks may carry SQL, keys or URLs.
        logger.error("unhandled error", extra={"error_type": type(exc).__name__})
        return _json_error(500, InternalError().body(request_id(app)))

    return app


def missing_write_scope(event: dict[str, Any]) -> InsufficientScope | None:
    """A write whose token lacks ``JWT_WRITE_SCOPE`` (the authorizer passes the token's scopes)."""
    context = event.get("requestContext") or {}
    if str((context.get("http") or {}).get("method", "")).upper() not in WRITE_METHODS:
        return None
    scopes = str(((context.get("authorizer") or {}).get("lambda") or {}).get("scopes") or "").split(" ")
    scope = get_settings().jwt_write_scope
    return None if scope in scopes else InsufficientScope(scope)


def refusal(event: dict[str, Any], exc: ApiError) -> dict[str, Any]:
    """An error answer made before routing, in the shape the exception handlers give."""
    request = str((event.get("requestContext") or {}).get("requestId") or uuid.uuid4())
    return {
        "statusCode": exc.status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON, **error_headers(exc)},
        "body": json.dumps(exc.body(request), separators=(",", ":")),
        "isBase64Encoded": False,
    }


def late_error_renderer(app: APIGatewayHttpResolver) -> Callable[[ApiError], dict[str, Any]]:
    """Renders an error decided after the route ran (413 by the envelope, 429 by the limiter)."""

    def render(exc: ApiError) -> dict[str, Any]:
        headers = {
            "Content-Type": content_types.APPLICATION_JSON,
            "Cache-Control": "no-store",
            **error_headers(exc),
        }
        return {
            "statusCode": exc.status,
            "headers": headers,
            "body": json.dumps(exc.body(request_id(app)), separators=(",", ":")),
            "isBase64Encoded": False,
        }

    return render
