"""The one error taxonomy (docs/api.md Errors).

Drivers' exceptions are wrapped once: S3 and parquet failures by ``etl_artifacts.storage_errors``,
Postgres failures by ``etl_artifacts.postgres.db``; ``etl_artifacts.api.error_answers`` maps every ApiError
to its HTTP answer in one place. Messages are fixed human texts: driver text, SQL, bucket names and
URLs never reach ``detail``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel


class ErrorResponse(BaseModel):
    detail: str
    code: str
    status: int
    request_id: str


class TooLargeResponse(ErrorResponse):
    """413 ``response_too_large`` of a page: ``max_limit`` is the largest ``limit`` that fits."""

    max_limit: int | None = None


class ThrottledResponse(ErrorResponse):
    """429 ``rate_limited`` / ``too_many_scans``: the seconds to wait, as in ``Retry-After``."""

    retry_after_seconds: int


class ValidationErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    detail: list[ValidationErrorItem]


class ApiError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_detail: ClassVar[str] = "Internal error."
    # Seconds a client should wait before trying again (sent as Retry-After), when it helps: the
    # class's default, or the moment's (a deadline, a limit) given when raised.
    retry_after: int | None = None

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        self.detail = detail or self.default_detail
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.detail)

    def body(self, request_id: str) -> dict[str, Any]:
        return ErrorResponse(
            detail=self.detail, code=self.code, status=self.status, request_id=request_id
        ).model_dump()

    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides the common ones (e.g. ``WWW-Authenticate``)."""
        return {}


class Unauthorized(ApiError):
    """401 with the rule the token failed (one of ``auth.TOKEN_RULES``, a fixed text), sent as
    ``WWW-Authenticate: Bearer error="invalid_token", error_description="..."`` (RFC 6750 section 3)."""

    status = 401
    code = "unauthorized"
    default_detail = "Missing or invalid bearer token."
    # A function's own refusal: the authorizer context lacks a usable claim.
    default_rule = "a token claim is missing or invalid"

    def __init__(self, rule: str | None = None) -> None:
        self.rule = rule or self.default_rule
        super().__init__(f"Missing or invalid bearer token: {self.rule}.")

    @property
    def challenge(self) -> str:
        return f'Bearer error="invalid_token", error_description="{self.rule}"'

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.challenge}


class NotFound(ApiError):
    status = 404
    code = "not_found"
    default_detail = "Not found."


class RunNotFound(NotFound):
    code = "run_not_found"
    default_detail = "Run not found."


class ArtifactNotFound(NotFound):
    code = "artifact_not_found"
    default_detail = "Artifact not found."


class PhaseNotFound(NotFound):
    code = "phase_not_found"
    default_detail = "Phase attempt not found."


class InvalidDateRange(ApiError):
    status = 422
    code = "invalid_date_range"
    default_detail = "date_from must be on or before date_to, at most 366 days apart."


class UnknownArtifactKind(ApiError):
    status = 422
    code = "unknown_artifact_kind"
    default_detail = "Unknown artifact kind."


class UnknownColumn(ApiError):
    """A ``columns`` name the attempt's data does not have (docs/api.md)."""

    status = 422
    code = "unknown_column"
    default_detail = "Unknown column: every name in `columns` must be a column of the attempt's data."


class InvalidContinuationToken(ApiError):
    status = 422
    code = "invalid_continuation_token"
    default_detail = "The continuation token is invalid for this request."


class ResponseTooLarge(ApiError):
    """The answer does not fit Lambda's response payload, even compressed (docs/limits.md)."""

    status = 413
    code = "response_too_large"
    default_detail = "The answer is too large for one response."

    def __init__(self, detail: str | None = None, *, max_limit: int | None = None) -> None:
        super().__init__(detail)
        self.max_limit = max_limit

    def body(self, request_id: str) -> dict[str, Any]:
        body = super().body(request_id)
        if self.max_limit is not None:
            body["max_limit"] = self.max_limit
        return body


class DeadlineExceeded(ApiError):
    """The work cannot finish before the function's Timeout; ``retry_after`` seconds (docs/limits.md)."""

    status = 503
    code = "deadline_exceeded"
    default_detail = "The request could not be answered in time; retry after the time in Retry-After."
    retry_after = 10


class TooExpensive(ApiError):
    """The data would decode to more than ``DECODE_MAX_BYTES`` (docs/limits.md): not retried."""

    status = 422
    code = "too_expensive"
    default_detail = (
        "The data decodes to more memory than one request may use; download the artifact "
        "instead (GET .../artifacts/{artifact_kind}/download)."
    )


class RateLimited(ApiError):
    """The tenant is over one of its limits (docs/limits.md); retry after ``retry_after`` seconds."""

    status = 429
    code = "rate_limited"
    default_detail = "Too many requests for this tenant; retry after the time in Retry-After."
    retry_after = 1

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(detail, retry_after=None if retry_after is None else max(1, retry_after))

    def body(self, request_id: str) -> dict[str, Any]:
        return {**super().body(request_id), "retry_after_seconds": self.retry_after}


class TooManyScans(RateLimited):
    """The tenant's concurrent expensive requests: a limit like the rate, with its own code."""

    code = "too_many_scans"
    default_detail = (
        "Too many expensive requests (scans without a current index, filtered logs over several chunks) "
        "of this tenant are running; retry after the time in Retry-After."
    )


class InvalidCursor(ApiError):
    status = 422
    code = "invalid_cursor"
    default_detail = "The cursor is invalid for this request (tenant, run and limit)."


class StorageError(ApiError):
    status = 502
    code = "storage_error"
    default_detail = "The artifact store could not be read."


class DatabaseError(ApiError):
    status = 502
    code = "database_error"
    default_detail = "The run database could not be queried."


class DatabaseBusy(DatabaseError):
    """Postgres has no connection slot free (too many clients): a retry soon may succeed."""

    default_detail = "The run database is busy; retry shortly."
    retry_after = 2


class InternalError(ApiError):
    status = 500
    code = "internal_error"
    default_detail = "Internal error."


class SigningFailed(InternalError):
    """KMS could not sign a seal (or give its public key): a 500 the client may retry."""

    default_detail = "The manifest could not be signed; retry later."


class ConfigurationError(RuntimeError):
    """The environment does not describe a usable configuration (the deployment's fault, not the
    request's): never an ``ApiError``, since its message names variables that no answer may carry."""


# -- The write side: uploaded artifacts (docs/uploads.md) -------------------------------------------


class InsufficientScope(ApiError):
    """The token is valid but lacks the write scope; sent with ``WWW-Authenticate`` (RFC 6750 §3.1)."""

    status = 403
    code = "insufficient_scope"
    default_detail = "The token does not carry the scope this operation needs."

    def __init__(self, scope: str, detail: str | None = None) -> None:
        super().__init__(detail or f"This operation needs the scope {scope!r} in the token's scope claim.")
        self.scope = scope

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{self.scope}"'}


class ArtifactAlreadyExists(ApiError):
    status = 409
    code = "artifact_already_exists"
    default_detail = "The run already has an artifact with this name."


class RunArtifactLimit(ApiError):
    status = 409
    code = "run_artifact_limit"
    default_detail = "The run holds the most artifacts it may hold."


class UploadIncomplete(ApiError):
    status = 409
    code = "upload_incomplete"
    default_detail = "The artifact's bytes have not been uploaded yet: PUT them to the upload URL first."


class ArtifactDeleted(ApiError):
    status = 410
    code = "artifact_deleted"
    default_detail = "The artifact was deleted."

    def __init__(self, detail: str | None = None, *, restorable_until: str | None = None) -> None:
        super().__init__(detail)
        self.restorable_until = restorable_until

    def body(self, request_id: str) -> dict[str, Any]:
        body = super().body(request_id)
        body["restorable_until"] = self.restorable_until
        return body


class ArtifactExpired(ApiError):
    status = 410
    code = "artifact_expired"
    default_detail = "The artifact has expired."


class ChecksumMismatch(ApiError):
    status = 422
    code = "checksum_mismatch"
    default_detail = "The bytes do not match the declared size and SHA-256."


class IdempotencyKeyReused(ApiError):
    status = 422
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with another request body."


class TtlExceedsLimit(ApiError):
    status = 422
    code = "ttl_exceeds_limit"
    default_detail = "ttl_days is past the longest lifetime allowed (ARTIFACT_MAX_TTL_DAYS)."


# -- the artifact lifecycle (docs/lifecycle.md) ----------------------------------------------------


class LinkNotFound(NotFound):
    """One answer for every link that does not lead to bytes: unknown, expired, revoked, used up,
    or whose artifact is no longer active (nothing tells them apart)."""

    code = "link_not_found"
    default_detail = "Link not found."


class RunNotSealed(NotFound):
    code = "run_not_sealed"
    default_detail = "The run is not sealed."


class RunSealed(ApiError):
    status = 409
    code = "run_sealed"
    default_detail = "The run is sealed: its artifacts can no longer be created, deleted or restored."


class LinkLimit(ApiError):
    status = 409
    code = "link_limit"
    default_detail = "The tenant holds as many active share links as allowed; revoke one first."


# -- Failures handled inside the code: each becomes an answer above (or none) where it is caught ----


class QueryNotUtf8(ValueError):
    """A query name or value whose percent-decoded bytes are not UTF-8 (``name`` None when the
    name itself is not)."""

    def __init__(self, name: str | None) -> None:
        super().__init__("query string is not UTF-8")
        self.name = name


class TokenRejected(ValueError):
    """Not a token this API issued for this scope (malformed, forged, altered or replayed)."""


class UnreadableEvent(ValueError):
    """The message is not JSON or not an object (a permanent error: it never will be)."""


class LimitStoreError(Exception):
    """DynamoDB could not be reached or refused the call (not a limit: the caller fails open)."""


class ManifestInvalid(Exception):
    """The seal does not verify with the key (changed manifest, other key, malformed seal)."""
