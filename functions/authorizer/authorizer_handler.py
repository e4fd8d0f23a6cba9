"""AuthorizerFunction: API Gateway HTTP API Lambda REQUEST authorizer (simple responses)."""

from typing import Any

from etl_artifacts import snapstart
from etl_artifacts.auth import authorizer_response


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return authorizer_response(event)


snapstart.enable([snapstart.prime_jwt])
