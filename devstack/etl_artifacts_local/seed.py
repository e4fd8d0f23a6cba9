"""Demo data that follows docs/architecture.md (S3 layout, parquet schemas) (``etl.logs`` too) exactly.

Several tenants run the same DAGs (multi-tenant Airflow: one DAG id serves every company) over a
range of dates. Each run follows a *scenario* that decides each phase's attempts and statuses,
so the demo covers success, error, running and skipped for every phase, a retried phase (attempt 1
error, attempt 2 success), a manual run without a trigger message, runs still in progress (data
chunks but no ``metadata.parquet`` yet) and a phase with no output rows.

What one phase attempt writes, in this order (``metadata.parquet`` LAST: it marks the attempt
complete, and is what the indexer is triggered by):

- ``data_NNN.parquet``: the phase's output, ``chunk_rows`` rows per chunk, ``row_group_rows`` rows
  per row group, mixed column types (int64, float64 with NaN, strings with nulls,
  timestamp[us, UTC], date32, time64, duration, decimal128, bool, binary, list, struct, map);
- ``logs_NNN.parquet`` (DEBUG..CRITICAL) and ``errors_NNN.parquet`` (RFC 7807 columns; only when
  the attempt had errors);
- ``metadata.parquet``: one row; absent while the attempt is running. ``error_log_count`` counts
  the rows of the attempt's errors chunks.

Everything is derived from ``--seed`` (no clock, no global random state): seeding twice gives the
same objects and rows. A seeded run's prefix is emptied first, so a re-seed never leaves stale
chunks behind.

This module plans the runs and writes ``etl.logs``; ``seed_scenarios`` says what each run goes
through (and the options), ``seed_rows`` makes the ETL's rows, ``seed_writer`` writes one run's
objects; the API's own parquet schemas are ``etl_parquet``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from etl_artifacts.clients import s3_client
from etl_artifacts.postgres.db import Database, get_database
from etl_artifacts.s3.layout import RunRef

from etl_artifacts_local.seed_rows import random_uuid
from etl_artifacts_local.seed_scenarios import (
    COMPANY_NAMES,
    DEMO_DAG_ID,
    DEMO_RUN_TIME,
    SCENARIOS,
    SCENARIOS_BY_NAME,
    Scenario,
    SeededRun,
    SeedOptions,
    SeedResult,
)
from etl_artifacts_local.seed_writer import RunPlan, RunWriter


# --- helpers ----------------------------------------------------------------------------------
def company_names(count: int) -> list[str]:
    names = list(COMPANY_NAMES[:count])
    names += [f"company-{index:03d}" for index in range(len(names) + 1, count + 1)]
    return names


def demo_run_id(day: dt.date) -> str:
    return "manual__" + dt.datetime.combine(day, DEMO_RUN_TIME, dt.UTC).isoformat()


# --- etl.logs ---------------------------------------------------------------------------------
UPSERT_SQL = """
INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log, created_at, updated_at)
VALUES (:id_company, CAST(:dag_id AS uuid), :run_date, :run_id, CAST(:log AS jsonb), :created_at, :updated_at)
ON CONFLICT (id_company, dag_id, run_date, run_id)
DO UPDATE SET log = EXCLUDED.log, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
"""


def upsert_log(
    db: Database, run: RunRef, log: dict[str, Any], created_at: dt.datetime, updated_at: dt.datetime
) -> None:
    db.run(
        UPSERT_SQL,
        id_company=run.id_company,
        dag_id=str(run.dag_id),
        run_date=run.run_date,
        run_id=run.run_id,
        log=json.dumps(log, ensure_ascii=False),
        created_at=created_at,
        updated_at=updated_at,
    )


# --- planning and entry points ----------------------------------------------------------------
def _pick_scenario(rng: random.Random) -> Scenario:
    return rng.choices(SCENARIOS, weights=[scenario.weight for scenario in SCENARIOS])[0]


def plan_runs(options: SeedOptions) -> tuple[list[str], list[uuid.UUID], list[RunPlan]]:
    """Every run to write, decided up front from the seed (so the writing may run in threads)."""
    rng = random.Random(options.seed)
    companies = company_names(options.companies)
    dag_ids = [DEMO_DAG_ID] + [random_uuid(rng) for _ in range(options.dags - 1)]
    plans: list[RunPlan] = []
    used: set[tuple[str, uuid.UUID, dt.date, str]] = set()
    for company_index, company in enumerate(companies):
        for index in range(options.runs):
            showcase = company_index == 0 and index == 0
            # Each tenant's first runs walk through every scenario; the rest are drawn by weight.
            scenario = SCENARIOS[index] if index < len(SCENARIOS) else _pick_scenario(rng)
            dag_id = DEMO_DAG_ID if showcase else rng.choice(dag_ids)
            day = (
                options.end_date
                if showcase
                else options.end_date - dt.timedelta(days=rng.randrange(options.days))
            )
            manual = scenario.manual or showcase or rng.random() < 0.2
            while True:
                if showcase:
                    run_id = demo_run_id(day)
                    started = dt.datetime.combine(day, DEMO_RUN_TIME, dt.UTC)
                elif manual:
                    started = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(
                        seconds=rng.randrange(86_400), microseconds=rng.randrange(1, 10**6)
                    )
                    run_id = f"manual__{started.isoformat()}"
                else:
                    started = dt.datetime.combine(day, dt.time(rng.randrange(24)), dt.UTC)
                    run_id = f"scheduled__{started.isoformat()}"
                key = (company, dag_id, day, run_id)
                if key not in used:
                    used.add(key)
                    break
                manual = True  # a second run in the same scheduled slot was started by hand
            rows = options.rows if showcase else max(0, int(options.rows * rng.uniform(0.5, 1.5)))
            plans.append(RunPlan(RunRef(company, dag_id, day, run_id), scenario, rows, started, showcase))
    return companies, dag_ids, plans


def _write_plan(plan: RunPlan, options: SeedOptions) -> tuple[SeededRun, dict[str, Any], dt.datetime]:
    return RunWriter(plan, options.seed, options.chunk_rows, options.row_group_rows).write()


def seed(
    options: SeedOptions | None = None,
    progress: Callable[[str], None] | None = None,
    db: Database | None = None,
) -> SeedResult:
    """Write the demo data set (S3 objects, then each run's etl.logs row); returns what was written.

    Needs ARTIFACTS_BUCKET (existing), S3 access and DATABASE_URL with the schema migrated.
    """
    options = options or SeedOptions()
    db = db or get_database()
    companies, dag_ids, plans = plan_runs(options)
    s3_client()  # create the shared (thread-safe) client once, before the threads race to build it
    runs: list[SeededRun] = []
    every = max(1, len(plans) // 20)
    # Objects are written in threads (S3 PUTs wait on the network; pyarrow releases the GIL);
    # rows go to Postgres from this thread, in plan order.
    with ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="seed") as pool:
        for number, (seeded, log, updated_at) in enumerate(
            pool.map(lambda p: _write_plan(p, options), plans), 1
        ):
            plan = plans[number - 1]
            upsert_log(db, plan.run, log, plan.started_at, updated_at)
            runs.append(seeded)
            if progress and (number % every == 0 or number == len(plans)):
                progress(
                    f"run {number}/{len(plans)}: {seeded.id_company} {seeded.date} {seeded.run_id} "
                    f"({seeded.scenario}, {seeded.objects} objects)"
                )
    for plan in plans:
        if plan.showcase:
            from etl_artifacts.uploads.dal import UploadRecords

            from etl_artifacts_local.seed_uploads import seed_demo_upload

            seed_demo_upload(plan.run, UploadRecords(db))
    return SeedResult(
        companies=companies,
        dag_ids=dag_ids,
        date_from=options.end_date - dt.timedelta(days=options.days - 1),
        date_to=options.end_date,
        runs=runs,
    )


def seed_run(
    run: RunRef,
    scenario: str = "retried",
    *,
    rows: int = 120,
    seed: int = 42,
    chunk_rows: int = 50,
    row_group_rows: int = 20,
    db: Database | None = None,
) -> SeededRun:
    """Write one run of the given scenario at exactly ``run`` (S3 + etl.logs); tests and events use it."""
    script = SCENARIOS_BY_NAME[scenario]
    day = dt.datetime.combine(run.run_date, dt.time(), dt.UTC)
    started = day + dt.timedelta(hours=10)
    plan = RunPlan(run, script, rows, started, showcase=True)
    seeded, log, updated_at = RunWriter(plan, seed, chunk_rows, row_group_rows).write()
    upsert_log(db or get_database(), run, log, started, updated_at)
    return seeded
