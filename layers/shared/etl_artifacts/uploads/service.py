"""Uploaded artifacts' logic, one function per route: create, complete, read, content, download, list.

Rows live in Postgres (``UploadRecords``), bytes in S3 (``UploadStorage``). The order of a create
is row first (pending), then bytes, then active: a create that fails after its row was written
leaves at most a pending row, which no default list shows and which is removed at once when
possible (and by the sweeper otherwise); bytes are never stored without a row that names them.

Another tenant's id, a malformed id and an unknown id take the same path to the same
``ArtifactNotFound``: the store is asked only for well-formed ids, always within the caller's tenant.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from etl_artifacts.config import Settings, get_settings, require_bucket
from etl_artifacts.errors import (
    ArtifactAlreadyExists,
    ArtifactDeleted,
    ArtifactExpired,
    ArtifactNotFound,
    ChecksumMismatch,
    IdempotencyKeyReused,
    ResponseTooLarge,
    RunArtifactLimit,
    RunNotFound,
    RunSealed,
    TtlExceedsLimit,
    UploadIncomplete,
)
from etl_artifacts.observability import logger
from etl_artifacts.payload import base64_cost, body_budget
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.uploads.dal import InsertOutcome, ListQuery, StoredArtifact, UploadRecords
from etl_artifacts.uploads.ids import is_artifact_id, new_artifact_id
from etl_artifacts.uploads.list_cursor import decode_cursor, encode_cursor
from etl_artifacts.uploads.models import (
    ArtifactListResponse,
    ArtifactRecord,
    ArtifactView,
    CreateArtifactRequest,
    DownloadRedirect,
    request_fingerprint,
)
from etl_artifacts.uploads.storage import UploadStorage, sha256_base64, upload_key


@dataclass(frozen=True)
class Created:
    """A create's answer: the artifact, and whether this request made it (or replayed a key)."""

    view: ArtifactView
    replayed: bool = False


def _validation(loc: tuple[str | int, ...], msg: str, type_: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": msg, "type": type_}])


def _storage(settings: Settings) -> UploadStorage:
    return UploadStorage(require_bucket(settings))


def _run_of(stored: StoredArtifact) -> RunRef:
    record = stored.record
    return RunRef(stored.id_company, record.dag_id, record.date, record.run_id)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _expires_at(
    body: CreateArtifactRequest, created_at: dt.datetime, settings: Settings
) -> dt.datetime | None:
    if body.ttl_days is not None:
        return created_at + dt.timedelta(days=body.ttl_days)
    if body.is_primary_deliverable:
        return None  # primary deliverables never expire unless asked to
    return created_at + dt.timedelta(days=settings.artifact_default_ttl_days)


def _readable(stored: StoredArtifact, now: dt.datetime) -> StoredArtifact:
    """The artifact unless it is deleted or expired (410)."""
    record = stored.record
    if record.status == "deleted":
        until = record.restorable_until.isoformat() if record.restorable_until else None
        raise ArtifactDeleted(restorable_until=until)
    if record.status == "expired" or (
        record.status == "active" and record.expires_at is not None and record.expires_at <= now
    ):
        raise ArtifactExpired()
    return stored


def _view(stored: StoredArtifact, settings: Settings, *, urls: bool = True) -> ArtifactView:
    """The record, with a presigned GET when active or a fresh upload while pending (``urls``)."""
    record = stored.record
    extra: dict[str, Any] = {}
    if urls and record.status == "active":
        signed = _storage(settings).presign_get(
            _run_of(stored),
            stored.s3_key,
            record.name,
            record.content_type,
            settings.presign_default_ttl,
        )
        extra = {"url": signed.url, "url_expires_at": signed.expires_at}
    elif urls and record.status == "pending":
        extra = {"upload": _upload(stored, settings)}
    return ArtifactView(**record.model_dump(), **extra)


def _upload(stored: StoredArtifact, settings: Settings) -> Any:
    record = stored.record
    return _storage(settings).presign_put(
        stored.s3_key, record.content_type, record.size_bytes, record.sha256, settings.upload_url_ttl
    )


def _find(id_company: str, artifact_id: str) -> StoredArtifact:
    if not is_artifact_id(artifact_id):
        raise ArtifactNotFound()
    stored = UploadRecords().get(id_company, artifact_id)
    if stored is None:
        raise ArtifactNotFound()
    return stored


def check_idempotency_key(value: str | None) -> str | None:
    """``Idempotency-Key``: 1..255 visible ASCII characters (422 otherwise)."""
    if value is None:
        return None
    if not 1 <= len(value) <= 255 or any(not "!" <= char <= "~" for char in value):
        raise _validation(
            ("header", "Idempotency-Key"),
            "Idempotency-Key must be 1..255 visible ASCII characters",
            "string_pattern_mismatch",
        )
    return value


def _check_limits(body: CreateArtifactRequest, settings: Settings) -> bytes | None:
    """What depends on configuration, then the inline bytes against the declared size and SHA-256."""
    if body.size_bytes > settings.upload_max_bytes:
        raise _validation(
            ("body", "size_bytes"),
            f"Input should be less than or equal to {settings.upload_max_bytes}",
            "less_than_equal",
        )
    if body.ttl_days is not None and body.ttl_days > settings.artifact_max_ttl_days:
        raise TtlExceedsLimit(f"ttl_days is at most {settings.artifact_max_ttl_days}.")
    data = body.inline_bytes()
    if data is not None and (len(data) != body.size_bytes or hashlib.sha256(data).hexdigest() != body.sha256):
        raise ChecksumMismatch("The inline content does not match size_bytes and sha256.")
    return data


def create_artifact(
    id_company: str, sub: str, run: RunRef, body: CreateArtifactRequest, idempotency_key: str | None
) -> Created:
    """Record a new artifact of ``run``: active at once with inline bytes, else pending with an upload."""
    settings = get_settings()
    data = _check_limits(body, settings)
    store = UploadRecords()
    fingerprint = None
    if idempotency_key is not None:
        fingerprint = request_fingerprint([str(run.dag_id), run.run_date.isoformat(), run.run_id], body)
        existing = store.find_by_idempotency_key(id_company, idempotency_key)
        if existing is not None:
            return _replay(existing, fingerprint, settings)

    created_at = _now()
    artifact_id = new_artifact_id(int(created_at.timestamp() * 1000))
    stored = StoredArtifact(
        id_company=id_company,
        record=ArtifactRecord(
            artifact_id=artifact_id,
            dag_id=run.dag_id,
            date=run.run_date,
            run_id=run.run_id,
            phase=body.phase,
            attempt=body.attempt,
            name=body.name,
            artifact_type=body.artifact_type,
            content_type=body.content_type,
            size_bytes=body.size_bytes,
            sha256=body.sha256,
            digest=f"sha256:{body.sha256}",
            status="pending",
            is_primary_deliverable=body.is_primary_deliverable,
            derived_from=body.derived_from,
            metadata=body.metadata,
            created_at=created_at,
            created_by=sub,
            expires_at=_expires_at(body, created_at, settings),
            deleted_at=None,
            restorable_until=None,
        ),
        s3_key=upload_key(run, artifact_id, settings.artifacts_prefix),
        idempotency_key=idempotency_key,
        request_sha256=fingerprint,
    )
    result = store.insert(stored, settings.run_max_artifacts)
    if result.outcome is InsertOutcome.RUN_NOT_FOUND:
        raise RunNotFound()
    if result.outcome is InsertOutcome.RUN_SEALED:
        raise RunSealed()
    if result.outcome is InsertOutcome.NAME_TAKEN:
        raise ArtifactAlreadyExists()
    if result.outcome is InsertOutcome.RUN_FULL:
        raise RunArtifactLimit(
            f"A run holds at most {settings.run_max_artifacts} artifacts that are not deleted."
        )
    if result.outcome is InsertOutcome.UNKNOWN_DERIVED_IDS:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "derived_from", position),
                    "msg": "No artifact of yours has this id",
                    "type": "value_error",
                }
                for position in result.unknown_positions
            ]
        )
    if result.outcome is InsertOutcome.IDEMPOTENCY_KEY_TAKEN:
        # A concurrent request with the same key won the insert.
        if result.existing is None or fingerprint is None:
            raise IdempotencyKeyReused()
        return _replay(result.existing, fingerprint, settings)
    if data is None:
        return Created(_view(stored, settings))
    return Created(_store_inline(store, stored, data, settings))


def _replay(existing: StoredArtifact, fingerprint: str, settings: Settings) -> Created:
    if existing.request_sha256 != fingerprint:
        raise IdempotencyKeyReused()
    return Created(_view(existing, settings), replayed=True)


def _store_inline(
    store: UploadRecords, stored: StoredArtifact, data: bytes, settings: Settings
) -> ArtifactView:
    """PUT the inline bytes (S3 checks their SHA-256), then activate. On failure the pending row is
    removed (best effort: a row left pending is never listed by default and is swept later)."""
    record = stored.record
    try:
        _storage(settings).put(stored.s3_key, data, record.content_type, record.sha256)
        active = store.set_status(stored.id_company, record.artifact_id, "active", from_status="pending")
    except Exception:
        _forget(store, stored, settings)
        raise
    if active is None:  # pragma: no cover - the row is ours and pending until this point
        raise ArtifactNotFound()
    return _view(active, settings)


def _forget(store: UploadRecords, stored: StoredArtifact, settings: Settings) -> None:
    for action in (
        lambda: _storage(settings).delete(stored.s3_key),
        lambda: store.remove(stored.id_company, stored.artifact_id),
    ):
        try:
            action()
        except Exception as exc:
            logger.warning("cleanup after a failed create failed", extra={"error_type": type(exc).__name__})


def complete_artifact(id_company: str, artifact_id: str) -> ArtifactView:
    """Check the uploaded bytes against the record (S3's own size and SHA-256) and activate."""
    settings = get_settings()
    stored = _readable(_find(id_company, artifact_id), _now())
    if stored.record.status == "active":
        return _view(stored, settings)
    storage = _storage(settings)
    found = storage.head(stored.s3_key)
    if found is None:
        raise UploadIncomplete()
    record = stored.record
    if found.size_bytes != record.size_bytes or found.sha256_base64 != sha256_base64(record.sha256):
        storage.delete(stored.s3_key)
        raise ChecksumMismatch(
            "The uploaded object does not match size_bytes and sha256; it was removed: upload it again."
        )
    active = UploadRecords().set_status(id_company, artifact_id, "active", from_status="pending")
    # None: a concurrent complete activated it first (or it changed state meanwhile).
    return _view(_readable(active or _find(id_company, artifact_id), _now()), settings)


def get_artifact(id_company: str, artifact_id: str) -> ArtifactView:
    return _view(_readable(_find(id_company, artifact_id), _now()), get_settings())


def _active(id_company: str, artifact_id: str) -> StoredArtifact:
    stored = _readable(_find(id_company, artifact_id), _now())
    if stored.record.status != "active":
        raise UploadIncomplete("The artifact is still pending: upload its bytes and complete it first.")
    return stored


def artifact_content(id_company: str, artifact_id: str, artifact_path: str) -> tuple[ArtifactRecord, bytes]:
    """The bytes, when they fit one Lambda response as base64; else 413 pointing at the download."""
    stored = _active(id_company, artifact_id)
    record = stored.record
    if base64_cost(record.size_bytes) > body_budget():
        raise ResponseTooLarge(
            f"The artifact is too large to answer inline; download it from {artifact_path}/download."
        )
    data = _storage(get_settings()).get(stored.s3_key)
    if data is None or len(data) != record.size_bytes:
        logger.error("uploaded object missing or changed", extra={"found": data is not None})
        raise ArtifactNotFound()
    return record, data


def download_url(id_company: str, artifact_id: str, expires_in: int) -> DownloadRedirect:
    stored = _active(id_company, artifact_id)
    record = stored.record
    signed = _storage(get_settings()).presign_get(
        _run_of(stored), stored.s3_key, record.name, record.content_type, expires_in
    )
    return DownloadRedirect(url=signed.url, expires_in=signed.expires_in, expires_at=signed.expires_at)


def list_artifacts(query: ListQuery, cursor: str | None, include_urls: bool) -> ArtifactListResponse:
    """One keyset page; the cursor is bound to the tenant and every filter (not to ``limit``)."""
    settings = get_settings()
    scope = list_scope(query)
    after = decode_cursor(scope, cursor) if cursor is not None else None
    rows, more = UploadRecords().list_page(replace(query, after=after))
    items = [_view(row, settings, urls=include_urls and row.record.status == "active") for row in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1].record
        next_cursor = encode_cursor(scope, last.created_at, last.artifact_id)
    return ArtifactListResponse(items=items, next_cursor=next_cursor)


def list_scope(query: ListQuery) -> dict[str, Any]:
    """What a cursor is bound to: the tenant and the filters, as text."""
    return {
        "id_company": query.id_company,
        "status": query.status,
        "dag_id": str(query.dag_id) if query.dag_id else None,
        "date_from": query.date_from.isoformat() if query.date_from else None,
        "date_to": query.date_to.isoformat() if query.date_to else None,
        "date": query.run_date.isoformat() if query.run_date else None,
        "run_id": query.run_id,
        "phase": query.phase,
        "artifact_type": query.artifact_type,
        "is_primary_deliverable": query.is_primary_deliverable,
        "name_prefix": query.name_prefix,
    }
