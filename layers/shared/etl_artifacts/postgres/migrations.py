"""Schema migrations for ``etl.logs`` (the table if missing, plus the extensions and indexes the
queries need) and for the tables the project owns beside it (uploaded artifacts). Idempotent; each
applied step is recorded in ``etl.schema_migrations`` and an advisory lock serialises concurrent runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from etl_artifacts.postgres.db import Database

PHASE_COLUMNS = ("event", "extract", "transform", "load")
_LOCK_ID = 424242001

# Keyword search keys (migration 5): every 3-character window of the lower-cased text, hashed with
# a seed derived from (tenant, DAG). A key therefore names one tenant's DAG: a GIN lookup reads only
# the caller's own posting lists, and a word that only another tenant holds is exactly as absent as
# a word nobody holds (docs/api.md: a search's cost never depends on another tenant's rows).
# ILIKE lower-cases both sides the same way, so every window of lower(keyword) is a window of
# lower(text) whenever the text matches: the keys never miss a match, and ILIKE rechecks each row.
KEYWORD_KEYS_FUNCTION = "etl.keyword_keys"
KEYWORD_KEY_CHARS = 3
# Uploaded artifacts (migration 6).
UPLOADS_TABLE = "etl.uploaded_artifacts"


def keyword_keys_expression(phase: str) -> str:
    """The indexed expression for a phase, exactly as the runs queries must write it."""
    return f"{KEYWORD_KEYS_FUNCTION}(id_company, dag_id, (log->'{phase}')::text)"


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
    Migration(
        5,
        "runs keyword indexes keyed by tenant",
        (
            # The (dag_id, trigram) indexes of migration 4 are a timing oracle across tenants: two
            # tenants may run the same DAG id, so A's search gathered B's matches and filtered them
            # afterwards. Their keys are shared by every tenant; these are not.
            # One pass over the characters (unnest keeps their order; lead() pairs each with the
            # next two): substr or array subscripts would be quadratic on a phase's long text.
            # STRICT keeps an absent phase (NULL text) out of the index.
            f"""CREATE OR REPLACE FUNCTION {KEYWORD_KEYS_FUNCTION}(company text, dag uuid, doc text)
               RETURNS bigint[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
                 SELECT coalesce(array_agg(hashtextextended(w, seed)), '{{}}')
                 FROM (SELECT hashtextextended(company || '/' || dag::text, 0) AS seed) AS s,
                      (SELECT c || lead(c, 1) OVER o || lead(c, 2) OVER o AS w
                       FROM unnest(string_to_array(lower(doc), NULL)) WITH ORDINALITY AS t (c, n)
                       WINDOW o AS (ORDER BY n)) AS windows
                 WHERE w IS NOT NULL
               $$""",  # noqa: S608 - constants only
            # fastupdate off: a GIN pending list is scanned whole by every search, so its cost would
            # follow every tenant's recent inserts.
            *(
                f"""CREATE INDEX IF NOT EXISTS logs_{phase}_tenant_keys_idx
                    ON etl.logs USING gin (({keyword_keys_expression(phase)})) WITH (fastupdate = off)"""
                for phase in PHASE_COLUMNS
            ),
            *(f"DROP INDEX IF EXISTS etl.logs_{phase}_dag_trgm_idx" for phase in PHASE_COLUMNS),
            "ANALYZE etl.logs",
        ),
    ),
    Migration(
        6,
        "uploaded artifacts",
        (
            # One row per artifact a tenant attached to a run (docs/uploads.md). The bytes are in S3
            # at ``s3_key`` (``{run prefix}uploads/{artifact_id}``), never at a client path.
            # Every index leads with id_company: a lookup or a list page only ever walks the
            # caller's own entries, so its cost never depends on another tenant's rows.
            f"""CREATE TABLE IF NOT EXISTS {UPLOADS_TABLE} (
              id_company             text        NOT NULL,
              artifact_id            text        COLLATE "C" NOT NULL,
              dag_id                 uuid        NOT NULL,
              run_date               date        NOT NULL,
              run_id                 text        NOT NULL,
              phase                  text,
              attempt                integer,
              name                   text        NOT NULL,
              artifact_type          text        NOT NULL,
              content_type           text        NOT NULL,
              size_bytes             bigint      NOT NULL CHECK (size_bytes >= 0),
              sha256                 text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{{64}}$'),
              status                 text        NOT NULL
                CHECK (status IN ('pending', 'active', 'deleted', 'expired')),
              is_primary_deliverable boolean     NOT NULL DEFAULT false,
              derived_from           text[]      NOT NULL DEFAULT '{{}}',
              metadata               jsonb       NOT NULL DEFAULT '{{}}',
              created_at             timestamptz NOT NULL,
              created_by             text        NOT NULL,
              expires_at             timestamptz,
              deleted_at             timestamptz,
              restorable_until       timestamptz,
              updated_at             timestamptz NOT NULL DEFAULT now(),
              s3_key                 text        NOT NULL,
              idempotency_key        text,
              request_sha256         text,
              PRIMARY KEY (id_company, artifact_id)
            )""",
            # A name is unique among the run's artifacts that are not deleted; also what counts a
            # run's artifacts against RUN_MAX_ARTIFACTS (an index-only scan of the run's entries).
            f"""CREATE UNIQUE INDEX IF NOT EXISTS uploaded_artifacts_run_name_idx
               ON {UPLOADS_TABLE} (id_company, dag_id, run_date, run_id, name)
               WHERE status <> 'deleted'""",
            # Idempotency-Key is per tenant.
            f"""CREATE UNIQUE INDEX IF NOT EXISTS uploaded_artifacts_idempotency_idx
               ON {UPLOADS_TABLE} (id_company, idempotency_key)
               WHERE idempotency_key IS NOT NULL""",
            # The lists, in their order (created_at DESC, artifact_id DESC) for keyset pages:
            # one DAG, every DAG of the tenant, one run.
            f"""CREATE INDEX IF NOT EXISTS uploaded_artifacts_dag_list_idx
               ON {UPLOADS_TABLE} (id_company, dag_id, status, created_at DESC, artifact_id DESC)""",
            f"""CREATE INDEX IF NOT EXISTS uploaded_artifacts_tenant_list_idx
               ON {UPLOADS_TABLE} (id_company, status, created_at DESC, artifact_id DESC)""",
            f"""CREATE INDEX IF NOT EXISTS uploaded_artifacts_run_list_idx
               ON {UPLOADS_TABLE} (id_company, dag_id, run_date, run_id, status, created_at DESC,
                                   artifact_id DESC)""",
        ),
    ),
    Migration(
        20,
        "lifecycle: run seals, share links, event outbox",
        (
            # One row per sealed run: the manifest exactly as signed (RFC 8785 text) and its signature.
            """CREATE TABLE IF NOT EXISTS etl.run_seals (
              id_company  text        NOT NULL,
              dag_id      uuid        NOT NULL,
              run_date    date        NOT NULL,
              run_id      text        NOT NULL,
              manifest    text        NOT NULL,
              key_id      text        NOT NULL,
              signature   text        NOT NULL,
              sealed_at   timestamptz NOT NULL,
              PRIMARY KEY (id_company, dag_id, run_date, run_id)
            )""",
            # Share links: the token itself is never stored, only its SHA-256.
            """CREATE TABLE IF NOT EXISTS etl.artifact_links (
              link_id        text        PRIMARY KEY,
              id_company     text        NOT NULL,
              artifact_id    text        NOT NULL,
              token_sha256   bytea       NOT NULL,
              expires_at     timestamptz NOT NULL,
              max_downloads  integer,
              downloads      integer     NOT NULL DEFAULT 0,
              created_at     timestamptz NOT NULL DEFAULT now(),
              created_by     text        NOT NULL,
              revoked_at     timestamptz
            )""",
            # The public route knows nothing but the token: its hash is the one lookup not led by tenant.
            """CREATE UNIQUE INDEX IF NOT EXISTS artifact_links_token_idx
               ON etl.artifact_links (token_sha256)""",
            """CREATE INDEX IF NOT EXISTS artifact_links_tenant_artifact_idx
               ON etl.artifact_links (id_company, artifact_id, created_at DESC)""",
            # The per-tenant quota counts the links not revoked and not yet expired.
            """CREATE INDEX IF NOT EXISTS artifact_links_tenant_live_idx
               ON etl.artifact_links (id_company, expires_at) WHERE revoked_at IS NULL""",
            # Events committed with the change that caused them; a publisher deletes them once sent.
            """CREATE TABLE IF NOT EXISTS etl.event_outbox (
              id           bigserial   PRIMARY KEY,
              event_id     uuid        NOT NULL,
              id_company   text        NOT NULL,
              detail_type  text        NOT NULL,
              detail       text        NOT NULL,
              created_at   timestamptz NOT NULL DEFAULT now(),
              attempts     integer     NOT NULL DEFAULT 0
            )""",
        ),
    ),
    Migration(
        21,
        "lifecycle: uploaded artifacts' delete, purge and sweeper columns",
        (
            # What a restore brings a deleted artifact back to (it may have been pending).
            f"ALTER TABLE {UPLOADS_TABLE} ADD COLUMN IF NOT EXISTS status_before_delete text",
            # When the sweeper removed the bytes (expired, abandoned, or deleted past the window).
            f"ALTER TABLE {UPLOADS_TABLE} ADD COLUMN IF NOT EXISTS purged_at timestamptz",
            # The sweeper's three questions, each led by the tenant like every index of the table
            # (a sweep across tenants walks them with a skip scan).
            f"""CREATE INDEX IF NOT EXISTS uploaded_artifacts_expiry_idx
               ON {UPLOADS_TABLE} (id_company, expires_at) WHERE status IN ('active', 'pending')""",
            f"""CREATE INDEX IF NOT EXISTS uploaded_artifacts_pending_idx
               ON {UPLOADS_TABLE} (id_company, created_at) WHERE status = 'pending'""",
            f"""CREATE INDEX IF NOT EXISTS uploaded_artifacts_purge_idx
               ON {UPLOADS_TABLE} (id_company, restorable_until)
               WHERE status = 'deleted' AND purged_at IS NULL""",
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
