"""The resolver's entry wrapped by the X-Ray tracer when tracing is on, built once per resolver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from etl_artifacts.observability import get_tracer, tracing_enabled

_TRACED: dict[int, Callable[..., Any]] = {}


def traced(app: APIGatewayHttpResolver) -> Callable[..., Any]:
    # Built on the first invocation, not at import: creating the Tracer costs cold-start time.
    if id(app) not in _TRACED:
        _TRACED[id(app)] = (
            get_tracer().capture_lambda_handler(app.resolve) if tracing_enabled() else app.resolve
        )
    return _TRACED[id(app)]
