"""Scenario 3: runs search over >= 1,000,000 ``etl.logs`` rows (50 tenants, 500 DAGs),
with the migrations' indexes and without them, through the real logic function
(``etl_artifacts.runs.dal.search_runs_in_db``: the SQL, the driver round trip and the models; not HTTP).

Data: one DAG has ``rows / 500`` runs spread over 2025 (2,000 at full size, every ~4.4 hours),
the rows of all DAGs interleaved in insertion order as runs arrive over time. Each run's ``log``
holds four phases with inline ``data`` rows (high-entropy values: SKUs, hashes, cities) so the
keyword indexes are realistically large. The needle is in 10 rows of the whole table, all in the
measured DAG; the common word ("timeout") is in 1% of every DAG's runs.

"Without" means the indexes the migrations add are dropped inside a transaction that is rolled
back afterwards (DDL is transactional in Postgres): the base table's own UNIQUE btree on
(id_company, dag_id, run_date, run_id) stays, since it is part of the table, not a migration.

Database: ``DATABASE_URL`` from the environment when set (bench rows are written for tenants
``bench-t*`` and deleted afterwards; indexes are only dropped inside the rolled-back transaction);
otherwise an embedded Postgres under the bench data directory, seeded once and reused.

Timing oracle: two more tenants share one DAG; tenant B holds a word in
``ORACLE_B_ROWS`` runs (300,000 at full size), tenant A in none. A's search for that word and for a
word nobody holds both answer ``total: 0``; their time ratio says whether a search's cost depends
on another tenant's rows (1.0 when it does not). ``--oracle-only`` measures just that case.

``python -m bench.bench_runs [--rows N] [--runs N] [--smoke] [--oracle-only]`` prints the table;
the suite runner (``python -m bench``) calls ``run(smoke, options=...)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.stack import env_override, quiet_powertools_env, shared_postgres, stop_services
from bench.timing import (
    BenchOptions,
    fmt_bytes,
    fmt_ratio,
    measure,
    measure_interleaved,
    progress,
    ratio,
    row,
    target,
)

SCENARIO = "runs search"
TENANTS = 50
DAGS_PER_TENANT = 10  # 500 DAGs
FULL_ROWS = 1_000_000
SMOKE_ROWS = 2_000
SEED_VERSION = 1
INSERT_BATCH = 100_000
NEEDLE = "needle-7f3a"  # stored as NEEDLE-7F3A: the search is case-insensitive
COMMON_WORD = "timeout"
KEYWORD_P95_BUDGET_MS = 50.0
KEYWORD_SPEEDUP = 20.0
COMPANY_PREFIX = "bench-t"

# One INSERT ... SELECT generate_series per batch, entirely server-side. ``k`` is the run's
# number inside its DAG; the needle sits where g is a multiple of :needle_every (a multiple of
# 500), which always lands in tenant 00, DAG 0 — the measured one.
SEED_SQL = """
WITH p AS (
  SELECT CAST(:tenants AS bigint) AS tenants, CAST(:dags_per_tenant AS bigint) AS dags,
         CAST(:per_dag AS bigint) AS per_dag, CAST(:needle_every AS bigint) AS needle_every,
         CAST(:company_prefix AS text) AS company_prefix
)
INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log, created_at, updated_at)
SELECT company, dag_id, ts::date,
       'scheduled__' || to_char(ts, 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00',
       jsonb_build_object(
         'event', jsonb_build_object(
           'status', 'success',
           'message', 'triggered by ' || (ARRAY['schedule', 'queue', 'manual'])[1 + k % 3],
           'total', 1, 'attempt', 1, 's3_data_path', prefix || 'event/',
           'data', jsonb_build_array(jsonb_build_object('message_id', md5('m' || g), 'source', 'sqs'))),
         'extract', jsonb_build_object(
           'status', CASE WHEN k % 100 = 7 THEN 'error' WHEN k % 100 = 8 THEN 'running' ELSE 'success' END,
           'message', CASE
               WHEN g % needle_every = 0 THEN 'checksum mismatch in batch NEEDLE-7F3A'
               WHEN k % 100 = 7 THEN 'upstream API timeout after 30 s'
               ELSE 'extracted ' || (k * 37 % 5000) || ' rows' END,
           'total', k * 37 % 5000, 'attempt', 1 + (k % 100 = 7)::int,
           's3_data_path', prefix || 'extract/attempt=1/',
           'data', (SELECT jsonb_agg(jsonb_build_object(
                      'order_id', g * 3 + i, 'sku', 'SKU-' || substr(md5('s' || (g * 3 + i)), 1, 10),
                      'qty', (g + i) % 17, 'amount', round(((g * 7 + i) % 100000) / 100.0, 2),
                      'city', (ARRAY['Paris', 'Lyon', 'Berlin', 'Madrid', 'Rome', 'Oslo', 'Lisbon',
                                     'Vienna'])[1 + (g + i) % 8],
                      'note', substr(md5('n' || (g * 3 + i)), 1, 16)))
                    FROM generate_series(0, 2) AS i)),
         'transform', jsonb_build_object(
           'status', CASE WHEN k % 100 = 7 THEN 'skipped' ELSE 'success' END,
           'message', NULL, 'total', k * 37 % 5000, 'attempt', 1,
           's3_data_path', prefix || 'transform/attempt=1/',
           'data', jsonb_build_array(jsonb_build_object('batch', md5('b' || g), 'valid', k % 13 <> 0)))
       ) || CASE WHEN k % 10 = 9 THEN '{}'::jsonb ELSE jsonb_build_object('load', jsonb_build_object(
           'status', 'success', 'message', 'loaded into warehouse', 'total', k * 37 % 5000, 'attempt', 1,
           's3_data_path', prefix || 'load/attempt=1/')) END,
       ts, ts
FROM (
  SELECT g, k, company, dag_id, ts, needle_every,
         's3://bench-artifacts/' || company || '/' || dag_id || '/' || ts::date || '/' || k || '/' AS prefix
  FROM (
    SELECT g, g / (p.tenants * p.dags) AS k, p.needle_every,
           p.company_prefix || lpad((g % p.tenants)::text, 2, '0') AS company,
           CAST(md5('bench-dag-' || (g % p.tenants) || '-' || ((g / p.tenants) % p.dags)) AS uuid) AS dag_id,
           TIMESTAMP '2025-01-01'
             + make_interval(secs => floor((g / (p.tenants * p.dags)) * 31536000.0 / p.per_dag)) AS ts
    FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g, p
  ) AS base
) AS runs
"""

# -- the timing-oracle case ------------------------------------------------------------------------
ORACLE_SEED_VERSION = 1
ORACLE_COMPANY_A = "bench-oracle-a"
ORACLE_COMPANY_B = "bench-oracle-b"
ORACLE_A_ROWS = {False: 2_000, True: 200}  # by smoke
ORACLE_B_ROWS = {False: 300_000, True: 3_000}
ORACLE_WORD = "quokka-5e1d"  # in every one of B's runs, in none of A's
ORACLE_ABSENT = "wombat-8c2f"  # in nobody's runs
ORACLE_RATIO_MAX = 2.0

# Both tenants' runs of the one DAG, interleaved in insertion order (as runs arrive over time),
# each with a few high-entropy inline rows so the keyword indexes hold realistic posting lists.
ORACLE_SEED_SQL = """
INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log)
SELECT company, CAST(:dag_id AS uuid), DATE '2025-01-01' + (g % 365)::int, 'run-' || g,
       jsonb_build_object(
         'event', jsonb_build_object('status', 'success', 'message', 'triggered', 'total', 1,
                                     'attempt', 1, 's3_data_path', NULL),
         'extract', jsonb_build_object(
           'status', 'success',
           'message', CASE WHEN company = :b THEN 'batch ' || g || ' flagged ' || :word
                           ELSE 'batch ' || g || ' extracted' END,
           'total', g % 5000, 'attempt', 1, 's3_data_path', NULL,
           'data', jsonb_build_array(jsonb_build_object(
             'sku', 'SKU-' || substr(md5('o' || g), 1, 10), 'note', substr(md5('p' || g), 1, 16)))))
FROM (
  SELECT g, CASE WHEN g % CAST(:every AS bigint) = 0 THEN CAST(:a AS text) ELSE CAST(:b AS text) END
         AS company
  FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
) AS runs
"""


def oracle_dag() -> uuid.UUID:
    import hashlib

    return uuid.UUID(hashlib.md5(b"bench-oracle-dag", usedforsecurity=False).hexdigest())


def oracle_search(keyword: str) -> Any:
    from etl_artifacts.runs.models import RunSearch

    return RunSearch(
        id_company=ORACLE_COMPANY_A,
        dag_id=oracle_dag(),
        date_from=dt.date(2025, 1, 1),
        date_to=dt.date(2025, 12, 31),
        statuses={},
        keywords={"extract": keyword},
        page=0,
        limit=20,
    )


def oracle_seeded(b_rows: int) -> bool:
    rows, _ = db().run("SELECT to_regclass('public.bench_runs_oracle_seed') IS NOT NULL")
    if not rows[0][0]:
        return False
    rows, _ = db().run(
        "SELECT 1 FROM public.bench_runs_oracle_seed WHERE version = :v AND b_rows = :n",
        v=ORACLE_SEED_VERSION,
        n=b_rows,
    )
    return bool(rows)


def seed_oracle(a_rows: int, b_rows: int, *, own_database: bool) -> None:
    """A's and B's runs of the oracle DAG, replacing any earlier ones (marker in the public schema)."""
    total = a_rows + b_rows
    every = max(1, total // a_rows)
    with admin_connection() as conn:
        conn.run("DELETE FROM etl.logs WHERE id_company IN (:a, :b)", a=ORACLE_COMPANY_A, b=ORACLE_COMPANY_B)
        conn.run("DROP TABLE IF EXISTS public.bench_runs_oracle_seed")
        with indexes_built_after(conn, own_database):
            for first in range(0, every * a_rows, INSERT_BATCH):
                last = min(every * a_rows, first + INSERT_BATCH) - 1
                progress(f"runs: oracle rows {first:,}..{last:,}")
                conn.run(
                    ORACLE_SEED_SQL,
                    first=first,
                    last=last,
                    every=every,
                    dag_id=str(oracle_dag()),
                    a=ORACLE_COMPANY_A,
                    b=ORACLE_COMPANY_B,
                    word=ORACLE_WORD.upper(),
                )
        progress("runs: VACUUM ANALYZE etl.logs")
        conn.run("VACUUM ANALYZE etl.logs")
        conn.run("CREATE TABLE public.bench_runs_oracle_seed (version int NOT NULL, b_rows bigint NOT NULL)")
        conn.run("INSERT INTO public.bench_runs_oracle_seed VALUES (:v, :n)", v=ORACLE_SEED_VERSION, n=b_rows)


def oracle_plan(keyword: str) -> str:
    """The text plan of A's keyword search (the index conditions show what each lookup binds)."""
    from etl_artifacts.runs.query import search_statement

    statement = search_statement(oracle_search(keyword))
    rows, _ = db().run("EXPLAIN " + statement.sql, **statement.params)
    return "\n".join(str(r[0]) for r in rows)


def measure_oracle(smoke: bool, runs: int, warmup: int, *, own_database: bool) -> dict[str, Any]:
    """A's search for B's word against A's search for an absent word: both ``total: 0``."""
    from etl_artifacts.runs.dal import search_runs_in_db

    a_rows, b_rows = ORACLE_A_ROWS[smoke], ORACLE_B_ROWS[smoke]
    if own_database and oracle_seeded(b_rows):
        progress(f"runs: reusing the oracle's {b_rows:,} rows of tenant B")
    else:
        seed_oracle(a_rows, b_rows, own_database=own_database)
    try:
        calls: dict[str, Callable[[], Any]] = {
            word: functools.partial(search_runs_in_db, oracle_search(word))
            for word in (ORACLE_WORD, ORACLE_ABSENT)
        }
        for word, call in calls.items():
            if call().total != 0:
                raise RuntimeError(f"oracle: tenant A's search for {word!r} found runs")
        stats = measure_interleaved(calls, runs=max(runs, 10 if smoke else 40), warmup=warmup)
        plan = oracle_plan(ORACLE_WORD)
    finally:
        if not own_database:
            with admin_connection() as conn:
                conn.run(
                    "DELETE FROM etl.logs WHERE id_company IN (:a, :b)",
                    a=ORACLE_COMPANY_A,
                    b=ORACLE_COMPANY_B,
                )
    hit, miss = stats[ORACLE_WORD], stats[ORACLE_ABSENT]
    value = ratio(hit.median_ms, miss.median_ms)
    conditions = [line for line in plan.splitlines() if "Index Cond" in line]
    binds = bool(conditions) and all("id_company" in line for line in conditions)
    note = f"tenant A ({a_rows:,} runs) in a DAG where tenant B has {b_rows:,} runs holding the word"
    return {
        "rows": [
            row(SCENARIO, "oracle: A searches B's word (total 0)", hit, note),
            row(SCENARIO, "oracle: A searches an absent word (total 0)", miss, "control"),
        ],
        "targets": [
            target(
                SCENARIO,
                f"no timing oracle: A's hit/miss time ratio ≤ {ORACLE_RATIO_MAX:.1f}",
                f"{fmt_ratio(value)} (median {hit.median_ms:.2f} / {miss.median_ms:.2f} ms); "
                + (
                    "index conditions bind id_company" if binds else "index conditions do NOT bind id_company"
                ),
                value is not None and value <= ORACLE_RATIO_MAX and binds,
                "1.0 means A's cost does not depend on B's rows",
            )
        ],
    }


INDEXES_SQL = """
SELECT i.relname, pg_get_indexdef(i.oid), pg_relation_size(i.oid)
FROM pg_index AS x
JOIN pg_class AS i ON i.oid = x.indexrelid
WHERE x.indrelid = CAST('etl.logs' AS regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
"""


@dataclass(frozen=True)
class Case:
    name: str
    statuses: dict[str, str]
    keywords: dict[str, str]

    @property
    def is_keyword(self) -> bool:
        return bool(self.keywords)


CASES = (
    Case("keyword, needle", {}, {"extract": NEEDLE}),
    Case("keyword, common word", {}, {"extract": COMMON_WORD}),
    Case("status filter", {"extract": "error"}, {}),
    Case("plain date range", {}, {}),
)


def measured_dag() -> uuid.UUID:
    """Tenant 00's DAG 0, as SEED_SQL derives DAG ids."""
    import hashlib

    return uuid.UUID(hashlib.md5(b"bench-dag-0-0", usedforsecurity=False).hexdigest())


def search_for(case: Case, page: int = 0) -> Any:
    from etl_artifacts.runs.models import RunSearch

    return RunSearch(
        id_company=f"{COMPANY_PREFIX}00",
        dag_id=measured_dag(),
        date_from=dt.date(2025, 1, 1),
        date_to=dt.date(2025, 12, 31),
        statuses=case.statuses,
        keywords=case.keywords,
        page=page,
        limit=20,
    )


# -- database -------------------------------------------------------------------------------------
def db() -> Any:
    from etl_artifacts.postgres.db import get_database

    return get_database()


@contextmanager
def admin_connection() -> Iterator[Any]:
    """A separate pg8000 connection for seeding and index builds, which outlast the API's
    statement and socket timeouts; the measured searches keep the API's own connection."""
    from etl_artifacts.config import get_settings
    from etl_artifacts.postgres.db import connect

    settings = get_settings().model_copy(update={"db_statement_timeout_ms": 6 * 3600 * 1000})
    conn = connect(settings)
    try:
        conn.run("SET maintenance_work_mem = '512MB'")
        yield conn
    finally:
        conn.close()


def seeded_rows_marker(table: str = "bench_runs_seed", version: int = SEED_VERSION) -> int | None:
    """The row count a finished seed recorded in ``public.<table>`` for ``version``, else None."""
    rows, _ = db().run(f"SELECT to_regclass('public.{table}') IS NOT NULL")
    if not rows[0][0]:
        return None
    rows, _ = db().run(f"SELECT rows FROM public.{table} WHERE version = :v", v=version)
    return int(rows[0][0]) if rows else None


def delete_bench_rows(conn: Any) -> None:
    conn.run("DELETE FROM etl.logs WHERE id_company LIKE :p", p=f"{COMPANY_PREFIX}%")


def migration_indexes() -> list[tuple[str, str, int]]:
    """(name, definition, bytes) of every index on etl.logs that does not back a constraint."""
    rows, _ = db().run(INDEXES_SQL)
    return [(str(name), str(definition), int(size)) for name, definition, size in rows]


def seed(rows: int, *, own_database: bool) -> float:
    """Insert ``rows`` bench runs; returns seconds. On our own database the secondary indexes are
    dropped first and rebuilt after (a bulk build is several times faster than row by row)."""
    per_dag = max(1, -(-rows // (TENANTS * DAGS_PER_TENANT)))
    needle_every = max(1, rows // 10 // (TENANTS * DAGS_PER_TENANT)) * TENANTS * DAGS_PER_TENANT
    started = time.perf_counter()
    if own_database:
        # Our own database: start from an empty schema, so an interrupted earlier seed (rows
        # half inserted, indexes dropped) leaves nothing behind.
        with admin_connection() as conn:
            conn.run("DROP TABLE IF EXISTS public.bench_runs_seed")
            conn.run("DROP TABLE IF EXISTS public.bench_runs_oracle_seed")
            conn.run("DROP SCHEMA IF EXISTS etl CASCADE")
        migrate_now()
    with admin_connection() as conn:
        delete_bench_rows(conn)
        with indexes_built_after(conn, own_database):
            for first in range(0, rows, INSERT_BATCH):
                last = min(rows, first + INSERT_BATCH) - 1
                progress(f"runs: inserting rows {first:,}..{last:,}")
                conn.run(
                    SEED_SQL,
                    first=first,
                    last=last,
                    tenants=TENANTS,
                    dags_per_tenant=DAGS_PER_TENANT,
                    per_dag=per_dag,
                    needle_every=needle_every,
                    company_prefix=COMPANY_PREFIX,
                )
        progress("runs: VACUUM ANALYZE etl.logs")
        conn.run("VACUUM ANALYZE etl.logs")
        if own_database:
            conn.run("CREATE TABLE public.bench_runs_seed (version int NOT NULL, rows bigint NOT NULL)")
            conn.run("INSERT INTO public.bench_runs_seed VALUES (:v, :rows)", v=SEED_VERSION, rows=rows)
    return time.perf_counter() - started


@contextmanager
def indexes_built_after(conn: Any, own_database: bool) -> Iterator[None]:
    """On our own database the secondary indexes are dropped before a bulk insert and rebuilt
    after (a bulk build is several times faster than row by row, and the keyword GIN indexes
    take every insert directly: no pending list)."""
    rebuild = migration_indexes() if own_database else []
    for name, _, _ in rebuild:
        conn.run(f'DROP INDEX IF EXISTS etl."{name}"')
    try:
        yield
    finally:
        for name, definition, _ in rebuild:
            progress(f"runs: building index {name}")
            conn.run(definition)


@contextmanager
def without_migration_indexes() -> Iterator[list[str]]:
    """The migrations' indexes dropped inside a transaction rolled back on exit, so nothing is
    lost and nobody else ever sees the table without them (the lock blocks them meanwhile)."""
    names = [name for name, _, _ in migration_indexes()]
    db().run("BEGIN")
    try:
        for name in names:
            db().run(f'DROP INDEX etl."{name}"')
        yield names
        # A reconnect (the API's Database retries once on a broken connection) would have left the
        # transaction: then the timings were taken with the indexes and must not be reported.
        if migration_indexes():
            raise RuntimeError("left the transaction while measuring without indexes")
    finally:
        db().run("ROLLBACK")


def measure_without_any_index(cases: list[Case], runs: int, warmup: int) -> dict[str, Any]:
    """Reference only: the same statements on the table with no index at all (the base table's UNIQUE
    constraint dropped too, also rolled back), i.e. a full scan. SQL on a long-timeout connection,
    since a scan outlasts the API's timeouts; not through the logic function."""
    from etl_artifacts.runs.query import search_statement

    results: dict[str, Any] = {}
    with admin_connection() as conn:
        conn.run("BEGIN")
        try:
            for name, _, _ in migration_indexes():
                conn.run(f'DROP INDEX etl."{name}"')
            constraints = conn.run(
                "SELECT conname FROM pg_constraint"
                " WHERE conrelid = CAST('etl.logs' AS regclass) AND contype = 'u'"
            )
            for (name,) in constraints:
                conn.run(f'ALTER TABLE etl.logs DROP CONSTRAINT "{name}"')
            for case in cases:
                statement = search_statement(search_for(case))
                results[case.name] = measure(
                    functools.partial(conn.run, statement.sql, **statement.params), runs=runs, warmup=warmup
                )
        finally:
            conn.run("ROLLBACK")
    return results


def plan_indexes(case: Case) -> list[str]:
    """Index names in the plan of the case's statement (what the planner chose)."""
    from etl_artifacts.runs.query import search_statement

    statement = search_statement(search_for(case))
    rows, _ = db().run("EXPLAIN (FORMAT JSON) " + statement.sql, **statement.params)
    plan = rows[0][0]
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = node.get("Index Name")
            if isinstance(name, str) and name not in found:
                found.append(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(plan) if isinstance(plan, str) else plan)
    return found


def table_size() -> int:
    rows, _ = db().run("SELECT pg_table_size(CAST('etl.logs' AS regclass))")
    return int(rows[0][0])


# -- the scenario ---------------------------------------------------------------------------------
@contextmanager
def long_statement_timeouts() -> Iterator[None]:
    """The API's connection settings with hour-long timeouts, while migrations build indexes over
    a full table (they outlast the API's 10 s statement timeout)."""
    from etl_artifacts.postgres.db import reset_database

    reset_database()
    try:
        with env_override(DB_STATEMENT_TIMEOUT_MS=str(6 * 3600 * 1000)):
            yield
    finally:
        reset_database()  # the measured searches use the API's own settings


def migrate_now() -> None:
    from etl_artifacts.postgres.db import get_database
    from etl_artifacts.postgres.migrations import migrate

    with long_statement_timeouts():
        migrate(get_database())


@contextmanager
def database(options: BenchOptions, smoke: bool) -> Iterator[bool]:
    """Yields whether the database is our own (embedded, reusable) rather than DATABASE_URL's."""
    os.environ.update(quiet_powertools_env())
    if os.environ.get("DATABASE_URL"):
        migrate_now()
        yield False
        return
    with long_statement_timeouts():
        shared_postgres(options.data_dir / ("runs-postgres-smoke" if smoke else "runs-postgres"))
    yield True


def run(
    smoke: bool = False,
    options: BenchOptions | None = None,
    rows: int | None = None,
    runs: int | None = None,
    oracle_only: bool = False,
) -> dict[str, Any]:
    options = options or (BenchOptions.smoke_defaults() if smoke else BenchOptions())
    # ms-scale queries: at least 20 samples so that p95 is not just the maximum of a handful.
    runs = runs or (2 if smoke else max(options.runs, 20))
    warmup = 1 if smoke else max(options.warmup, 2)
    with database(options, smoke) as own_database:
        main = (
            {"rows": [], "targets": []}
            if oracle_only
            else main_cases(smoke, rows, runs, warmup, own_database)
        )
        oracle = measure_oracle(smoke, runs, warmup, own_database=own_database)
    return {"rows": main["rows"] + oracle["rows"], "targets": main["targets"] + oracle["targets"]}


def main_cases(smoke: bool, rows: int | None, runs: int, warmup: int, own_database: bool) -> dict[str, Any]:
    """The 1,000,000-row cases: each search with the migrations' indexes, without, and with none."""
    from etl_artifacts.runs.dal import search_runs_in_db

    size = rows or (SMOKE_ROWS if smoke else FULL_ROWS)
    seed_note = ""
    if own_database and seeded_rows_marker() == size:
        progress(f"runs: reusing the {size:,} seeded rows")
    else:
        seconds = seed(size, own_database=own_database)
        seed_note = f"; seeded in {seconds:.0f} s"
    try:
        index_bytes = sum(size for _, _, size in migration_indexes())
        data_note = (
            f"{size:,} rows, {TENANTS} tenants, {TENANTS * DAGS_PER_TENANT} DAGs; "
            f"table {fmt_bytes(table_size())}, migration indexes {fmt_bytes(index_bytes)}{seed_note}"
        )
        progress(f"runs: {data_note}")
        with_index: dict[str, Any] = {}
        answers: dict[str, Any] = {}
        for case in CASES:
            search = search_for(case)
            answers[case.name] = search_runs_in_db(search)
            with_index[case.name] = (
                measure(functools.partial(search_runs_in_db, search), runs=runs, warmup=warmup),
                plan_indexes(case),
            )
        without: dict[str, Any] = {}
        with without_migration_indexes():
            for case in CASES:
                search = search_for(case)
                if search_runs_in_db(search) != answers[case.name]:
                    raise RuntimeError(f"{case.name}: different answer without the indexes")
                without[case.name] = measure(
                    functools.partial(search_runs_in_db, search), runs=runs, warmup=warmup
                )
        progress("runs: keyword searches on the table without any index (full scans)")
        no_index = measure_without_any_index(
            [c for c in CASES if c.is_keyword], runs=2 if smoke else 5, warmup=0 if smoke else 1
        )
    finally:
        if not own_database:
            with admin_connection() as conn:
                delete_bench_rows(conn)
    return report(size, runs, data_note, answers, with_index, without, no_index)


def report(
    size: int,
    runs: int,
    data_note: str,
    answers: dict[str, Any],
    with_index: dict[str, Any],
    without: dict[str, Any],
    no_index: dict[str, Any],
) -> dict[str, Any]:
    result_rows: list[dict[str, Any]] = []
    for case in CASES:
        stats, used = with_index[case.name]
        answer = answers[case.name]
        speedup = without[case.name].median_ms / stats.median_ms if stats.median_ms else float("nan")
        result_rows.append(
            row(
                SCENARIO,
                f"{case.name}, with indexes",
                stats,
                f"total {answer.total}, page of {len(answer.items)}; "
                f"plan uses {', '.join(used) or 'no index'}; {speedup:.1f}x faster than without",
            )
        )
        result_rows.append(
            row(
                SCENARIO,
                f"{case.name}, without migration indexes",
                without[case.name],
                "base table's UNIQUE btree only" + ("; " + data_note if case is CASES[0] else ""),
            )
        )
        if case.name in no_index:
            result_rows.append(
                row(
                    SCENARIO,
                    f"{case.name}, no index at all (reference)",
                    no_index[case.name],
                    "UNIQUE constraint dropped too: full scan; the SQL alone, not through the logic function",
                )
            )
    keyword_cases = [c for c in CASES if c.is_keyword]
    worst_p95 = max(with_index[c.name][0].p95_ms for c in keyword_cases)
    speedups = {c.name: without[c.name].median_ms / with_index[c.name][0].median_ms for c in keyword_cases}
    slowest = min(speedups.values())
    scan_speedups = {
        c.name: no_index[c.name].median_ms / with_index[c.name][0].median_ms for c in keyword_cases
    }
    return {
        "rows": result_rows,
        "targets": [
            target(
                SCENARIO,
                f"keyword p95 ≤ {KEYWORD_P95_BUDGET_MS:.0f} ms with indexes",
                ", ".join(
                    f"{c.name.removeprefix('keyword, ')} {with_index[c.name][0].p95_ms:.1f} ms"
                    for c in keyword_cases
                ),
                worst_p95 <= KEYWORD_P95_BUDGET_MS,
            ),
            target(
                SCENARIO,
                f"≥ {KEYWORD_SPEEDUP:.0f}× faster than without",
                "median keyword search, without / with: "
                + ", ".join(
                    f"{name.removeprefix('keyword, ')} {value:.1f}×" for name, value in speedups.items()
                )
                + " against the base table (its UNIQUE btree kept); "
                + ", ".join(
                    f"{name.removeprefix('keyword, ')} {value:.0f}×" for name, value in scan_speedups.items()
                )
                + " against a table with no index at all",
                slowest >= KEYWORD_SPEEDUP,
                "judged against the base table: its UNIQUE btree already narrows a search to the "
                f"DAG's {size // (TENANTS * DAGS_PER_TENANT):,} runs, so without the keyword index a keyword "
                "costs one jsonb-to-text match per run of the range; the gap grows with runs per DAG",
            ),
        ],
    }


def render(result: dict[str, Any]) -> str:
    lines = ["| case | median ms | p95 ms | runs | note |", "|---|---:|---:|---:|---|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['case']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['runs']} | {r['note']} |"
        )
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {'met' if t['met'] else 'MISSED'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_runs", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, help=f"etl.logs rows to seed (default {FULL_ROWS:,}; smoke {SMOKE_ROWS:,})"
    )
    parser.add_argument(
        "--runs", type=int, help="timed runs per case after the warm-up (default 20, smoke 2)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, seconds: checks the scenario still runs"
    )
    parser.add_argument(
        "--oracle-only",
        action="store_true",
        help="only the timing-oracle case (two tenants, one DAG), without seeding the 1,000,000 rows",
    )
    args = parser.parse_args(argv)
    options = BenchOptions.smoke_defaults() if args.smoke else BenchOptions()
    try:
        result = run(
            args.smoke, options=options, rows=args.rows, runs=args.runs, oracle_only=args.oracle_only
        )
    finally:
        stop_services()
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
