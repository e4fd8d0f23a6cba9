"""Schema migrations for ``etl.logs`` (CONTRACT §3): the table if missing, plus the extensions
and indexes the queries need. Idempotent; each applied step is recorded in
``etl.schema_migrations`` and an advisory lock serialises concurrent runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from etl_artifacts.db import Database

PHASE_COLUMNS = ("event", "extract", "transform", "load")
_LOCK_ID = 424242001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "create etl.logs",
        (
            "CREATE SCHEMA IF NOT EXISTS etl",
            """CREATE TABLE IF NOT EXISTS etl.logs (
              id          bigserial PRIMARY KEY,
              id_company  text        NOT NULL,
              dag_id      uuid        NOT NULL,
              run_date    date        NOT NULL,
              run_id      text        NOT NULL,
              log         jsonb       NOT NULL,
              created_at  timestamptz NOT NULL DEFAULT now(),
              updated_at  timestamptz NOT NULL DEFAULT now(),
              UNIQUE (id_company, dag_id, run_date, run_id)
            )""",
        ),
    ),
    Migration(
        2,
        "runs search indexes",
        (
            "CREATE EXTENSION IF NOT EXISTS pg_trgm",
            # Tenant + DAG + date range, in the API's order (run_id in byte order).
            """CREATE INDEX IF NOT EXISTS logs_tenant_dag_date_run_idx
               ON etl.logs (id_company, dag_id, run_date DESC, run_id COLLATE "C" DESC)""",
            # Keyword search: trigram GIN per phase on exactly the expression the queries use.
            *(
                f"""CREATE INDEX IF NOT EXISTS logs_{phase}_trgm_idx
                    ON etl.logs USING gin (((log->'{phase}')::text) gin_trgm_ops)"""
                for phase in PHASE_COLUMNS
            ),
        ),
    ),
    Migration(
        3,
        "runs search planner statistics",
        (
            # A DAG belongs to one tenant. Without this the planner multiplies the selectivities of
            # id_company and dag_id, expects a few dozen rows where a DAG has thousands, and filters
            # keywords row by row instead of combining the btree with the trigram index (measured
            # in bench/bench_runs.py: 25-50 ms instead of 1-4 ms at 1,000,000 rows).
            """CREATE STATISTICS IF NOT EXISTS etl.logs_company_dag_stats (ndistinct, dependencies)
               ON id_company, dag_id FROM etl.logs""",
            # Builds the new statistics now instead of at the next auto-analyze (a sample of rows).
            "ANALYZE etl.logs (id_company, dag_id)",
        ),
    ),
    Migration(
        4,
        "runs keyword indexes scoped by DAG",
        (
            # Every search names one DAG: a GIN index on (dag_id, trigrams) intersects the DAG's
            # entries with the keyword's inside one index scan, instead of ANDing a bitmap of every
            # tenant's keyword matches with the btree's. Same size as the plain trigram index
            # (measured at 1,000,000 rows: 550 MB vs 546 MB for extract), and a keyword search does
            # 4-15x less work in the database (bench/bench_runs.py), so it replaces it. The keyword
            # expression stays exactly ``(log->'<phase>')::text``.
            "CREATE EXTENSION IF NOT EXISTS btree_gin",
            *(
                f"""CREATE INDEX IF NOT EXISTS logs_{phase}_dag_trgm_idx
                    ON etl.logs USING gin (dag_id, ((log->'{phase}')::text) gin_trgm_ops)"""
                for phase in PHASE_COLUMNS
            ),
            *(f"DROP INDEX IF EXISTS etl.logs_{phase}_trgm_idx" for phase in PHASE_COLUMNS),
        ),
    ),
)


def migrate(db: Database, progress: Callable[[str], None] = lambda _msg: None) -> list[int]:
    """Apply missing migrations; returns the versions applied now."""
    db.run("SELECT pg_advisory_lock(:lock)", lock=_LOCK_ID)
    try:
        db.run("CREATE SCHEMA IF NOT EXISTS etl")
        db.run(
            """CREATE TABLE IF NOT EXISTS etl.schema_migrations (
                 version integer PRIMARY KEY,
                 name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows, _ = db.run("SELECT version FROM etl.schema_migrations")
        done = {row[0] for row in rows}
        applied: list[int] = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            progress(f"applying migration {migration.version}: {migration.name}")
            db.run("BEGIN")
            try:
                for statement in migration.statements:
                    db.run(statement)
                db.run(
                    "INSERT INTO etl.schema_migrations (version, name) VALUES (:v, :n)",
                    v=migration.version,
                    n=migration.name,
                )
                db.run("COMMIT")
            except Exception:
                db.run("ROLLBACK")
                raise
            applied.append(migration.version)
        return applied
    finally:
        db.run("SELECT pg_advisory_unlock(:lock)", lock=_LOCK_ID)
