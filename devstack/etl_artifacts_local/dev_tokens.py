"""Development tokens: HS256 JWTs the local API accepts (``etl-artifacts token``, ``make dev``).

The imports are inside the function: the command parser imports this module for every command.
"""

from __future__ import annotations

import time
from typing import Any


def issue_token(company: str, sub: str = "local-user", ttl: int = 3600, scope: str | None = None) -> str:
    """An HS256 JWT signed with JWT_SECRET (plus JWT_ISSUER/JWT_AUDIENCE when set, and the ``scope``
    claim when given, e.g. ``artifacts:write`` for writes): `token` and `dev`."""
    import jwt
    from etl_artifacts.config import get_settings
    from etl_artifacts.errors import ConfigurationError

    settings = get_settings()
    if not settings.has_jwt_secret:
        raise ConfigurationError("JWT_SECRET (or JWT_SECRET_ARN) is not set")
    now = int(time.time())
    claims: dict[str, Any] = {
        settings.jwt_company_claim: company,
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if scope:
        claims["scope"] = scope
    return jwt.encode(claims, settings.jwt_key(), algorithm="HS256")
