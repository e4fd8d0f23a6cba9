"""The API as the download command sees it: pages of a run's artifacts, and a fresh URL for one.

Every request carries the bearer token; transient failures (connection errors, 429, 5xx) are
retried a bounded number of times by urllib3 (honouring ``Retry-After``). Error messages carry the
API's ``code`` and ``detail``, never the token or a presigned URL.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0


class ApiFailure(Exception):
    """The API answered an error, or could not be reached; ``str()`` is safe to print."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Artifact:
    """One listed object, with the URL that downloads it and where in the listing it came from."""

    key: str
    size: int
    etag: str
    url: str
    expires_at: dt.datetime
    artifact_kind: str | None
    phase: str | None
    attempt: int | None
    chunk: int | None
    page_cursor: str | None  # the cursor of the page that listed it (None: the first page)

    @classmethod
    def from_item(cls, item: dict[str, Any], page_cursor: str | None) -> Artifact:
        return cls(
            key=str(item["key"]),
            size=int(item["size_bytes"]),
            etag=str(item.get("etag") or ""),
            url=str(item["url"]),
            expires_at=_parse_time(str(item["expires_at"])),
            artifact_kind=item.get("artifact_kind"),
            phase=item.get("phase"),
            attempt=item.get("attempt"),
            chunk=item.get("chunk"),
            page_cursor=page_cursor,
        )


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def retrying_session(retries: int) -> requests.Session:
    """A session whose GETs are retried on connection errors, 429 and 5xx, with backoff."""
    session = requests.Session()
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=0.5,
        backoff_max=10,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class ArtifactsApi:
    """The artifacts routes of one run. Safe to share between threads (a session per thread)."""

    def __init__(
        self, api_url: str, token: str, dag_id: str, date: str, run_id: str, retries: int = 4
    ) -> None:
        self.api_url = api_url.rstrip("/")
        # The run id is percent-encoded exactly once, as CONTRACT §4 asks of clients.
        self.run_url = f"{self.api_url}/dags/{dag_id}/runs/{date}/{quote(run_id, safe='')}"
        self._token = token
        self._retries = retries
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = retrying_session(self._retries)
            session.headers["Authorization"] = f"Bearer {self._token}"
            # A redirect to another host must not carry the token (requests drops it; make sure).
            session.max_redirects = 0
            self._local.session = session
        return session

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._session().get(
                self.run_url + path, params=params, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
            )
        except requests.RequestException as exc:
            raise ApiFailure(f"cannot reach the API at {self.api_url} ({type(exc).__name__})") from None
        if response.status_code == 200:
            try:
                body: dict[str, Any] = response.json()
            except ValueError:
                raise ApiFailure("the API answered something that is not JSON", 200) from None
            return body
        code, detail = None, str(response.reason)
        try:
            error = response.json()
            if isinstance(error, dict):
                code, detail = error.get("code"), str(error.get("detail"))
        except ValueError:
            pass
        label = f"{response.status_code} {code}" if code else str(response.status_code)
        hint = {
            401: " (check --token / ETL_ARTIFACTS_TOKEN)",
            404: " (is --api the API root, e.g. http://127.0.0.1:3000/api/v1?)"
            if code == "not_found"
            else "",
        }.get(response.status_code, "")
        raise ApiFailure(f"the API answered {label}: {detail}{hint}", response.status_code, code)

    def page(self, cursor: str | None) -> tuple[list[Artifact], str | None]:
        """One page of the listing and the cursor of the next one (None: the listing is complete)."""
        body = self._get("/artifacts", {} if cursor is None else {"cursor": cursor})
        items = [Artifact.from_item(item, cursor) for item in body.get("artifacts") or []]
        next_cursor = body.get("next_cursor")
        return items, next_cursor if isinstance(next_cursor, str) and next_cursor else None

    def pages(self) -> Iterator[list[Artifact]]:
        """Every page of the listing, in order, following ``next_cursor``."""
        cursor: str | None = None
        while True:
            items, cursor = self.page(cursor)
            yield items
            if cursor is None:
                return

    def refresh(self, artifact: Artifact) -> Artifact | None:
        """``artifact`` with a fresh URL (and its current size and ETag); None when it is gone.

        A kind is presigned by its route (one HEAD); a file no kind maps to (e.g.
        ``index_trigrams.parquet``) is found again by listing the page that held it.
        """
        if artifact.artifact_kind is not None:
            params: dict[str, Any] = {"attempt": artifact.attempt or 1, "chunk": artifact.chunk or 0}
            try:
                body = self._get(f"/artifacts/{artifact.artifact_kind}", params)
            except ApiFailure as exc:
                if exc.status == 404:
                    return None
                raise
            return replace(
                artifact,
                url=str(body["url"]),
                expires_at=_parse_time(str(body["expires_at"])),
                size=int(body["size_bytes"]),
                etag=str(body.get("etag") or ""),
            )
        items, _ = self.page(artifact.page_cursor)
        for item in items:
            if item.key == artifact.key:
                return item
        return None
