"""Scenario 14's runs-search simulation: 10,000,000 runs in ``etl.logs`` (docs/scaling.md).

An embedded Postgres of its own (cached under the bench data directory, seeded once; a marker
table records the size), filled server-side with ``generate_series`` in batches of 1,000,000,
the migrations' secondary indexes dropped during the load and rebuilt after (a bulk build is
several times faster than row by row). The measured tenants' runs, and 1 in 9 of the others',
hold one phase (``extract``) with a short message; the other runs hold an empty ``log``. What the
keyword indexes' build spends its time on is hashing every run's text into tenant-keyed trigram
keys: this keeps the load and the builds in minutes on a shared machine. Those keys are hashed
with the tenant and DAG, so other tenants' entries never share a key with a measured tenant's:
more of them would deepen the index, not add work to its lookups. Every run counts for the btree
indexes (tenant, DAG, date).

Tenants: ``scale-small`` holds 1 run in 1,000 (10,000 in one DAG), ``scale-big`` 1 in 10
(1,000,000 in one DAG), 997 others the rest (10 DAGs each). Each of the two measured tenants
has the needle in 10 runs; 1% of everyone's runs hold the common word. Each tenant's search is
timed through the real logic function (``search_runs_in_db``: SQL, driver, models) for a date
range, a status filter and both keywords, p50/p95; ``EXPLAIN`` names the indexes it uses.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stack import env_override
from bench.timing import BenchOptions, Stats, measure, progress

SEED_VERSION = 1
BATCH = 1_000_000
SMALL = "scale-small"
BIG = "scale-big"
NEEDLE = "needle-5c2e"
COMMON_WORD = "timeout"
KEYWORD_P95_BUDGET_MS = 50.0  # scenario 3's budget, at 10x its rows
# Indexes whose keys start with the tenant (the table's UNIQUE btree is one).
TENANT_INDEXES = ("logs_tenant_dag_date_run_idx", "_tenant_keys_idx", "logs_id_company_dag_id")

SEED_SQL = """
INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log)
SELECT company, CAST(md5(dag) AS uuid), DATE '2025-01-01' + (g % 365)::int, 'scheduled__' || g,
       CASE WHEN dag IN ('small', 'big') OR g % 9 = 2 THEN jsonb_build_object('extract', jsonb_build_object(
         'status', CASE WHEN flag = 7 THEN 'error' ELSE 'success' END,
         'message', CASE WHEN g % CAST(:needle_every AS bigint) IN (0, 1) THEN 'checksum mismatch NEEDLE-5C2E'
                         WHEN flag = 7 THEN 'upstream timeout after 30 s'
                         ELSE 'extracted ' || (g % 5000) || ' rows' END,
         'total', g % 5000, 'attempt', 1, 's3_data_path', NULL))
       ELSE '{}'::jsonb
       END
FROM (
  SELECT g, abs(hashint8(g)) % 100 AS flag,
         CASE WHEN g % 1000 = 0 THEN CAST(:small AS text) WHEN g % 10 = 1 THEN CAST(:big AS text)
              ELSE 'scale-t' || (g % 997) END AS company,
         CASE WHEN g % 1000 = 0 THEN 'small' WHEN g % 10 = 1 THEN 'big'
              ELSE 'o' || (g % 997) || '-' || (g % 10) END AS dag
  FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
) AS runs
"""


def dag_of(name: str) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(name.encode(), usedforsecurity=False).hexdigest())


@dataclass
class TenantCase:
    tenant: str
    case: str
    stats: Stats
    total: int
    indexes: list[str]


@dataclass
class RunsSimulation:
    rows: int
    seed_s: float | None  # None: reused from the cache
    table_bytes: int
    index_bytes: dict[str, int]
    cases: list[TenantCase]


@contextmanager
def _own_postgres(root: Path) -> Iterator[str]:
    from etl_artifacts.postgres.db import reset_database
    from etl_artifacts_local.services import EmbeddedPostgres

    from bench.stack import reset_project_caches

    server = EmbeddedPostgres(root / "data")
    progress("scaling: starting the simulation's embedded Postgres")
    server.start()
    try:
        with env_override(DATABASE_URL=server.url):
            reset_project_caches()
            reset_database()
            yield server.url
    finally:
        reset_database()
        reset_project_caches()
        server.stop()


def _seeded_rows() -> int | None:
    from bench.bench_runs import seeded_rows_marker

    return seeded_rows_marker("scale_seed", SEED_VERSION)


def _seed(rows: int) -> float:
    from bench.bench_runs import admin_connection, indexes_built_after, migrate_now

    started = time.perf_counter()
    with admin_connection() as conn:
        conn.run("DROP TABLE IF EXISTS public.scale_seed")
        conn.run("DROP SCHEMA IF EXISTS etl CASCADE")
    migrate_now()
    needle_every = max(2, rows // 10 // 1000 * 1000)  # 0 and 1 mod it: the small and the big tenant
    with admin_connection() as conn, indexes_built_after(conn, own_database=True):
        for first in range(0, rows, BATCH):
            last = min(rows, first + BATCH) - 1
            progress(f"scaling: inserting runs {first:,}..{last:,} (generate_series)")
            conn.run(SEED_SQL, first=first, last=last, needle_every=needle_every, small=SMALL, big=BIG)
    with admin_connection() as conn:
        progress("scaling: VACUUM ANALYZE etl.logs")
        conn.run("VACUUM ANALYZE etl.logs")
        conn.run("CREATE TABLE public.scale_seed (version int NOT NULL, rows bigint NOT NULL)")
        conn.run("INSERT INTO public.scale_seed VALUES (:v, :rows)", v=SEED_VERSION, rows=rows)
    return time.perf_counter() - started


def _search(tenant: str, statuses: dict[str, str], keywords: dict[str, str]) -> Any:
    from etl_artifacts.runs.models import RunSearch

    return RunSearch(
        id_company=tenant,
        dag_id=dag_of("small" if tenant == SMALL else "big"),
        date_from=dt.date(2025, 1, 1),
        date_to=dt.date(2025, 12, 31),
        statuses=statuses,
        keywords=keywords,
        page=0,
        limit=20,
    )


def plan_indexes(search: Any) -> list[str]:
    """Index names in the plan of ``search``'s statement (what the planner chose)."""
    from etl_artifacts.runs.query import search_statement

    from bench.bench_runs import db

    statement = search_statement(search)
    rows, _ = db().run("EXPLAIN (FORMAT JSON) " + statement.sql, **statement.params)
    plan = rows[0][0]
    found: list[str] = []
    pending = [json.loads(plan) if isinstance(plan, str) else plan]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            name = node.get("Index Name")
            if isinstance(name, str) and name not in found:
                found.append(name)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def _sizes() -> tuple[int, dict[str, int]]:
    from bench.bench_runs import db, migration_indexes

    rows, _ = db().run("SELECT pg_table_size(CAST('etl.logs' AS regclass))")
    return int(rows[0][0]), {name: size for name, _, size in migration_indexes()}


CASES: tuple[tuple[str, dict[str, str], dict[str, str]], ...] = (
    ("date range", {}, {}),
    ("status filter", {"extract": "error"}, {}),
    ("keyword, needle", {}, {"extract": NEEDLE}),
    ("keyword, common word", {}, {"extract": COMMON_WORD}),
)


FULL_ROWS = 10_000_000


def simulate(options: BenchOptions, rows: int | None = None) -> RunsSimulation:
    from etl_artifacts.runs.dal import search_runs_in_db

    rows = rows or (20_000 if options.smoke else FULL_ROWS)
    root = options.data_dir / ("scaling-postgres-smoke" if options.smoke else "scaling-postgres")
    root.mkdir(parents=True, exist_ok=True)
    with _own_postgres(root):
        seed_s: float | None = None
        if _seeded_rows() == rows:
            progress(f"scaling: reusing the simulation's {rows:,} runs")
        else:
            seed_s = _seed(rows)
        table_bytes, index_bytes = _sizes()
        cases: list[TenantCase] = []
        runs = max(options.runs, 5 if options.smoke else 40)
        for tenant in (SMALL, BIG):
            for name, statuses, keywords in CASES:
                search = _search(tenant, statuses, keywords)
                call = functools.partial(search_runs_in_db, search)
                total = call().total
                stats = measure(call, runs=runs, warmup=options.warmup)
                cases.append(TenantCase(tenant, name, stats, total, plan_indexes(search)))
    return RunsSimulation(rows, seed_s, table_bytes, index_bytes, cases)


def uses_tenant_index(case: TenantCase) -> bool:
    return any(fragment in name for name in case.indexes for fragment in TENANT_INDEXES)
