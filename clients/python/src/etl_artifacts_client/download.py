"""A whole run to ``DEST/<key>``: parallel, verified, resumable, interruptible.

Each file is written as ``<key>.part`` and renamed to ``<key>`` only once its size (and, where the
ETag is a plain MD5, its MD5) match the listing, so ``DEST/<key>`` is always absent, verified, or
what an earlier run left (checked, then resumed or replaced). A partial file continues with a
ranged GET guarded by ``If-Match``. A refused URL (403: expired) is asked for anew; network
failures are retried a bounded number of times, resuming from the bytes on disk. The server is not
trusted: a body longer than the listed size is cut at size + 1 byte and refused. ``stop()`` (or
Ctrl-C in ``run``) lets transfers in flight end at their next block, leaving ``.part`` files that
the next run resumes: what is on disk always agrees with what was reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import httpx

from etl_artifacts_client.errors import ClientError, UnsafeKey
from etl_artifacts_client.models import Artifact, uploaded_as_artifact
from etl_artifacts_client.paths import local_path

if TYPE_CHECKING:
    from etl_artifacts_client.client import Client

PLAIN_MD5 = re.compile(r"\A[0-9a-f]{32}\Z")
BLOCK = 1 << 20
PART_SUFFIX = ".part"
URL_MARGIN = dt.timedelta(seconds=5)  # ask for a new URL when this close to its expiry
MAX_REFRESHES = 5


@dataclass(frozen=True)
class Outcome:
    key: str
    status: str  # downloaded | skipped | failed | stopped
    size: int = 0
    fetched: int = 0
    reason: str = ""


@dataclass
class DownloadReport:
    """What a download did; ``ok`` when every selected file is verified and the listing completed."""

    outcomes: list[Outcome] = field(default_factory=list)
    listed: int = 0
    selected: int = 0
    listing_error: ClientError | None = None
    interrupted: bool = False

    def of(self, *statuses: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in statuses]

    @property
    def verified(self) -> int:
        return len(self.of("downloaded", "skipped"))

    @property
    def ok(self) -> bool:
        return (
            not self.interrupted
            and self.listing_error is None
            and self.selected > 0
            and self.verified == self.selected
        )


class _Expired(Exception):
    pass


class _Changed(Exception):
    pass


class _Gone(Exception):
    pass


class _Transient(Exception):
    pass


class _Stopped(Exception):
    pass


class _TooLong(Exception):
    """The body ran past the listed size: the server is not to be trusted for this file."""


def is_plain_md5(etag: str) -> bool:
    """S3's ETag is the MD5 of the bytes for single-part uploads (no ``-N`` suffix)."""
    return PLAIN_MD5.match(etag) is not None


def _new_digest(artifact: Artifact) -> Any:
    """What verifies the bytes: SHA-256 for uploaded artifacts, MD5 where the ETag is one, else
    nothing but the size."""
    if artifact.sha256:
        return hashlib.sha256()
    if is_plain_md5(artifact.etag):
        return hashlib.md5()  # noqa: S324 - S3's ETag, an integrity check, not security
    return None


def _digest_of(artifact: Artifact, path: Path, size: int) -> Any:
    """The digest state of the first ``size`` bytes of ``path`` (None: nothing to hash)."""
    digest = _new_digest(artifact)
    if digest is not None and size:
        with path.open("rb") as handle:
            while block := handle.read(4 * BLOCK):
                digest.update(block)
    return digest


def _matches(artifact: Artifact, size: int, digest: Any) -> bool:
    if size != artifact.size_bytes:
        return False
    return digest is None or digest.hexdigest() == (artifact.sha256 or artifact.etag)


class RunDownload:
    """Downloads the artifacts of listing pages into ``dest`` with ``jobs`` threads."""

    def __init__(
        self,
        client: Client,
        dag_id: str,
        date: str,
        run_id: str,
        dest: Path,
        *,
        jobs: int = 8,
        retries: int = 5,
        select: Callable[[Artifact], bool] = lambda _: True,
        on_selected: Callable[[Artifact], None] = lambda _: None,
        on_bytes: Callable[[int], None] = lambda _: None,
        on_done: Callable[[Outcome], None] = lambda _: None,
        uploads: bool = True,
    ) -> None:
        self.client = client
        self.run_ref = (dag_id, date, run_id)
        self.dest = Path(dest)
        self.jobs = jobs
        self.retries = retries
        self.select = select
        self.on_selected = on_selected
        self.on_bytes = on_bytes
        self.on_done = on_done
        self.uploads = uploads
        self.report = DownloadReport()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def stop(self) -> None:
        """Transfers in flight end at their next block; queued ones do not start."""
        self._stop.set()

    def run(self, pages: Iterable[list[Artifact]] | None = None) -> DownloadReport:
        """Download what the listing pages select. On Ctrl-C: stop cleanly, then re-raise."""
        if pages is None:
            pages = self.client.artifact_pages(*self.run_ref)
        futures: list[Future[Outcome]] = []
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="download")
        try:
            try:
                for page in pages:
                    for artifact in page:
                        self._submit(pool, futures, artifact)
                if self.uploads:  # the files tenants attached, verified by their SHA-256
                    for record in self.client.run_uploads(*self.run_ref):
                        self._submit(pool, futures, uploaded_as_artifact(record))
            except ClientError as exc:
                self.report.listing_error = exc
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            self.report.interrupted = True
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
        if self._stop.is_set():
            self.report.interrupted = True
        return self.report

    def _submit(self, pool: ThreadPoolExecutor, futures: list[Future[Outcome]], artifact: Artifact) -> None:
        self.report.listed += 1
        if self.select(artifact) and not self._stop.is_set():
            self.report.selected += 1
            self.on_selected(artifact)
            futures.append(pool.submit(self._one, artifact))

    def _one(self, artifact: Artifact) -> Outcome:
        try:
            outcome = self.fetch(artifact)
        except UnsafeKey as exc:
            outcome = Outcome(
                artifact.key, "failed", reason=f"refused: {exc} (it would be written outside DEST)"
            )
        except ClientError as exc:
            outcome = Outcome(artifact.key, "failed", reason=str(exc))
        with self._lock:
            self.report.outcomes.append(outcome)
        self.on_done(outcome)
        return outcome

    def fetch(self, artifact: Artifact) -> Outcome:
        """One artifact to ``dest/<key>``: skip when verified, resume, verify, rename."""
        final = local_path(self.dest, artifact.key)
        part = final.with_name(final.name + PART_SUFFIX)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            size = final.stat().st_size
            if size == artifact.size_bytes and _matches(artifact, size, _digest_of(artifact, final, size)):
                self.on_bytes(size)
                return Outcome(artifact.key, "skipped", size=size)
            if size < artifact.size_bytes:
                os.replace(final, part)  # a truncated copy: resume from what it holds
            else:
                final.unlink()
        fetched = failures = refreshes = 0
        reported = 0
        fresh_url = False
        while True:
            if self._stop.is_set():
                return Outcome(artifact.key, "stopped", fetched=fetched)
            offset = part.stat().st_size if part.exists() else 0
            if offset > artifact.size_bytes:
                part.unlink()
                offset = 0
            digest = _digest_of(artifact, part, offset)
            self.on_bytes(offset - reported)  # the bar shows what is on disk for this file
            reported = offset
            try:
                now = dt.datetime.now(dt.timezone.utc)
                if (
                    not fresh_url
                    and artifact.expires_at is not None
                    and now + URL_MARGIN >= artifact.expires_at
                ):
                    raise _Expired()
                if offset < artifact.size_bytes or artifact.size_bytes == 0:
                    got = self._stream(artifact, part, offset, digest)
                    fetched += got
                    reported += got
                size = part.stat().st_size if part.exists() else 0
                if not part.exists():
                    part.touch()
                if _matches(artifact, size, digest):
                    os.replace(part, final)
                    return Outcome(artifact.key, "downloaded", size=size, fetched=fetched)
                part.unlink()  # complete but wrong: never keep it, never rename it
                self.on_bytes(-reported)
                reported = 0
                raise _Transient("checksum mismatch" if size == artifact.size_bytes else "size mismatch")
            except _Stopped:
                return Outcome(artifact.key, "stopped", fetched=fetched)
            except _TooLong as exc:
                part.unlink()
                self.on_bytes(-(reported + exc.args[0]))
                reason = (
                    f"the server sent more than the listed {artifact.size_bytes} bytes (stopped at size + 1)"
                )
                return Outcome(artifact.key, "failed", fetched=fetched + exc.args[0], reason=reason)
            except (_Expired, _Changed) as exc:
                if isinstance(exc, _Changed):
                    failures += 1
                    if part.exists():
                        part.unlink()
                    if failures > self.retries:
                        return Outcome(
                            artifact.key, "failed", fetched=fetched, reason="the object keeps changing"
                        )
                else:
                    refreshes += 1
                    if refreshes > MAX_REFRESHES:
                        reason = "presigned URLs keep being refused (403)"
                        return Outcome(artifact.key, "failed", fetched=fetched, reason=reason)
                fresh = self.client.refresh_artifact(*self.run_ref, artifact)
                if fresh is None:
                    return Outcome(artifact.key, "failed", fetched=fetched, reason="no longer in the run")
                if (fresh.etag, fresh.size_bytes) != (artifact.etag, artifact.size_bytes) and part.exists():
                    part.unlink()  # another object now: what we have belongs to the old one
                artifact, fresh_url = fresh, True
            except _Gone:
                return Outcome(artifact.key, "failed", fetched=fetched, reason="no longer in the run (404)")
            except _Transient as exc:
                failures += 1
                if failures > self.retries:
                    return Outcome(
                        artifact.key, "failed", fetched=fetched, reason=f"{exc} after {self.retries} retries"
                    )
                self.client.transport.sleep(min(0.5 * 2 ** (failures - 1), 10.0))

    def _stream(self, artifact: Artifact, part: Path, offset: int, digest: Any) -> int:
        """Append the object's bytes from ``offset``; never more than its size + 1 byte."""
        headers = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if artifact.etag:
                headers["If-Match"] = f'"{artifact.etag}"'
        limit = artifact.size_bytes - offset
        received = 0
        try:
            with self.client.transport.stream_storage(artifact.url, headers) as response:
                status = response.status_code
                if status == 403:
                    raise _Expired()
                if status == 404:
                    raise _Gone()
                if status in (412, 416):
                    raise _Changed()
                if status not in (200, 206):
                    raise _Transient(f"HTTP {status}")
                etag = (response.headers.get("ETag") or "").strip('"')
                if artifact.etag and etag and etag != artifact.etag:
                    raise _Changed()
                if status == 200 and offset:  # the range was ignored: start the file over
                    part.unlink()
                    raise _Transient("range not honoured")
                if status == 206 and not response.headers.get("Content-Range", "").startswith(
                    f"bytes {offset}-"
                ):
                    raise _Changed()
                with part.open("ab") as handle:
                    for block in _blocks(response):
                        if self._stop.is_set():
                            raise _Stopped()
                        if received + len(block) > limit:
                            # More than the listing said: keep size + 1 byte, the check refuses it.
                            block = block[: limit - received + 1]
                            handle.write(block)
                            received += len(block)
                            if digest is not None:
                                digest.update(block)
                            self.on_bytes(len(block))
                            raise _TooLong(received)
                        handle.write(block)
                        if digest is not None:
                            digest.update(block)
                        received += len(block)
                        self.on_bytes(len(block))
        except httpx.TransportError as exc:
            self.on_bytes(-received)
            raise _Transient(type(exc).__name__) from None
        return received


def _blocks(response: httpx.Response) -> Iterator[bytes]:
    yield from response.iter_bytes(BLOCK)
