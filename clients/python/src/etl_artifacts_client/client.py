"""``Client``: the API as Python calls. Pages and cursors are followed by iterators; errors are
``ApiError`` (with the API's ``code`` and ``status``), ``ConnectionFailed`` or another
``ClientError``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable
from urllib.parse import quote, unquote

import httpx

from etl_artifacts_client._http import READ_TIMEOUT_S, Transport
from etl_artifacts_client.errors import (
    ApiError,
    ClientError,
    ListingError,
    MissingExtra,
    UnexpectedResponse,
    VerificationError,
)
from etl_artifacts_client.models import (
    PHASES,
    Artifact,
    ArtifactRecord,
    Link,
    Run,
    RunSeal,
    UploadTarget,
    WhoAmI,
    uploaded_as_artifact,
)

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from etl_artifacts_client.download import DownloadReport

ARROW_STREAM = "application/vnd.apache.arrow.stream"
NDJSON = "application/x-ndjson"
RUN_ID = re.compile(r"\A[A-Za-z0-9._:+~-]{1,250}\Z")
KINDS = ("data", "errors", "logs")
MAX_LISTING_PAGES = 10_000  # 10 million objects at 1,000 a page: far beyond any real run
INLINE_MAX_BYTES = 1 << 20  # smaller files go inline in the create request (one round trip)
HASH_BLOCK = 1 << 20


def run_id_of(text: str) -> str:
    """A run id as the ETL wrote it. One copied from a URL (``%3A``...) is decoded: ``%`` is never
    part of a run id. ``ValueError`` when it cannot be one."""
    value = unquote(text) if "%" in text else text
    if not RUN_ID.match(value):
        raise ValueError("a run id is 1..250 characters of A-Z a-z 0-9 . _ : + ~ -")
    return value


def _arrow_module(name: str) -> Any:
    """``pyarrow`` (an extra), or ``MissingExtra`` naming how to install it."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingExtra(
            "Arrow tables need the pyarrow extra: pip install 'etl-artifacts-client[pyarrow]'"
        ) from None


def sha256_of(path: Path, on_bytes: Callable[[int], None] = lambda _: None) -> tuple[str, int]:
    """The file's SHA-256 (hex) and size, read in blocks (memory stays flat whatever the size)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
            on_bytes(len(block))
    return digest.hexdigest(), size


class Client:
    """The ETL Run Artifacts API for one token.

    ``api_url`` is the API root (``https://.../api/v1``; a bare ``http://host:port`` gets
    ``/api/v1``). Thread-safe: the download uses one client from many threads.
    """

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
        self.transport = Transport(
            api_url,
            token,
            retries=retries,
            max_wait=max_wait,
            timeout=timeout,
            sleep=sleep,
            transport=transport,
        )

    @property
    def api_url(self) -> str:
        return self.transport.api_url

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- paths ---------------------------------------------------------------------------------
    @staticmethod
    def run_path(dag_id: str, date: str, run_id: str) -> str:
        # The run id is percent-encoded exactly once (`+` -> %2B, `:` -> %3A).
        return f"/dags/{quote(str(dag_id), safe='')}/runs/{quote(date, safe='')}/{quote(run_id, safe='')}"

    def _phase_path(self, dag_id: str, date: str, run_id: str, phase: str) -> str:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}")
        return f"{self.run_path(dag_id, date, run_id)}/phases/{phase}"

    # -- meta ----------------------------------------------------------------------------------
    def whoami(self) -> WhoAmI:
        return WhoAmI.from_json(self.transport.get_json("/whoami"))

    # -- runs ----------------------------------------------------------------------------------
    def runs(
        self,
        dag_id: str,
        date_from: str,
        date_to: str,
        *,
        statuses: dict[str, str] | None = None,
        keywords: dict[str, str] | None = None,
        run_ids: Iterable[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[Run]:
        """Every run of the DAG between the dates (newest first), page after page.

        ``statuses`` / ``keywords`` map a phase (``event``, ``extract``...) to a status or a
        literal substring of that phase's summary.
        """
        params: dict[str, Any] = {"date_from": date_from, "date_to": date_to, "limit": page_size}
        for phase, status in (statuses or {}).items():
            params[f"{phase}_status"] = status
        for phase, keyword in (keywords or {}).items():
            params[f"{phase}_keyword"] = keyword
        if run_ids is not None:
            params["run_ids"] = ",".join(run_ids)
        page = 0
        while True:
            body = self.transport.get_json(f"/dags/{quote(str(dag_id), safe='')}/runs", **params, page=page)
            for item in body.get("items") or []:
                yield Run.from_json(item)
            if not body.get("has_more"):
                return
            page += 1

    def run(self, dag_id: str, date: str, run_id: str) -> Run:
        return Run.from_json(self.transport.get_json(self.run_path(dag_id, date, run_id)))

    def event(self, dag_id: str, date: str, run_id: str) -> dict[str, Any]:
        return self.transport.get_json(self.run_path(dag_id, date, run_id) + "/event")

    def phase_metadata(
        self, dag_id: str, date: str, run_id: str, phase: str, attempt: int = 1
    ) -> dict[str, Any]:
        """The attempt's ``metadata.parquet`` row (status, counts, times)."""
        body = self.transport.get_json(self._phase_path(dag_id, date, run_id, phase), attempt=attempt)
        rows = body.get("rows") or []
        return dict(rows[0]) if rows else {}

    def latest_attempt(self, dag_id: str, date: str, run_id: str, phase: str) -> int:
        """The phase's latest attempt: the run's summary says it; otherwise the listing does."""
        try:
            summary = self.run(dag_id, date, run_id).phases.get(phase)
            if summary is not None and summary.attempt:
                return int(summary.attempt)
        except ApiError as exc:
            if exc.code != "run_not_found":
                raise
        attempts = [
            artifact.attempt
            for page in self.artifact_pages(dag_id, date, run_id)
            for artifact in page
            if artifact.phase == phase and artifact.attempt
        ]
        return max(attempts, default=1)

    # -- pages of a phase ----------------------------------------------------------------------
    def rows(
        self,
        dag_id: str,
        date: str,
        run_id: str,
        phase: str,
        kind: str = "data",
        *,
        attempt: int = 1,
        keyword: str | None = None,
        columns: list[str] | None = None,
        level: str | None = None,
        order: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """Every row of the attempt's data, errors or logs (JSON values), page after page."""
        for body in self._pages(
            dag_id, date, run_id, phase, kind, attempt, keyword, columns, level, order, page_size
        ):
            yield from body.get("rows") or []

    def _params(
        self, kind: str, attempt: int, keyword: Any, columns: Any, level: Any, order: Any, page_size: int
    ) -> dict[str, Any]:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        return {
            "attempt": attempt,
            "limit": page_size,
            "keyword": keyword,
            "columns": ",".join(columns) if columns else None,
            "level": level,
            "order": order,
        }

    def _pages(
        self,
        dag_id: str,
        date: str,
        run_id: str,
        phase: str,
        kind: str,
        attempt: int,
        keyword: Any,
        columns: Any,
        level: Any,
        order: Any,
        page_size: int,
    ) -> Iterator[dict[str, Any]]:
        path = f"{self._phase_path(dag_id, date, run_id, phase)}/{kind}"
        params = self._params(kind, attempt, keyword, columns, level, order, page_size)
        page = 0
        while True:
            body = self.transport.get_json(path, **params, page=page)
            yield body
            if not body.get("has_more"):
                return
            page += 1

    def arrow_batches(
        self,
        dag_id: str,
        date: str,
        run_id: str,
        phase: str,
        kind: str = "data",
        *,
        attempt: int = 1,
        keyword: str | None = None,
        columns: list[str] | None = None,
        level: str | None = None,
        order: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[pyarrow.Table]:
        """Each page as an Arrow table with its parquet types (read through the Arrow IPC format)."""
        ipc = _arrow_module("pyarrow.ipc")
        path = f"{self._phase_path(dag_id, date, run_id, phase)}/{kind}"
        params = self._params(kind, attempt, keyword, columns, level, order, page_size)
        page = 0
        while True:
            response = self.transport.request(
                "GET", path, params={**params, "page": page}, headers={"Accept": ARROW_STREAM}
            )
            if not response.headers.get("Content-Type", "").startswith(ARROW_STREAM):
                raise UnexpectedResponse("the API did not answer an Arrow stream")
            yield ipc.open_stream(response.content).read_all()
            if response.headers.get("X-Has-More", "false").lower() != "true":
                return
            page += 1

    def table(
        self, dag_id: str, date: str, run_id: str, phase: str, kind: str = "data", **options: Any
    ) -> pyarrow.Table:
        """Every page of the attempt's data, errors or logs as one Arrow table (``pyarrow`` extra)."""
        pyarrow = _arrow_module("pyarrow")
        tables = list(self.arrow_batches(dag_id, date, run_id, phase, kind, **options))
        return pyarrow.concat_tables(tables, promote_options="default")

    def dataframe(
        self, dag_id: str, date: str, run_id: str, phase: str, kind: str = "data", **options: Any
    ) -> pandas.DataFrame:
        """``table(...)`` as a pandas DataFrame (``pandas`` extra)."""
        return self.table(dag_id, date, run_id, phase, kind, **options).to_pandas()

    # -- logs (NDJSON, following) --------------------------------------------------------------
    def logs(
        self,
        dag_id: str,
        date: str,
        run_id: str,
        phase: str,
        *,
        attempt: int = 1,
        level: str | None = None,
        keyword: str | None = None,
        order: str | None = None,
        follow: bool = False,
        interval: float = 2.0,
        on_wait: Callable[[str], None] = lambda _: None,
    ) -> Iterator[dict[str, Any]]:
        """The attempt's log rows as NDJSON, following ``X-Continuation-Token``.

        Without ``follow``: what exists now. With ``follow``: a running attempt is polled every
        ``interval`` seconds for the rows written since, until it completes; an attempt that has
        not started yet (404 ``phase_not_found``) is waited for. ``on_wait`` hears why it waits.
        """
        if follow and order not in (None, "asc"):
            raise ValueError("following reads oldest first (order asc)")
        path = f"{self._phase_path(dag_id, date, run_id, phase)}/logs"
        params: dict[str, Any] = {"attempt": attempt, "level": level, "keyword": keyword, "order": order}
        continuation: str | None = None
        waiting_said = caught_up_said = False
        while True:
            try:
                response = self.transport.request(
                    "GET",
                    path,
                    params={**params, "continuation_token": continuation},
                    headers={"Accept": NDJSON},
                )
            except ApiError as exc:
                if follow and continuation is None and exc.code == "phase_not_found":
                    if not waiting_said:
                        on_wait(f"attempt {attempt} has not started yet; waiting (Ctrl-C stops)")
                        waiting_said = True
                    self.transport.sleep(interval)
                    continue
                raise
            # Split at "\n" only: str.splitlines would also cut at U+2028 inside messages.
            rows = [json.loads(line) for line in response.content.decode("utf-8").split("\n") if line]
            yield from rows
            token = response.headers.get("X-Continuation-Token")
            if not token:
                return  # every row sent and, when it was running, the attempt has completed
            continuation = token
            if not rows:
                if not follow:
                    return
                if not caught_up_said:
                    on_wait(f"attempt {attempt} is running; waiting for new lines (Ctrl-C stops)")
                    caught_up_said = True
                self.transport.sleep(interval)

    # -- artifacts of a run --------------------------------------------------------------------
    def artifact_pages(
        self,
        dag_id: str,
        date: str,
        run_id: str,
        *,
        page_size: int = 1000,
        max_pages: int = MAX_LISTING_PAGES,
    ) -> Iterator[list[Artifact]]:
        """The run's parquet objects, a page at a time, following ``next_cursor``.

        The listing is not trusted blindly: a cursor or a key seen twice, or more than
        ``max_pages`` pages, raise ``ListingError`` (a server looping on the same page).
        """
        path = self.run_path(dag_id, date, run_id) + "/artifacts"
        cursor: str | None = None
        seen_cursors: set[str] = set()
        seen_keys: set[str] = set()
        for _ in range(max_pages):
            body = self.transport.get_json(path, limit=page_size, cursor=cursor)
            items = [Artifact.from_json(item, cursor) for item in body.get("artifacts") or []]
            for item in items:
                if item.key in seen_keys:
                    raise ListingError("the listing repeats a key: it cannot be trusted")
                seen_keys.add(item.key)
            yield items
            next_cursor = body.get("next_cursor")
            if not next_cursor:
                return
            if next_cursor in seen_cursors or next_cursor == cursor:
                raise ListingError("the listing repeats a cursor: it cannot be trusted")
            seen_cursors.add(str(next_cursor))
            cursor = str(next_cursor)
        raise ListingError(f"the listing has more than {max_pages} pages: stopped")

    def artifacts(self, dag_id: str, date: str, run_id: str, **options: Any) -> Iterator[Artifact]:
        for page in self.artifact_pages(dag_id, date, run_id, **options):
            yield from page

    def presign(
        self, dag_id: str, date: str, run_id: str, kind: str, *, attempt: int = 1, chunk: int = 0
    ) -> Artifact:
        """A fresh presigned URL for one artifact kind (``extract-data``, ``event-event``...)."""
        body = self.transport.get_json(
            f"{self.run_path(dag_id, date, run_id)}/artifacts/{quote(kind, safe='')}",
            attempt=attempt,
            chunk=chunk,
        )
        return Artifact.from_json(body)

    def refresh_artifact(self, dag_id: str, date: str, run_id: str, artifact: Artifact) -> Artifact | None:
        """``artifact`` with a fresh URL (and its current size and ETag); None when it is gone."""
        if artifact.artifact_id is not None:
            try:
                record = self.artifact(artifact.artifact_id)
            except ApiError as exc:
                if exc.status in (404, 410):
                    return None
                raise
            return uploaded_as_artifact(record) if record.url else None
        if artifact.artifact_kind is not None:
            try:
                fresh = self.presign(
                    dag_id,
                    date,
                    run_id,
                    artifact.artifact_kind,
                    attempt=artifact.attempt or 1,
                    chunk=artifact.chunk or 0,
                )
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise
            return Artifact(
                key=artifact.key,
                size_bytes=fresh.size_bytes,
                etag=fresh.etag,
                url=fresh.url,
                expires_at=fresh.expires_at,
                artifact_kind=artifact.artifact_kind,
                phase=artifact.phase,
                attempt=artifact.attempt,
                chunk=artifact.chunk,
                page_cursor=artifact.page_cursor,
            )
        # A file no kind maps to (e.g. index_trigrams.parquet): list the page that held it again.
        body = self.transport.get_json(
            self.run_path(dag_id, date, run_id) + "/artifacts", cursor=artifact.page_cursor
        )
        for item in body.get("artifacts") or []:
            if item.get("key") == artifact.key:
                return Artifact.from_json(item, artifact.page_cursor)
        return None

    def download_run(
        self,
        dag_id: str,
        date: str,
        run_id: str,
        dest: str | Path = ".",
        *,
        phase: str | None = None,
        attempt: int | None = None,
        jobs: int = 8,
        retries: int = 5,
        uploads: bool = True,
    ) -> DownloadReport:
        """Every artifact of the run (or of ``phase`` / ``attempt``) to ``dest/<key>``, verified; with
        ``uploads``, the attached files too, to ``dest/uploads/<artifact id>/<name>``."""
        from etl_artifacts_client.download import RunDownload

        def select(artifact: Artifact) -> bool:
            if phase is not None and artifact.phase != phase:
                return False
            return attempt is None or artifact.attempt is None or artifact.attempt == attempt

        return RunDownload(
            self, dag_id, date, run_id, Path(dest), jobs=jobs, retries=retries, select=select, uploads=uploads
        ).run()

    # -- uploaded artifacts --------------------------------------------------------------------
    def upload(
        self,
        dag_id: str,
        date: str,
        run_id: str,
        path: str | Path,
        *,
        name: str | None = None,
        artifact_type: str = "file",
        content_type: str | None = None,
        phase: str | None = None,
        attempt: int | None = None,
        is_primary_deliverable: bool = False,
        derived_from: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        ttl_days: int | None = None,
        inline: bool | None = None,
        idempotency_key: str | None = None,
        on_bytes: Callable[[int], None] = lambda _: None,
    ) -> ArtifactRecord:
        """Attach a file to a run: SHA-256 streamed from disk, create, presigned PUT, complete.

        Small files (``inline`` None: up to 1 MiB) travel inside the create request and are active
        at once. The create carries an ``Idempotency-Key`` (a new one unless given), so a retried
        create never makes a second artifact.
        """
        file = Path(path)
        sha256, size = sha256_of(file)
        if content_type is None:
            import mimetypes

            content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        body: dict[str, Any] = {
            "name": name or file.name,
            "artifact_type": artifact_type,
            "content_type": content_type,
            "size_bytes": size,
            "sha256": sha256,
            "is_primary_deliverable": is_primary_deliverable,
        }
        optional = {
            "phase": phase,
            "attempt": attempt,
            "derived_from": derived_from,
            "metadata": metadata,
            "ttl_days": ttl_days,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        if inline if inline is not None else size <= INLINE_MAX_BYTES:
            body["content_base64"] = base64.b64encode(file.read_bytes()).decode("ascii")
        headers = {"Idempotency-Key": idempotency_key or f"etl-artifacts-client-{uuid.uuid4()}"}
        response = self.transport.request(
            "POST",
            self.run_path(dag_id, date, run_id) + "/artifacts",
            json=body,
            headers=headers,
            ok=(200, 201),
        )
        record = ArtifactRecord.from_json(self.transport.json_of(response))
        if record.status == "active":
            on_bytes(size)
            return record
        if record.upload is None:
            raise UnexpectedResponse("the API answered a pending artifact without an upload target")
        self._put(record.upload, file, size, on_bytes)
        return self.complete(record.artifact_id)

    def _put(self, target: UploadTarget, file: Path, size: int, on_bytes: Callable[[int], None]) -> None:
        """The presigned PUT with exactly the headers it was signed with, streamed from disk."""
        attempts = 0
        while True:
            sent = [0]

            def body(sent: list[int] = sent) -> Iterator[bytes]:
                with file.open("rb") as handle:
                    while block := handle.read(HASH_BLOCK):
                        sent[0] += len(block)
                        on_bytes(len(block))
                        yield block

            try:
                response = self.transport.storage.request(
                    target.method, target.url, content=body(), headers=target.headers
                )
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code in (200, 201, 204):
                return
            on_bytes(-sent[0])
            attempts += 1
            if response is not None and response.status_code < 500:
                # S3 refuses bytes that do not match the signed length/type/SHA-256, or an expired URL.
                raise ApiError(
                    response.status_code,
                    "upload_refused",
                    "the storage refused the upload (expired URL or other bytes)",
                )
            if attempts > self.transport.retries:
                raise ClientError("the upload failed: the storage could not be reached")
            self.transport.sleep(min(0.5 * 2**attempts, 10.0))

    def complete(self, artifact_id: str) -> ArtifactRecord:
        response = self.transport.request("POST", f"/artifacts/{quote(artifact_id, safe='')}/complete")
        return ArtifactRecord.from_json(self.transport.json_of(response))

    def artifact(self, artifact_id: str) -> ArtifactRecord:
        return ArtifactRecord.from_json(self.transport.get_json(f"/artifacts/{quote(artifact_id, safe='')}"))

    def uploaded_artifacts(self, dag_id: str | None = None, **filters: Any) -> Iterator[ArtifactRecord]:
        """Uploaded artifacts (of one DAG, or of every DAG of the tenant), following ``next_cursor``."""
        path = f"/dags/{quote(str(dag_id), safe='')}/artifacts" if dag_id else "/artifacts"
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            body = self.transport.get_json(path, **filters, cursor=cursor)
            for item in body.get("items") or []:
                yield ArtifactRecord.from_json(item)
            next_cursor = body.get("next_cursor")
            if not next_cursor:
                return
            if next_cursor in seen:
                raise ListingError("the listing repeats a cursor: it cannot be trusted")
            seen.add(str(next_cursor))
            cursor = str(next_cursor)

    def run_uploads(self, dag_id: str, date: str, run_id: str) -> Iterator[ArtifactRecord]:
        """The run's active uploaded artifacts, each with a presigned ``url``. A server without the
        upload routes (404 ``not_found``: an unknown route) has none."""
        try:
            yield from self.uploaded_artifacts(
                dag_id, date=date, run_id=run_id, include_urls="true", limit=200
            )
        except ApiError as exc:
            if exc.status != 404 or exc.code != "not_found":
                raise

    def download_artifact(self, artifact_id: str, dest: str | Path) -> ArtifactRecord:
        """An uploaded artifact's bytes to ``dest``, verified against its recorded size and SHA-256
        (written as ``dest.part`` first; never read past the recorded size)."""
        record = self.artifact(artifact_id)
        if not record.url:
            raise ClientError(f"artifact is {record.status}, not active: nothing to download")
        final = Path(dest)
        part = final.with_name(final.name + ".part")
        digest = hashlib.sha256()
        size = 0
        try:
            with part.open("wb") as handle, self.transport.stream_storage(record.url, {}) as response:
                if response.status_code != 200:
                    raise ApiError(response.status_code, "storage_error", "the storage refused the download")
                for block in response.iter_bytes(HASH_BLOCK):
                    size += len(block)
                    if size > record.size_bytes:
                        raise VerificationError("the storage sent more bytes than the artifact holds")
                    digest.update(block)
                    handle.write(block)
            if size != record.size_bytes or digest.hexdigest() != record.sha256:
                raise VerificationError("the downloaded bytes do not match the artifact's size and SHA-256")
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, final)
        return record

    def share(
        self, artifact_id: str, *, expires_in: int | None = None, max_downloads: int | None = None
    ) -> Link:
        """A link anyone can open without a token (its ``url`` is shown once)."""
        body: dict[str, Any] = {"max_downloads": max_downloads}
        if expires_in is not None:
            body["expires_in"] = expires_in
        response = self.transport.request(
            "POST", f"/artifacts/{quote(artifact_id, safe='')}/links", json=body, ok=(200, 201)
        )
        return Link.from_json(self.transport.json_of(response))

    def links(self, artifact_id: str) -> list[Link]:
        body = self.transport.get_json(f"/artifacts/{quote(artifact_id, safe='')}/links")
        items = body.get("items", body.get("links")) or []
        return [Link.from_json(item) for item in items]

    def revoke_link(self, link_id: str) -> None:
        self.transport.request("DELETE", f"/links/{quote(link_id, safe='')}", ok=(204,))

    # -- seals ---------------------------------------------------------------------------------
    def seal(self, dag_id: str, date: str, run_id: str) -> RunSeal:
        """Seal the run (irreversible; sealing again returns the same seal)."""
        response = self.transport.request(
            "POST", self.run_path(dag_id, date, run_id) + "/seal", ok=(200, 201)
        )
        return RunSeal.from_json(self.transport.json_of(response))

    def manifest(self, dag_id: str, date: str, run_id: str) -> RunSeal:
        return RunSeal.from_json(self.transport.get_json(self.run_path(dag_id, date, run_id) + "/manifest"))

    def manifest_keys(self) -> dict[str, str]:
        """The public keys that verify seals: key id -> PEM."""
        from etl_artifacts_client.manifest import keys_from_json

        return keys_from_json(self.transport.get_json("/manifest-keys"))

    def verify_seal(self, seal: RunSeal, keys: dict[str, str] | None = None) -> str:
        """Check the seal's signature (with the API's keys unless given); returns the key id."""
        from etl_artifacts_client.manifest import verify

        return verify(seal, keys if keys is not None else self.manifest_keys())


def read_seal(source: str | Path | IO[str]) -> RunSeal:
    """A ``RunSeal`` saved as JSON (a path, or an open text file)."""
    text = Path(source).read_text("utf-8") if isinstance(source, (str, Path)) else source.read()
    try:
        return RunSeal.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError):
        raise VerificationError(
            'not a sealed manifest (expected {"manifest": ..., "signature": ...})'
        ) from None


__all__ = ["Client", "read_seal", "run_id_of", "sha256_of"]
