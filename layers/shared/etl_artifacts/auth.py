"""Bearer JWT verification (docs/security.md) and the API Gateway REQUEST authorizer logic.

pyjwt does the cryptography and the registered-claim checks; this module only chooses the
key and the allowed algorithm family from the configuration, refuses header or payload JSON
that repeats a key (before pyjwt parses it), and checks the company claim. Every refusal names
the rule that failed (``TOKEN_RULES``, fixed texts; see docs/security.md), never a value.
"""

from __future__ import annotations

import binascii
import json
import math
import time
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jwt
from jwt.utils import base64url_decode

from etl_artifacts.config import Settings, get_settings
from etl_artifacts.errors import Unauthorized
from etl_artifacts.principal import Principal

HS_ALGORITHMS = ["HS256"]
ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"]
# Bounded work per request: a token larger than this is refused before any parsing.
MAX_TOKEN_BYTES = 8192
# Longest company or sub claim accepted (a tenant id is a short identifier; an S3 key is at most
# 1,024 bytes in all). A longer one is refused without being logged.
MAX_CLAIM_CHARS = 256
# Unicode categories never accepted in a claim: Cc controls (C0, DEL, C1), Cf format characters
# (zero-width, bidi overrides), Cs lone surrogates, Co private use, Cn unassigned, Zl/Zp separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# Why a token is refused: the ``error_description`` of the 401 (RFC 6750 section 3), fixed texts
# that never hold the token or a claim value.
MISSING = "no bearer token"
MALFORMED = "the token is malformed"
DUPLICATE_KEY = "the token header or payload repeats a key"
ALGORITHM = "the token algorithm is not accepted"
SIGNATURE = "the token signature could not be verified"
EXPIRED = "the token has expired"
NOT_YET_VALID = "the token is not yet valid"
ISSUER = "the token issuer is not accepted"
AUDIENCE = "the token audience is not accepted"
CLAIM = Unauthorized.default_rule
LIFETIME = "the token lifetime exceeds the maximum"
TOKEN_RULES = frozenset(
    {
        MISSING,
        MALFORMED,
        DUPLICATE_KEY,
        ALGORITHM,
        SIGNATURE,
        EXPIRED,
        NOT_YET_VALID,
        ISSUER,
        AUDIENCE,
        CLAIM,
        LIFETIME,
    }
)
# pyjwt's exceptions, most specific first (InvalidSignatureError is a DecodeError).
_PYJWT_RULES: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, EXPIRED),
    (jwt.ImmatureSignatureError, NOT_YET_VALID),
    (jwt.InvalidIssuerError, ISSUER),
    (jwt.InvalidAudienceError, AUDIENCE),
    (jwt.InvalidAlgorithmError, ALGORITHM),
    (jwt.InvalidSignatureError, SIGNATURE),
    (jwt.InvalidKeyError, SIGNATURE),
    (jwt.PyJWKClientError, SIGNATURE),
    (jwt.PyJWKError, SIGNATURE),
    (jwt.PyJWKSetError, SIGNATURE),
    (jwt.DecodeError, MALFORMED),
    (jwt.InvalidTokenError, CLAIM),
)


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    # PyJWKClient caches the key set and each signing key; one client per warm function.
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized(MISSING)
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(MISSING)
    if " " in token or len(token) > MAX_TOKEN_BYTES:
        raise Unauthorized(MALFORMED)
    return token


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey()
    return result


def refuse_duplicate_keys(token: str) -> None:
    """Unauthorized when the header or payload JSON repeats a key, at any depth.

    pyjwt parses them with ``json.loads``, where the last duplicate wins: a token could carry two
    company claims that different parsers read differently. RFC 7515 and RFC 7519 (section 4 of
    each) let a recipient refuse such a token; the segments are decoded exactly as pyjwt does.
    """
    segments = token.split(".")
    if len(segments) != 3:
        raise Unauthorized(MALFORMED)
    for segment in segments[:2]:
        try:
            json.loads(base64url_decode(segment), object_pairs_hook=_unique_keys)
        except _DuplicateKey:
            raise Unauthorized(DUPLICATE_KEY) from None
        except (ValueError, binascii.Error):
            raise Unauthorized(MALFORMED) from None


def _rule(exc: Exception) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return {"iss": ISSUER, "aud": AUDIENCE}.get(exc.claim, CLAIM)
    return next((rule for kind, rule in _PYJWT_RULES if isinstance(exc, kind)), MALFORMED)


def verify_token(token: str, settings: Settings | None = None) -> Principal:
    settings = settings or get_settings()
    refuse_duplicate_keys(token)
    try:
        if settings.jwt_jwks_url:
            algorithms = ASYMMETRIC_ALGORITHMS
            key: Any = _jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(token).key
        elif settings.has_jwt_secret:
            algorithms = HS_ALGORITHMS
            key = settings.jwt_key()
        else:
            raise Unauthorized(SIGNATURE)  # no key configured: nothing can be verified
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
        raise Unauthorized(_rule(exc)) from exc
    if settings.jwt_audience is None and "aud" in claims:
        # RFC 7519 4.1.3: a recipient that cannot identify itself in ``aud`` must reject the token;
        # without JWT_AUDIENCE this API has no identity, so a token minted for some audience
        # (maybe another service) is not accepted here.
        raise Unauthorized(AUDIENCE)

    company = claims.get(settings.jwt_company_claim)
    # bool is an int subclass: a boolean claim is not a company.
    if isinstance(company, bool) or not isinstance(company, (str, int)):
        raise Unauthorized(CLAIM)
    company_text = exact_claim(str(company))
    sub = claims.get("sub")
    if sub is not None and not isinstance(sub, str):
        raise Unauthorized(CLAIM)
    sub_text = "" if sub is None else exact_claim(sub)
    expires_at = _expiry(claims, settings)
    return Principal(id_company=company_text, sub=sub_text, expires_at=expires_at, scopes=_scopes(claims))


def _scopes(claims: dict[str, Any]) -> tuple[str, ...]:
    """The ``scope`` claim (a space-separated string, RFC 9068 / RFC 8693); any other shape grants
    nothing (the token still reads: only writes need a scope)."""
    scope = claims.get("scope")
    if not isinstance(scope, str):
        return ()
    return tuple(dict.fromkeys(part for part in scope.split(" ") if part))


def exact_claim(value: str) -> str:
    """A claim taken exactly as written (never trimmed or normalized), or Unauthorized.

    Refused: empty, longer than ``MAX_CLAIM_CHARS``, leading or trailing whitespace, any character
    of the categories in ``REFUSED_CATEGORIES`` (controls, format characters, lone surrogates,
    private use, unassigned, line and paragraph separators), and ``/``, ``.``, ``..``, which
    would let a company name escape its S3 prefix. The value is never logged.
    """
    if not value or len(value) > MAX_CLAIM_CHARS or value != value.strip():
        raise Unauthorized(CLAIM)
    if "/" in value or value in (".", ".."):
        raise Unauthorized(CLAIM)
    if any(unicodedata.category(char) in REFUSED_CATEGORIES for char in value):
        raise Unauthorized(CLAIM)
    return value


def _expiry(claims: dict[str, Any], settings: Settings) -> datetime:
    """``exp`` as a time: a JSON number (pyjwt also takes ``"123"`` or ``true``), finite, and at
    most ``JWT_MAX_LIFETIME_S`` (plus the leeway) ahead, so a leaked long-lived token is refused."""
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise Unauthorized(CLAIM)
    exp = claims["exp"]
    if not math.isfinite(exp):
        raise Unauthorized(CLAIM)
    if exp - time.time() > settings.jwt_max_lifetime_s + settings.jwt_leeway_s:
        raise Unauthorized(LIFETIME)
    return datetime.fromtimestamp(int(exp), tz=UTC)


def authorize_request(headers: dict[str, str] | None) -> Principal:
    """Verify the Authorization header of a request (header names lower-cased)."""
    headers = headers or {}
    authorization = headers.get("authorization")
    return verify_token(bearer_token(authorization))


def authorizer_response(event: dict[str, Any]) -> dict[str, Any]:
    """HTTP API Lambda authorizer, payload format 2.0 with simple responses.

    A refusal names its rule in ``context.error_description``: API Gateway ignores the context
    of a refusal (its answer is a bare 403), the local gateway turns it into the 401's
    ``WWW-Authenticate``; the rule is also logged (never the token).
    """
    try:
        principal = authorize_request(event.get("headers"))
    except Unauthorized as exc:
        # Imported on a refusal only: Powertools' logger would add ~12 ms to every cold start.
        from etl_artifacts.observability import logger

        logger.info("token refused", extra={"rule": exc.rule})
        return {"isAuthorized": False, "context": {"error_description": exc.rule}}
    return {"isAuthorized": True, "context": principal.as_context()}
