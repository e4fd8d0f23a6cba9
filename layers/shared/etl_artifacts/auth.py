"""Bearer JWT verification (CONTRACT §5) and the API Gateway REQUEST authorizer logic.

pyjwt does the cryptography and the registered-claim checks; this module only chooses the
key and the allowed algorithm family from the configuration and checks the company claim.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jwt

from etl_artifacts.config import Settings, get_settings
from etl_artifacts.errors import Unauthorized
from etl_artifacts.principal import Principal

HS_ALGORITHMS = ["HS256"]
ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"]
# Bounded work per request: a token larger than this is refused before any parsing.
MAX_TOKEN_BYTES = 8192


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    # PyJWKClient caches the key set and each signing key; one client per warm function.
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized()
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized()
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthorized()
    return token


def verify_token(token: str, settings: Settings | None = None) -> Principal:
    settings = settings or get_settings()
    try:
        if settings.jwt_jwks_url:
            algorithms = ASYMMETRIC_ALGORITHMS
            key: Any = _jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(token).key
        elif settings.has_jwt_secret:
            algorithms = HS_ALGORITHMS
            key = settings.jwt_key()
        else:
            raise Unauthorized()
        claims = jwt.decode(
            token,
            key=key,
            algorithms=algorithms,
            leeway=settings.jwt_leeway_s,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={
                "require": ["exp"],
                "verify_aud": settings.jwt_audience is not None,
                "verify_iss": settings.jwt_issuer is not None,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise Unauthorized() from exc

    company = claims.get(settings.jwt_company_claim)
    # bool is an int subclass: a boolean claim is not a company.
    if isinstance(company, bool) or not isinstance(company, (str, int)):
        raise Unauthorized()
    company_text = str(company).strip()
    if not company_text or "/" in company_text or company_text in (".", ".."):
        # '/' or a dot segment would let a company name escape its S3 prefix.
        raise Unauthorized()
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in company_text):
        # Control characters have no place in a tenant id (S3 keys, log lines).
        raise Unauthorized()
    sub = claims.get("sub")
    try:
        expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        # A signed but absurd exp (beyond year 9999) is refused, not a crash of the authorizer.
        raise Unauthorized() from exc
    return Principal(id_company=company_text, sub=str(sub) if sub is not None else "", expires_at=expires_at)


def authorize_request(headers: dict[str, str] | None) -> Principal:
    """Verify the Authorization header of a request (header names lower-cased)."""
    headers = headers or {}
    authorization = headers.get("authorization")
    return verify_token(bearer_token(authorization))


def authorizer_response(event: dict[str, Any]) -> dict[str, Any]:
    """HTTP API Lambda authorizer, payload format 2.0 with simple responses."""
    try:
        principal = authorize_request(event.get("headers"))
    except Unauthorized:
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": principal.as_context()}
