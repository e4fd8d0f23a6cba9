"""Soft delete, restore and extend-ttl of uploaded artifacts, and what a read answers in each state.

Every change runs in one transaction with the row locked (``FOR UPDATE``) and, for delete and
restore, the run's lock taken first (sealed runs refuse them: ``seal.ensure_not_sealed``); its
event is queued in the same transaction (``outbox``). Deleting revokes the artifact's share links
in that transaction too, so a restore never brings a link back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from etl_artifacts.config import get_settings
from etl_artifacts.errors import (
    ArtifactAlreadyExists,
    ArtifactDeleted,
    ArtifactExpired,
    ArtifactNotFound,
    RunArtifactLimit,
    TtlExceedsLimit,
)
from etl_artifacts.lifecycle import outbox
from etl_artifacts.lifecycle.seal import ensure_not_sealed
from etl_artifacts.postgres.db import Database, get_database
from etl_artifacts.postgres.migrations import UPLOADS_TABLE
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.uploads.dal import SELECT_COLUMNS, StoredArtifact, select_artifact, stored_from_row
from etl_artifacts.uploads.ids import is_artifact_id


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def is_expired(stored: StoredArtifact, now: datetime) -> bool:
    record = stored.record
    if record.status == "expired":
        return True
    return (
        record.status in ("active", "pending") and record.expires_at is not None and record.expires_at <= now
    )


def raise_if_gone(stored: StoredArtifact, now: datetime | None = None) -> None:
    """410 for what reads may not serve: ``artifact_deleted`` (with ``restorable_until``) or
    ``artifact_expired`` (its ``expires_at`` has passed, whether or not the sweeper has been by)."""
    now = now or datetime.now(UTC)
    if stored.record.status == "deleted":
        raise ArtifactDeleted(restorable_until=iso(stored.record.restorable_until))
    if is_expired(stored, now):
        raise ArtifactExpired()


def _locked(db: Database, id_company: str, artifact_id: str) -> StoredArtifact:
    if not is_artifact_id(artifact_id):
        raise ArtifactNotFound()
    stored = select_artifact(db.run, id_company, "artifact_id", artifact_id, "FOR UPDATE")
    if stored is None:
        raise ArtifactNotFound()
    return stored


def _run_of(stored: StoredArtifact) -> RunRef:
    record = stored.record
    return RunRef(stored.id_company, record.dag_id, record.date, record.run_id)


def _event_detail(stored: StoredArtifact) -> dict[str, str]:
    record = stored.record
    return {
        "artifact_id": record.artifact_id,
        "dag_id": str(record.dag_id),
        "date": record.date.isoformat(),
        "run_id": record.run_id,
    }


def delete_artifact(id_company: str, artifact_id: str) -> None:
    """Soft delete (idempotent): the artifact answers 410 ``artifact_deleted`` until the sweeper
    removes its bytes, ``ARTIFACT_RESTORE_DAYS`` later. Deleting an expired artifact changes nothing."""
    db = get_database()
    now = datetime.now(UTC)
    event: int | None = None
    with db.transaction():
        stored = _locked(db, id_company, artifact_id)
        if stored.record.status == "deleted" or is_expired(stored, now):
            return
        ensure_not_sealed(db, _run_of(stored))
        restore_days = get_settings().artifact_restore_days
        db.run(
            f"UPDATE {UPLOADS_TABLE} SET status = 'deleted', status_before_delete = status, "  # noqa: S608
            "deleted_at = :now, restorable_until = :until, updated_at = :now "
            "WHERE id_company = :company AND artifact_id = :artifact_id",
            now=now,
            until=now + timedelta(days=restore_days),
            company=id_company,
            artifact_id=artifact_id,
        )
        db.run(
            "UPDATE etl.artifact_links SET revoked_at = :now "
            "WHERE id_company = :company AND artifact_id = :artifact_id AND revoked_at IS NULL",
            now=now,
            company=id_company,
            artifact_id=artifact_id,
        )
        event = outbox.record_event(db, id_company, "artifact.deleted", _event_detail(stored))
    outbox.publish_soon([event])


def restore_artifact(id_company: str, artifact_id: str) -> StoredArtifact:
    """Undo a delete while ``restorable_until`` is ahead (after it: 410 ``artifact_deleted``).
    Restoring an artifact that is not deleted answers it unchanged (expired: 410)."""
    db = get_database()
    now = datetime.now(UTC)
    event: int | None = None
    with db.transaction():
        stored = _locked(db, id_company, artifact_id)
        record = stored.record
        if record.status != "deleted":
            raise_if_gone(stored, now)
            return stored
        if record.restorable_until is None or record.restorable_until <= now:
            raise ArtifactDeleted(restorable_until=iso(record.restorable_until))
        ensure_not_sealed(db, _run_of(stored))
        rows, _ = db.run(
            f"""SELECT count(*) FILTER (WHERE name = :name), count(*) FROM {UPLOADS_TABLE}
                WHERE id_company = :company AND dag_id = :dag AND run_date = :day AND run_id = :run
                  AND status <> 'deleted'""",  # noqa: S608 - constants only
            name=record.name,
            company=id_company,
            dag=record.dag_id,
            day=record.date,
            run=record.run_id,
        )
        same_name, held = rows[0]
        if same_name:
            raise ArtifactAlreadyExists()
        if int(held) >= get_settings().run_max_artifacts:
            raise RunArtifactLimit()
        rows, _ = db.run(
            f"UPDATE {UPLOADS_TABLE} SET status = coalesce(status_before_delete, 'active'), "  # noqa: S608
            "status_before_delete = NULL, deleted_at = NULL, restorable_until = NULL, updated_at = :now "
            "WHERE id_company = :company AND artifact_id = :artifact_id "
            f"RETURNING {SELECT_COLUMNS}",
            now=now,
            company=id_company,
            artifact_id=artifact_id,
        )
        restored = stored_from_row(rows[0])
        event = outbox.record_event(db, id_company, "artifact.restored", _event_detail(restored))
    outbox.publish_soon([event])
    return restored


def extend_ttl(id_company: str, artifact_id: str, ttl_days: int) -> StoredArtifact:
    """``expires_at`` becomes max(current, now + ttl_days): never earlier; an artifact that never
    expires stays so. 422 ``ttl_exceeds_limit`` past ``ARTIFACT_MAX_TTL_DAYS``. Sealed runs too."""
    if ttl_days > get_settings().artifact_max_ttl_days:
        raise TtlExceedsLimit()
    db = get_database()
    now = datetime.now(UTC)
    with db.transaction():
        stored = _locked(db, id_company, artifact_id)
        raise_if_gone(stored, now)
        rows, _ = db.run(
            f"UPDATE {UPLOADS_TABLE} SET expires_at = greatest(expires_at, :later), updated_at = :now "  # noqa: S608
            "WHERE id_company = :company AND artifact_id = :artifact_id AND expires_at IS NOT NULL "
            f"RETURNING {SELECT_COLUMNS}",
            later=now + timedelta(days=ttl_days),
            now=now,
            company=id_company,
            artifact_id=artifact_id,
        )
    return stored_from_row(rows[0]) if rows else stored
