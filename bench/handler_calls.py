"""The real function handlers, invoked in-process with API Gateway HTTP API (payload v2) events."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bench.dataset import BENCH_COMPANY

if TYPE_CHECKING:
    from etl_artifacts.s3.layout import RunRef

API_PREFIX = "/api/v1"


# -- real handlers, in-process -----------------------------------------------------------------
def http_event(
    route_path: str,
    raw_path: str,
    path_params: dict[str, str],
    query: dict[str, str] | None,
    company: str = BENCH_COMPANY,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload v2) event, as the local gateway builds it, with the
    authorizer context already attached (the authorizer is not what these benchmarks measure)."""
    from urllib.parse import unquote, urlencode

    raw_query = urlencode(query or {})
    now_ms = int(time.time() * 1000)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"GET {route_path}",
        # Decoded once, as API Gateway hands it over (docs/limits.md).
        "rawPath": unquote(raw_path),
        "rawQueryString": raw_query,
        "headers": {"host": "bench.local", "user-agent": "etl-artifacts-bench", **(headers or {})},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": "bench.local",
            "domainPrefix": "bench",
            "http": {
                "method": "GET",
                "path": unquote(raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "etl-artifacts-bench",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"GET {route_path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
            "authorizer": {
                "lambda": {"id_company": company, "sub": "bench", "expires_at": "2099-01-01T00:00:00+00:00"}
            },
        },
        "pathParameters": {key: unquote(value) for key, value in path_params.items()},
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = {key: str(value) for key, value in query.items()}
    return event


def run_path(run: RunRef) -> str:
    """``/api/v1/dags/{dag_id}/runs/{date}/{run_id}`` with the run id percent-encoded once."""
    return f"{API_PREFIX}/dags/{run.dag_id}/runs/{run.run_date.isoformat()}/{quote(run.run_id, safe='')}"


def phase_data_event(run: RunRef, phase: str, query: dict[str, Any]) -> dict[str, Any]:
    """GET .../phases/{phase}/data with ``query`` (page, limit, keyword, attempt)."""
    route = f"{API_PREFIX}/dags/{{dag_id}}/runs/{{date}}/{{run_id}}/phases/{{phase}}/data"
    raw_path = f"{run_path(run)}/phases/{phase}/data"
    params = {
        "dag_id": str(run.dag_id),
        "date": run.run_date.isoformat(),
        "run_id": quote(run.run_id, safe=""),
        "phase": phase,
    }
    return http_event(route, raw_path, params, {k: str(v) for k, v in query.items()})


def load_function_handler(logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
    """Import a function's handler exactly as the local runtime does (template.yaml Handler)."""
    from etl_artifacts_local.lambda_runtime import load_handler
    from etl_artifacts_local.template import load_template

    handler = load_handler(load_template().functions[logical_id])
    from etl_artifacts.observability import metrics

    def invoke(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            forget_metrics(metrics)

    return invoke


def forget_metrics(metrics: Any) -> None:
    """Metrics are disabled in the benchmarks, and Powertools then keeps every value unflushed
    until the 100th value of a metric, which it prints to stdout anyway: drop them after each
    in-process invocation so that stdout stays the result table."""
    metrics.clear_metrics()


def lambda_context(logical_id: str) -> Any:
    from etl_artifacts_local.lambda_runtime import LocalLambdaContext

    return LocalLambdaContext(function_name=logical_id)


@dataclass
class HandlerResponse:
    status: int
    headers: dict[str, str]
    body: Any

    @classmethod
    def from_result(cls, result: Any) -> HandlerResponse:
        if not isinstance(result, dict):
            return cls(500, {}, None)
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if values:
                headers[str(name).lower()] = str(values[-1])
        raw = result.get("body") or ""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return cls(int(result.get("statusCode", 500)), headers, body)

    @property
    def error_code(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("code") or self.body.get("detail") or "")[:60]
        return ""


def check_response(response: HandlerResponse) -> HandlerResponse:
    if response.status != 200:
        raise RuntimeError(f"handler answered {response.status} {response.error_code}")
    return response
