"""Powertools Logger, Metrics and Tracer shared by every function.

Service name, log level and namespaces come from the POWERTOOLS_* variables that
template.yaml sets in Globals; nothing here reads configuration of our own.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger(service="etl-artifacts")
metrics = Metrics(namespace="EtlArtifacts", service="etl-artifacts")


@lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    """X-Ray tracer, created on first use so that importing a handler stays cheap.

    ``auto_patch=False``: patching botocore would import it into functions that never use it.
    """
    from aws_lambda_powertools import Tracer

    return Tracer(service="etl-artifacts", auto_patch=False)
