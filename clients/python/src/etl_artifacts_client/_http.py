"""One HTTP session with the API: the bearer token, bounded retries, errors as exceptions.

Retries: a 429 or 503 is tried again after its ``Retry-After`` (seconds or an HTTP date; the
body's ``retry_after_seconds`` otherwise), up to ``retries`` times and never waiting longer than
``max_wait`` at once; a connection that fails before any byte was sent, and a 502/504 answer to a
GET, are tried again with a short exponential backoff. Nothing else is retried: a request that
may have been applied is never silently repeated (creates carry an ``Idempotency-Key``).

The token goes to the API only: presigned URLs (S3) are fetched with a second client that sends
no ``Authorization`` header and follows no redirect.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

from etl_artifacts_client._version import __version__
from etl_artifacts_client.errors import ApiError, ConnectionFailed, UnexpectedResponse

USER_AGENT = f"etl-artifacts-client/{__version__}"
CONNECT_TIMEOUT_S = 5.0  # an unreachable API fails fast
READ_TIMEOUT_S = 60.0
RETRY_STATUSES = frozenset({429, 503})
GET_RETRY_STATUSES = frozenset({502, 504})
BACKOFF_S = 0.25
CONNECT_RETRIES = 2


def api_root(url: str) -> str:
    """The API root: ``http://host:3000`` becomes ``http://host:3000/api/v1``; no trailing slash."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("the API URL must be an http:// or https:// URL, e.g. http://127.0.0.1:3000/api/v1")
    return url if parts.path not in ("", "/") else url + "/api/v1"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at each call: tests replace time.sleep


def error_from(response: httpx.Response) -> ApiError:
    """The API's error answer as an exception (ErrorResponse or a validation ``detail`` list)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ApiError(response.status_code, "http_error", response.reason_phrase or "error")
    detail = body.get("detail")
    code = body.get("code")
    if isinstance(detail, list):  # parameter validation: name the parameters, not their values
        names = []
        for item in detail:
            loc = [str(part) for part in (item.get("loc") or []) if part not in ("query", "path", "body")]
            names.append(f"{'.'.join(loc) or 'request'} ({item.get('msg', 'invalid')})")
        detail, code = "invalid " + "; ".join(names), code or "validation_error"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is None and isinstance(body.get("retry_after_seconds"), (int, float)):
        retry_after = float(body["retry_after_seconds"])
    return ApiError(
        response.status_code,
        str(code or "http_error"),
        str(detail or response.reason_phrase or "error"),
        request_id=body.get("request_id"),
        retry_after=retry_after,
        body=body,
    )


class Transport:
    """The API session (token, retries) and a token-less session for presigned URLs."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        retries: int = 4,
        max_wait: float = 60.0,
        timeout: float = READ_TIMEOUT_S,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_root(api_url)
        self.retries = retries
        self.max_wait = max_wait
        self.sleep = sleep if sleep is not None else _sleep
        timeouts = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S)
        self._api = httpx.Client(
            headers={"Authorization": f"Bearer {token.strip()}", "User-Agent": USER_AGENT},
            timeout=timeouts,
            follow_redirects=False,
            transport=transport,
        )
        # Presigned URLs: no token, no redirects (a redirect must never take bytes elsewhere).
        self.storage = httpx.Client(
            headers={"User-Agent": USER_AGENT}, timeout=timeouts, follow_redirects=False, transport=transport
        )

    def close(self) -> None:
        self._api.close()
        self.storage.close()

    def url(self, path: str) -> str:
        return self.api_url + path

    def _wait(self, attempt: int, error: ApiError | None, limit: int | None = None) -> bool:
        """Sleep before try ``attempt + 1``; False when no try is left (or the wait is too long)."""
        if attempt >= min(self.retries, limit if limit is not None else self.retries):
            return False
        delay = BACKOFF_S * 2**attempt
        if error is not None and error.retry_after is not None:
            if error.retry_after > self.max_wait:
                return False
            delay = max(error.retry_after, 0.0)
        self.sleep(delay)
        return True

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send to the API and read the whole answer; an answer outside ``ok`` raises ``ApiError``."""
        query = {name: value for name, value in (params or {}).items() if value is not None}
        attempt = 0
        while True:
            try:
                response = self._api.request(method, self.url(path), params=query, headers=headers, json=json)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing listens there: a couple of quick tries, then say so (fail fast).
                if self._wait(attempt, None, limit=CONNECT_RETRIES):
                    attempt += 1
                    continue
                raise ConnectionFailed(self._unreachable(exc)) from None
            except httpx.TransportError as exc:
                # The request may have reached the server: only reads are repeated.
                if method == "GET" and self._wait(attempt, None):
                    attempt += 1
                    continue
                raise ConnectionFailed(self._unreachable(exc)) from None
            if response.status_code in ok:
                return response
            error = error_from(response)
            retryable = response.status_code in RETRY_STATUSES or (
                method == "GET" and response.status_code in GET_RETRY_STATUSES
            )
            if retryable and self._wait(attempt, error):
                attempt += 1
                continue
            raise error

    def get_json(self, path: str, **params: Any) -> dict[str, Any]:
        return self.json_of(self.request("GET", path, params=params))

    @staticmethod
    def json_of(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise UnexpectedResponse(
                f"the API answered {response.status_code} with something that is not JSON"
            ) from None
        if not isinstance(body, dict):
            raise UnexpectedResponse("the API answered JSON that is not an object")
        return body

    def _unreachable(self, exc: Exception) -> str:
        parts = urlsplit(self.api_url)
        return f"cannot reach the API at {parts.scheme}://{parts.netloc} ({type(exc).__name__})"

    @contextmanager
    def stream_storage(self, url: str, headers: Mapping[str, str]) -> Iterator[httpx.Response]:
        """A streamed GET of a presigned URL (no token sent)."""
        with self.storage.stream("GET", url, headers=dict(headers)) as response:
            yield response
