"""The Lambda entry point of every family: Powertools logging context, metrics and tracing around
resolve, the invocation's deadline (``etl_artifacts.deadline``), the tenant's limits, and the one
response path every answer takes (``etl_artifacts.api.envelope``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from etl_artifacts.api.envelope import begin_invocation, fit_result
from etl_artifacts.api.error_answers import late_error_renderer, missing_write_scope, refusal
from etl_artifacts.api.raw_request import not_utf8_answer, routing_event, strict_query
from etl_artifacts.api.tracing import traced
from etl_artifacts.deadline import invocation_deadline
from etl_artifacts.errors import QueryNotUtf8
from etl_artifacts.observability import logger, metrics
from etl_artifacts.ratelimit.tenant_gate import invocation_gate


def _log_request(event: dict[str, Any], status: int, started: float) -> None:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    # Method, route template and status only: no query string, headers or tokens.
    logger.info(
        "request",
        extra={
            "method": ((event.get("requestContext") or {}).get("http") or {}).get("method"),
            "route": event.get("routeKey"),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "id_company": (authorizer.get("lambda") or {}).get("id_company"),
        },
    )
    # No per-route dimensions: one metric series each keeps CloudWatch cost flat.
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    if status >= 500:
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)


def lambda_entry(
    app: APIGatewayHttpResolver, *, writes: bool = False
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of a family: Powertools logging context, metrics and tracing around resolve,
    the invocation's deadline, the tenant's limits, and the one response path every answer takes.

    With ``writes``, a write request (``error_answers.WRITE_METHODS``) whose token lacks the write
    scope is answered 403 ``insufficient_scope`` before routing: authorization comes before
    validation, as at API Gateway, so a bad parameter never answers before the missing scope does.
    """

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        hints = begin_invocation()
        render = late_error_renderer(app)
        # The tenant's count runs beside the route's own storage calls (docs/limits.md).
        with invocation_deadline(context), invocation_gate(event) as gate:
            refused = gate.refused() if gate is not None else None
            missing_scope = missing_write_scope(event) if writes and refused is None else None
            if refused is not None:
                result = render(refused)
            elif missing_scope is not None:
                result = fit_result(event, refusal(event, missing_scope), render, hints)
            else:
                try:
                    routed = routing_event(strict_query(event))
                except QueryNotUtf8 as exc:
                    answer = not_utf8_answer(exc)
                else:
                    answer = traced(app)(routed, context)
                result = fit_result(event, answer, render, hints)
            if gate is not None:
                result = gate.finish(result, render)
        _log_request(event, int(result.get("statusCode", 500)), started)
        return result

    return handler
