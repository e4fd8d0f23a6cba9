"""Secrets read at run time from Secrets Manager with Powertools Parameters, cached per warm function.

In AWS the functions get secret ARNs (``JWT_SECRET_ARN``, ``CURSOR_SECRET_ARN``, ``DB_SECRET_ARN``),
never secret values: a value in the function's environment is readable by anyone allowed
``lambda:GetFunctionConfiguration`` and survives a rotation until the next deploy. Powertools caches
each value for ``SECRET_MAX_AGE_S`` seconds, so a rotated secret is picked up within that time
without one Secrets Manager call per request. Locally the plain variables (``JWT_SECRET``,
``CURSOR_SECRET``, ``DATABASE_URL``) are used instead and nothing here runs.
"""

from __future__ import annotations

from typing import Any, Literal

from etl_artifacts.errors import ConfigurationError
from etl_artifacts.observability import logger

# Rotation reaches a warm function within this many seconds.
SECRET_MAX_AGE_S = 300


def secret_string(arn: str) -> str:
    """The SecretString of ``arn`` (cached); ``ConfigurationError`` when it cannot be read."""
    value = _get_secret(arn, transform=None)
    if not isinstance(value, str) or not value:
        raise ConfigurationError("a configured secret is empty or not a SecretString")
    return value


def secret_json(arn: str) -> dict[str, Any]:
    """The SecretString of ``arn`` parsed as a JSON object (e.g. the RDS secret shape), cached."""
    value = _get_secret(arn, transform="json")
    if not isinstance(value, dict):
        raise ConfigurationError("a configured secret is not a JSON object")
    return value


def _get_secret(arn: str, transform: Literal["json"] | None) -> Any:
    from aws_lambda_powertools.utilities import parameters

    try:
        if transform == "json":
            return parameters.get_secret(arn, transform="json", max_age=SECRET_MAX_AGE_S)
        return parameters.get_secret(arn, max_age=SECRET_MAX_AGE_S)
    except parameters.exceptions.GetParameterError as exc:
        # The error type only: the message names the secret (and the cause may hold more).
        logger.error("secret unavailable", extra={"error_type": type(exc.__cause__ or exc).__name__})
        raise ConfigurationError("a configured secret could not be read") from None
    except parameters.exceptions.TransformParameterError:
        raise ConfigurationError("a configured secret is not valid JSON") from None


def reset_secret_cache() -> None:
    """Forget cached values and Powertools' provider (and its client): tests, configuration changes."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
