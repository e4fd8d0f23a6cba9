"""What every family's OpenAPI document shares: the title, the bearer scheme and the common error
answers (docs/api.md). Plain dicts, validated when the document is built."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from etl_artifacts.errors import ErrorResponse, ThrottledResponse, TooLargeResponse, ValidationErrorResponse

OPENAPI_TITLE = "ETL Run Artifacts API"
BEARER_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
# A plain dict, validated when the document is built: importing Powertools' OpenAPI models at
# module level would add ~100 ms to every function's cold start.
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "JWT carrying the tenant claim",
    }
}
ERROR_RESPONSES: dict[int, Any] = {
    401: {
        "description": "`unauthorized`: missing or invalid token; `WWW-Authenticate` says which rule failed",
        "headers": {
            "WWW-Authenticate": {
                "description": 'Bearer error="invalid_token", error_description="<the rule that failed>"',
                "schema": {"type": "string"},
            }
        },
        "content": {"application/json": {"model": ErrorResponse}},
    },
    422: {
        "description": "Invalid parameters",
        "content": {"application/json": {"model": ValidationErrorResponse}},
    },
    413: {
        "description": "`response_too_large`: the answer does not fit Lambda's 6 MB response payload "
        "even compressed; pages add `max_limit`, the largest `limit` that fits",
        "content": {"application/json": {"model": TooLargeResponse}},
    },
    429: {
        "description": "`rate_limited`: the tenant is over `RATE_LIMIT_RPS` / `RATE_LIMIT_BURST`; "
        "`too_many_scans`: `TENANT_MAX_SCANS` expensive requests of the tenant are running. Every tenant "
        "answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (Unix seconds)",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        "content": {"application/json": {"model": ThrottledResponse}},
    },
    502: {
        "description": "Storage or database failure",
        "content": {"application/json": {"model": ErrorResponse}},
    },
    503: {
        "description": "`deadline_exceeded`: the work could not finish before the function's timeout; "
        "retry after `Retry-After` seconds",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        "content": {"application/json": {"model": ErrorResponse}},
    },
}


def error_responses(*extra: tuple[int, str]) -> dict[int, Any]:
    """OpenAPI responses for a route: the common errors plus ``(status, description)`` pairs."""
    # 200 without content: Powertools fills it from the route's return annotation.
    responses: dict[int, Any] = {200: {"description": "Successful Response"}, **ERROR_RESPONSES}
    for status, description in extra:
        responses[status] = {
            "description": description,
            "content": {"application/json": {"model": ErrorResponse}},
        }
    return responses


class StatusResponse(BaseModel):
    status: str
