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

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


def log_json(record: Any) -> str:
    """Powertools' JSON (compact, non-ASCII kept readable) that can always be written: a lone
    surrogate (e.g. from a JSON ``"\\ud800"`` escape) becomes its ``\\uXXXX`` escape instead of
    failing the UTF-8 stream with a ``--- Logging error ---`` and a stack on stderr."""
    text = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


logger = Logger(service="etl-artifacts", json_serializer=log_json)
metrics = Metrics(namespace="EtlArtifacts", service="etl-artifacts")


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
