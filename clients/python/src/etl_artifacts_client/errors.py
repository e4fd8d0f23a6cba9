"""The client's exceptions: one base class, the API's answers carry its ``code`` and ``status``.

``str()`` of every exception is one line that is safe to print: never a token, a presigned URL or
a query string.
"""

from __future__ import annotations

from typing import Any

# 422 codes that say the request was asked wrongly (not that the work failed).
USAGE_CODES = frozenset({"validation_error", "invalid_date_range", "unknown_column", "unknown_artifact_kind"})


class ClientError(Exception):
    """Base class of everything this package raises on purpose."""


class ApiError(ClientError):
    """The API answered an error (its ``ErrorResponse``, or a validation error's ``detail`` list).

    ``code`` is the API's stable code (``run_not_found``, ``unauthorized``...; ``validation_error``
    for a 422 that names the parameters), ``status`` the HTTP status, ``body`` the parsed answer.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body or {}

    @property
    def is_auth(self) -> bool:
        """The token was refused (401) or lacks a scope (403)."""
        return self.status in (401, 403)

    @property
    def is_usage(self) -> bool:
        """A parameter the API refused (a malformed one, a date range, an unknown column or kind)."""
        return self.code in USAGE_CODES


class ConnectionFailed(ClientError):
    """The API could not be reached (refused, DNS, TLS, timeout) after the allowed retries."""


class UnexpectedResponse(ClientError):
    """The API answered 2xx with something that is not what the route promises."""


class UnsafeKey(ClientError):
    """A listed key that must not become a local path (absolute, ``..``, a drive, a backslash...)."""


class ListingError(ClientError):
    """A listing that cannot be trusted: a cursor or key seen twice, or more pages than allowed."""


class VerificationError(ClientError):
    """Bytes or a signature that do not match what they claim (size, MD5, SHA-256, ECDSA)."""


class MissingExtra(ClientError):
    """An optional dependency this call needs is not installed; ``str()`` names the extra."""
