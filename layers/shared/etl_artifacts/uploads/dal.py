"""The uploaded artifacts' only database access: ``UploadRecords`` owns ``etl.uploaded_artifacts``.

Every statement names the tenant first (``id_company = :id_company``), and every index of the table
leads with it (``migrations``): a lookup or a page walks the caller's own entries only. A create runs
in one transaction under an advisory lock on its run (``run_lock``), so the run check, the per-run
limit and the name check hold against concurrent creates; whatever else must hold per run (a seal)
takes the same lock.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from etl_artifacts.postgres.db import Database, get_database
from etl_artifacts.postgres.migrations import UPLOADS_TABLE
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.uploads.models import ArtifactRecord

# The record's columns in the order ``stored_from_row`` reads them.
COLUMNS = (
    "id_company",
    "artifact_id",
    "dag_id",
    "run_date",
    "run_id",
    "phase",
    "attempt",
    "name",
    "artifact_type",
    "content_type",
    "size_bytes",
    "sha256",
    "status",
    "is_primary_deliverable",
    "derived_from",
    "metadata",
    "created_at",
    "created_by",
    "expires_at",
    "deleted_at",
    "restorable_until",
    "s3_key",
    "idempotency_key",
    "request_sha256",
)
SELECT_COLUMNS = ", ".join(COLUMNS)
ORDER_BY = "created_at DESC, artifact_id DESC"
_RUN_LOCK_SEED = 0x75706C6F  # keeps these lock keys apart from other advisory locks


@dataclass(frozen=True)
class StoredArtifact:
    """A row: the record the API shows, plus what only the server sees."""

    id_company: str
    record: ArtifactRecord
    s3_key: str
    idempotency_key: str | None = None
    request_sha256: str | None = None

    @property
    def artifact_id(self) -> str:
        return self.record.artifact_id


class InsertOutcome(enum.Enum):
    CREATED = "created"
    RUN_NOT_FOUND = "run_not_found"
    RUN_SEALED = "run_sealed"
    NAME_TAKEN = "name_taken"
    RUN_FULL = "run_full"
    UNKNOWN_DERIVED_IDS = "unknown_derived_ids"
    IDEMPOTENCY_KEY_TAKEN = "idempotency_key_taken"


@dataclass(frozen=True)
class InsertResult:
    outcome: InsertOutcome
    # UNKNOWN_DERIVED_IDS: positions in derived_from; IDEMPOTENCY_KEY_TAKEN: the row that holds the key.
    unknown_positions: tuple[int, ...] = ()
    existing: StoredArtifact | None = None


@dataclass(frozen=True)
class ListQuery:
    """One page of a tenant's artifacts, newest first, after the keyset position ``after``."""

    id_company: str
    status: str = "active"
    dag_id: uuid.UUID | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    run_date: dt.date | None = None
    run_id: str | None = None
    phase: str | None = None
    artifact_type: str | None = None
    is_primary_deliverable: bool | None = None
    name_prefix: str | None = None
    limit: int = 50
    after: tuple[dt.datetime, str] | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class Statement:
    sql: str
    params: dict[str, Any]


def run_lock(run: RunRef) -> Statement:
    """Takes the transaction-scoped lock of one run (creates, and whatever else must see them)."""
    key = json.dumps([run.id_company, str(run.dag_id), run.run_date.isoformat(), run.run_id])
    return Statement(
        "SELECT pg_advisory_xact_lock(hashtextextended(CAST(:lock_key AS text), :seed))",
        {"lock_key": key, "seed": _RUN_LOCK_SEED},
    )


def run_is_sealed(db: Database, run: RunRef) -> bool:
    """Inside the run's lock: a sealed run takes no new artifact (docs/lifecycle.md)."""
    rows, _ = db.run(
        "SELECT 1 FROM etl.run_seals "
        "WHERE id_company = :id_company AND dag_id = :dag_id AND run_date = :run_date AND run_id = :run_id",
        **_run_params(run),
    )
    return bool(rows)


def _run_params(run: RunRef) -> dict[str, Any]:
    return {
        "id_company": run.id_company,
        "dag_id": run.dag_id,
        "run_date": run.run_date,
        "run_id": run.run_id,
    }


_RUN_MATCH = "id_company = :id_company AND dag_id = :dag_id AND run_date = :run_date AND run_id = :run_id"

# Under the run's lock: does the run exist (etl.logs), how many artifacts does it hold (counted
# up to the limit), is the name taken, which derived ids are the tenant's.
_CHECKS_SQL = f"""SELECT
  EXISTS (SELECT 1 FROM etl.logs WHERE {_RUN_MATCH}) AS run_exists,
  (SELECT count(*) FROM (SELECT 1 FROM {UPLOADS_TABLE}
     WHERE {_RUN_MATCH} AND status <> 'deleted' LIMIT :run_max) AS held) AS held,
  EXISTS (SELECT 1 FROM {UPLOADS_TABLE}
     WHERE {_RUN_MATCH} AND name = :name AND status <> 'deleted') AS name_taken,
  (SELECT coalesce(array_agg(artifact_id), CAST('{{}}' AS text[])) FROM {UPLOADS_TABLE}
     WHERE id_company = :id_company AND artifact_id = ANY(CAST(:derived_ids AS text[]))) AS known_ids"""  # noqa: S608 - constants only

_INSERT_SQL = f"""INSERT INTO {UPLOADS_TABLE} ({SELECT_COLUMNS})
VALUES (:id_company, :artifact_id, :dag_id, :run_date, :run_id, :phase, :attempt, :name, :artifact_type,
        :content_type, :size_bytes, :sha256, :status, :is_primary_deliverable,
        CAST(:derived_from AS text[]), CAST(:metadata AS jsonb), :created_at, :created_by, :expires_at,
        :deleted_at, :restorable_until, :s3_key, :idempotency_key, :request_sha256)
ON CONFLICT DO NOTHING
RETURNING artifact_id"""  # noqa: S608 - constants only


def stored_from_row(row: Sequence[Any]) -> StoredArtifact:
    values = dict(zip(COLUMNS, row, strict=True))
    metadata = values["metadata"]
    record = ArtifactRecord(
        artifact_id=values["artifact_id"],
        dag_id=values["dag_id"],
        date=values["run_date"],
        run_id=values["run_id"],
        phase=values["phase"],
        attempt=values["attempt"],
        name=values["name"],
        artifact_type=values["artifact_type"],
        content_type=values["content_type"],
        size_bytes=values["size_bytes"],
        sha256=values["sha256"],
        digest=f"sha256:{values['sha256']}",
        status=values["status"],
        is_primary_deliverable=values["is_primary_deliverable"],
        derived_from=list(values["derived_from"] or []),
        metadata=json.loads(metadata) if isinstance(metadata, str) else dict(metadata or {}),
        created_at=values["created_at"],
        created_by=values["created_by"],
        expires_at=values["expires_at"],
        deleted_at=values["deleted_at"],
        restorable_until=values["restorable_until"],
    )
    return StoredArtifact(
        id_company=values["id_company"],
        record=record,
        s3_key=values["s3_key"],
        idempotency_key=values["idempotency_key"],
        request_sha256=values["request_sha256"],
    )


def _row_params(artifact: StoredArtifact) -> dict[str, Any]:
    record = artifact.record
    return {
        "id_company": artifact.id_company,
        "artifact_id": record.artifact_id,
        "dag_id": record.dag_id,
        "run_date": record.date,
        "run_id": record.run_id,
        "phase": record.phase,
        "attempt": record.attempt,
        "name": record.name,
        "artifact_type": record.artifact_type,
        "content_type": record.content_type,
        "size_bytes": record.size_bytes,
        "sha256": record.sha256,
        "status": record.status,
        "is_primary_deliverable": record.is_primary_deliverable,
        "derived_from": list(record.derived_from),
        "metadata": json.dumps(record.metadata, separators=(",", ":"), ensure_ascii=False),
        "created_at": record.created_at,
        "created_by": record.created_by,
        "expires_at": record.expires_at,
        "deleted_at": record.deleted_at,
        "restorable_until": record.restorable_until,
        "s3_key": artifact.s3_key,
        "idempotency_key": artifact.idempotency_key,
        "request_sha256": artifact.request_sha256,
    }


def list_statement(query: ListQuery) -> Statement:
    """One keyset page (``limit`` + 1 rows: the extra one says whether a next page exists).

    The tenant, then the DAG (when given) and the status are equalities on the leading columns of
    a list index, so the page is read in index order, starting after the cursor's position.
    """
    conditions = ["id_company = :id_company"]
    params: dict[str, Any] = {"id_company": query.id_company, "limit": query.limit + 1}

    def where(column: str, operator: str, name: str, value: Any) -> None:
        if value is not None:
            conditions.append(f"{column} {operator} :{name}")
            params[name] = value

    where("dag_id", "=", "dag_id", query.dag_id)
    where("run_date", "=", "run_date", query.run_date)
    where("run_id", "=", "run_id", query.run_id)
    if query.status == "expired":
        # Expired: marked so by the sweeper, or active past its expiry and not swept yet.
        conditions.append("(status = 'expired' OR (status = 'active' AND expires_at <= :now))")
        params["now"] = query.now
    else:
        where("status", "=", "status", query.status)
        if query.status == "active":
            conditions.append("(expires_at IS NULL OR expires_at > :now)")
            params["now"] = query.now
    where("run_date", ">=", "date_from", query.date_from)
    where("run_date", "<=", "date_to", query.date_to)
    where("phase", "=", "phase", query.phase)
    where("artifact_type", "=", "artifact_type", query.artifact_type)
    where("is_primary_deliverable", "=", "is_primary_deliverable", query.is_primary_deliverable)
    if query.name_prefix is not None:
        # A literal prefix (no LIKE wildcards to escape).
        conditions.append("starts_with(name, CAST(:name_prefix AS text))")
        params["name_prefix"] = query.name_prefix
    if query.after is not None:
        conditions.append("(created_at, artifact_id) < (CAST(:after_created_at AS timestamptz), :after_id)")
        params["after_created_at"], params["after_id"] = query.after
    clause = "\n  AND ".join(conditions)
    sql = f"SELECT {SELECT_COLUMNS}\nFROM {UPLOADS_TABLE}\nWHERE {clause}\nORDER BY {ORDER_BY}\nLIMIT :limit"
    return Statement(sql, params)


def select_artifact(
    query: Callable[..., tuple[list[list[Any]], list[str]]],
    id_company: str,
    column: Literal["artifact_id", "idempotency_key"],
    value: str,
    lock: Literal["", "FOR UPDATE", "FOR SHARE"] = "",
) -> StoredArtifact | None:
    """The tenant's row whose ``column`` is ``value``, through ``query`` (``db.read``, or ``db.run``
    inside a transaction when the row is locked with ``lock``)."""
    rows, _ = query(
        f"SELECT {SELECT_COLUMNS} FROM {UPLOADS_TABLE} "  # noqa: S608 - constants only
        f"WHERE id_company = :id_company AND {column} = :value {lock}".rstrip(),
        id_company=id_company,
        value=value,
    )
    return stored_from_row(rows[0]) if rows else None


class UploadRecords:
    """Rows of ``etl.uploaded_artifacts``, always within one tenant."""

    def __init__(self, db: Database | None = None) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        return self._db or get_database()

    def get(self, id_company: str, artifact_id: str) -> StoredArtifact | None:
        return select_artifact(self.db.read, id_company, "artifact_id", artifact_id)

    def find_by_idempotency_key(self, id_company: str, key: str) -> StoredArtifact | None:
        return select_artifact(self.db.read, id_company, "idempotency_key", key)

    def insert(self, artifact: StoredArtifact, run_max: int) -> InsertResult:
        """Insert a new row if its run exists for the tenant, holds fewer than ``run_max``
        artifacts that are not deleted, has no such name, every ``art_`` id of ``derived_from`` is
        the tenant's, and its Idempotency-Key (if any) is free; else says which did not hold."""
        record = artifact.record
        run = RunRef(artifact.id_company, record.dag_id, record.date, record.run_id)
        derived_ids = [entry for entry in record.derived_from if entry.startswith("art_")]
        db = self.db
        with db.transaction():
            lock = run_lock(run)
            db.run(lock.sql, **lock.params)
            rows, _ = db.run(
                _CHECKS_SQL, **_run_params(run), run_max=run_max, name=record.name, derived_ids=derived_ids
            )
            run_exists, held, name_taken, known_ids = rows[0]
            if not run_exists:
                return InsertResult(InsertOutcome.RUN_NOT_FOUND)
            if run_is_sealed(db, run):
                return InsertResult(InsertOutcome.RUN_SEALED)
            if name_taken:
                return InsertResult(InsertOutcome.NAME_TAKEN)
            if int(held) >= run_max:
                return InsertResult(InsertOutcome.RUN_FULL)
            known = set(known_ids or [])
            unknown = tuple(
                i
                for i, entry in enumerate(record.derived_from)
                if entry in derived_ids and entry not in known
            )
            if unknown:
                return InsertResult(InsertOutcome.UNKNOWN_DERIVED_IDS, unknown_positions=unknown)
            inserted, _ = db.run(_INSERT_SQL, **_row_params(artifact))
        if inserted:
            return InsertResult(InsertOutcome.CREATED)
        # The only unique entry not checked under the run lock: the key, taken meanwhile (or the
        # astronomically unlikely id collision, which the caller answers like a reused key).
        existing = (
            self.find_by_idempotency_key(artifact.id_company, artifact.idempotency_key)
            if artifact.idempotency_key
            else None
        )
        return InsertResult(InsertOutcome.IDEMPOTENCY_KEY_TAKEN, existing=existing)

    def set_status(
        self, id_company: str, artifact_id: str, status: str, *, from_status: str
    ) -> StoredArtifact | None:
        """Move one artifact from ``from_status`` to ``status``; the row as it is afterwards, or
        ``None`` when it was not in ``from_status`` (then nothing changed). Becoming active queues
        ``artifact.created`` in the same transaction (docs/lifecycle.md, events)."""
        from etl_artifacts.lifecycle import outbox

        db = self.db
        event: int | None = None
        with db.transaction():
            rows, _ = db.run(
                f"UPDATE {UPLOADS_TABLE} SET status = :status, updated_at = now() "  # noqa: S608 - constants only
                "WHERE id_company = :id_company AND artifact_id = :artifact_id AND status = :from_status "
                f"RETURNING {SELECT_COLUMNS}",
                id_company=id_company,
                artifact_id=artifact_id,
                status=status,
                from_status=from_status,
            )
            changed = stored_from_row(rows[0]) if rows else None
            if changed is not None and status == "active":
                record = changed.record
                event = outbox.record_event(
                    db,
                    id_company,
                    "artifact.created",
                    {
                        "artifact_id": artifact_id,
                        "dag_id": str(record.dag_id),
                        "date": record.date.isoformat(),
                        "run_id": record.run_id,
                    },
                )
        outbox.publish_soon([event])
        return changed

    def remove(self, id_company: str, artifact_id: str) -> None:
        """Forget a row whose create failed before the artifact existed for anyone (still pending)."""
        self.db.read(
            f"DELETE FROM {UPLOADS_TABLE} "  # noqa: S608 - constants only
            "WHERE id_company = :id_company AND artifact_id = :artifact_id AND status = 'pending'",
            id_company=id_company,
            artifact_id=artifact_id,
        )

    def list_page(self, query: ListQuery) -> tuple[list[StoredArtifact], bool]:
        """The page's rows and whether more follow."""
        statement = list_statement(query)
        rows, _ = self.db.read(statement.sql, **statement.params)
        return [stored_from_row(row) for row in rows[: query.limit]], len(rows) > query.limit
