"""One artifact to ``DEST/<key>``: skip when verified, resume, verify, write atomically.

The file is written as ``<key>.part`` and renamed to ``<key>`` only once its size (and, where the
ETag is a plain MD5, its MD5) match the listing, so ``DEST/<key>`` is always either absent, a
verified copy, or what an earlier, interrupted run left (which is checked, then resumed or
replaced). A partial file is continued with a ranged GET guarded by ``If-Match`` (the object must
be the one whose first bytes we have). A URL that expired (S3 answers 403) is asked for anew; other
network failures are retried a bounded number of times, resuming from the bytes already written.
No fsync (2 ms a file here): after a crash, the next run re-verifies every file anyway, and
repairs what the crash left. Nothing here prints a URL: they carry signatures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import requests

from etl_artifacts.downloader.api import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, ApiFailure, Artifact, ArtifactsApi

PLAIN_MD5_RE = re.compile(r"\A[0-9a-f]{32}\Z")
STREAM_CHUNK = 1 << 20
HASH_CHUNK = 4 << 20
PART_SUFFIX = ".part"
URL_MARGIN = dt.timedelta(seconds=5)  # ask for a new URL when this close to its expiry
MAX_REFRESHES = 5  # fresh URLs per file before giving up (each one failed with 403)

Status = Literal["downloaded", "skipped", "failed"]


@dataclass(frozen=True)
class Outcome:
    key: str
    status: Status
    size: int = 0  # bytes of the verified file
    fetched: int = 0  # bytes fetched over the network by this run
    reason: str = ""


class _Expired(Exception):
    """The presigned URL is refused (403): it expired, or its credentials did."""


class _Changed(Exception):
    """The object is not the one listed (another ETag, size or range): start over from the API."""


class _Gone(Exception):
    """The object no longer exists."""


class _Transient(Exception):
    """A network failure or a 5xx worth retrying."""


def is_plain_md5(etag: str) -> bool:
    """S3's ETag is the MD5 of the bytes for single-part uploads (no ``-N`` suffix)."""
    return PLAIN_MD5_RE.match(etag) is not None


def local_path(dest: Path, key: str) -> Path:
    """``DEST/<key>``, refusing any key that would escape DEST (absolute, ``..``, empty segments)."""
    parts = PurePosixPath(key).parts
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(part in ("", ".", "..") for part in parts)
        or len(parts) != key.count("/") + 1
    ):
        raise ValueError("unsafe key")
    return dest.joinpath(*parts)


def md5_of(path: Path, on_bytes: Callable[[int], None] | None = None) -> Any:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(HASH_CHUNK):
            digest.update(block)
            if on_bytes is not None:
                on_bytes(len(block))
    return digest


def _digest_of(part: Path, offset: int) -> Any:
    """MD5 state of the bytes already on disk (recomputed from the file: it is the truth)."""
    return md5_of(part) if offset else hashlib.md5(usedforsecurity=False)


def _matches(artifact: Artifact, size: int, digest: Any | None) -> bool:
    if size != artifact.size:
        return False
    return digest is None or digest.hexdigest() == artifact.etag


class Transfer:
    """Downloads artifacts of one run into ``dest``; ``fetch`` is safe to call from many threads."""

    def __init__(
        self,
        api: ArtifactsApi,
        dest: Path,
        *,
        retries: int = 5,
        on_bytes: Callable[[int], None] | None = None,
        backoff_s: float = 0.5,
    ) -> None:
        self.api = api
        self.dest = dest
        self.retries = retries
        self.on_bytes = on_bytes or (lambda _n: None)
        self.backoff_s = backoff_s
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:  # no retry adapter: failures are retried here, resuming the file
            session = requests.Session()
            self._local.session = session
        return session

    # -- one file -------------------------------------------------------------------------------------
    def fetch(self, artifact: Artifact) -> Outcome:
        try:
            final = local_path(self.dest, artifact.key)
        except ValueError:
            return Outcome(artifact.key, "failed", reason="refused: the key would be written outside --dest")
        try:
            return self._fetch(artifact, final)
        except OSError as exc:
            return Outcome(artifact.key, "failed", reason=f"cannot write the file ({exc.strerror or exc})")
        except ApiFailure as exc:
            return Outcome(artifact.key, "failed", reason=f"no fresh URL: {exc}")

    def _fetch(self, artifact: Artifact, final: Path) -> Outcome:
        check_md5 = is_plain_md5(artifact.etag)
        part = final.with_name(final.name + PART_SUFFIX)
        final.parent.mkdir(parents=True, exist_ok=True)
        reported = 0  # bytes counted on the progress bar for this file

        def report(n: int) -> None:
            nonlocal reported
            reported += n
            self.on_bytes(n)

        if final.exists():
            size = final.stat().st_size
            if size == artifact.size and (not check_md5 or md5_of(final).hexdigest() == artifact.etag):
                part.unlink(missing_ok=True)  # what an older, interrupted run may have left beside it
                report(size)
                return Outcome(artifact.key, "skipped", size=size)
            if size < artifact.size:
                os.replace(final, part)  # a truncated copy: resume from what it holds
            else:
                final.unlink()
        fetched, failures, refreshes = 0, 0, 0
        fresh_url = False
        while True:
            offset = part.stat().st_size if part.exists() else 0
            if offset > artifact.size:
                part.unlink()
                offset = 0
            digest = _digest_of(part, offset) if check_md5 else None
            self.on_bytes(offset - reported)  # the bar shows what is on disk for this file
            reported = offset
            try:
                # Checked once per URL: a fresh one is tried whatever this machine's clock says.
                if not fresh_url and dt.datetime.now(dt.UTC) + URL_MARGIN >= artifact.expires_at:
                    raise _Expired()
                if offset < artifact.size or artifact.size == 0:
                    fetched += self._stream(artifact, part, offset, digest, report)
                size = part.stat().st_size
                if _matches(artifact, size, digest):
                    os.replace(part, final)
                    return Outcome(artifact.key, "downloaded", size=size, fetched=fetched)
                part.unlink()  # complete but wrong: never keep it, never rename it
                raise _Transient("checksum mismatch" if size == artifact.size else "size mismatch")
            except _Expired:
                refreshes += 1
                if refreshes > MAX_REFRESHES:
                    return Outcome(
                        artifact.key,
                        "failed",
                        fetched=fetched,
                        reason="presigned URLs keep being refused (403)",
                    )
                fresh = self.api.refresh(artifact)
                if fresh is None:
                    return Outcome(artifact.key, "failed", fetched=fetched, reason="no longer in the run")
                if (fresh.etag, fresh.size) != (artifact.etag, artifact.size) and part.exists():
                    part.unlink()  # another object now: what we have belongs to the old one
                artifact, fresh_url = fresh, True
                check_md5 = is_plain_md5(artifact.etag)
            except _Changed:
                failures += 1
                if part.exists():
                    part.unlink()
                if failures > self.retries:
                    return Outcome(
                        artifact.key, "failed", fetched=fetched, reason="the object keeps changing"
                    )
                fresh = self.api.refresh(artifact)
                if fresh is None:
                    return Outcome(artifact.key, "failed", fetched=fetched, reason="no longer in the run")
                artifact, fresh_url = fresh, True
                check_md5 = is_plain_md5(artifact.etag)
            except _Gone:
                return Outcome(artifact.key, "failed", fetched=fetched, reason="no longer in the run (404)")
            except _Transient as exc:
                failures += 1
                if failures > self.retries:
                    return Outcome(
                        artifact.key, "failed", fetched=fetched, reason=f"{exc} after {self.retries} retries"
                    )
                time.sleep(min(self.backoff_s * 2 ** (failures - 1), 10.0))

    def _stream(
        self, artifact: Artifact, part: Path, offset: int, digest: Any | None, report: Callable[[int], None]
    ) -> int:
        """Append the object's bytes from ``offset`` to ``part``; returns the bytes received."""
        headers = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if artifact.etag:
                headers["If-Match"] = f'"{artifact.etag}"'
        try:
            response = self._session().get(
                artifact.url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
            )
        except requests.RequestException as exc:
            raise _Transient(type(exc).__name__) from None
        received = 0
        with response:
            status = response.status_code
            if status == 403:
                raise _Expired()
            if status == 404:
                raise _Gone()
            if status in (412, 416):
                raise _Changed()
            if status >= 500 or status == 429:
                raise _Transient(f"HTTP {status}")
            if status not in (200, 206):
                raise _Transient(f"HTTP {status}")
            etag = (response.headers.get("ETag") or "").strip('"')
            if artifact.etag and etag and etag != artifact.etag:
                raise _Changed()
            if status == 200 and offset:  # the range was ignored: start the file over
                part.unlink()
                raise _Transient("range not honoured")
            if status == 206 and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                raise _Changed()
            try:
                with part.open("ab") as handle:
                    for block in response.iter_content(STREAM_CHUNK):
                        handle.write(block)
                        if digest is not None:
                            digest.update(block)
                        received += len(block)
                        report(len(block))
            except requests.RequestException as exc:
                raise _Transient(type(exc).__name__) from None
        return received
