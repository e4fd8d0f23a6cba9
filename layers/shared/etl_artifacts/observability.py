"""Powertools Logger, Metrics and Tracer shared by every function.

Service name, log level and namespaces come from the POWERTOOLS_* variables that
template.yaml sets in Globals; nothing here reads configuration of our own.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer
    from aws_lambda_powertools.metrics import MetricResolution, MetricUnit


def log_json(record: Any) -> str:
    """Powertools' JSON (compact, non-ASCII kept readable) that can always be written: a lone
    surrogate (e.g. from a JSON ``"\\ud800"`` escape) becomes its ``\\uXXXX`` escape instead of
    failing the UTF-8 stream with a ``--- Logging error ---`` and a stack on stderr."""
    text = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


logger = Logger(service="etl-artifacts", json_serializer=log_json)


class _Metrics(Metrics):
    """Powertools' Metrics that adds nothing while POWERTOOLS_METRICS_DISABLED is set: Powertools
    skips the flush then but keeps the values, and prints every 100th one to stdout regardless
    (into the output of whatever shares the process: a local ``invoke``, a test's captured stdout)."""

    def add_metric(
        self, name: str, unit: MetricUnit | str, value: float, resolution: MetricResolution | int = 60
    ) -> None:
        if not is_metrics_disabled():
            super().add_metric(name=name, unit=unit, value=value, resolution=resolution)


metrics = _Metrics(namespace="EtlArtifacts", service="etl-artifacts")


@lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    """X-Ray tracer, created on first use so that importing a handler stays cheap.

    ``auto_patch=False``: patching botocore would import it into functions that never use it.
    """
    from aws_lambda_powertools import Tracer

    return Tracer(service="etl-artifacts", auto_patch=False)


def tracing_enabled() -> bool:
    """Trace only inside Lambda and when not disabled: outside it, importing the X-Ray SDK is pure cost."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")
    return not disabled and "AWS_LAMBDA_FUNCTION_NAME" in os.environ
