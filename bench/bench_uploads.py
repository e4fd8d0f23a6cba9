"""Scenario 11: uploaded artifacts (docs/uploads.md).

1. **Upload.** create + presigned PUT + complete of a 1 MiB and a 100 MiB file against the strict
   local S3 (LocalStack, which checks the signed length, type and SHA-256 as AWS does), through the
   real logic functions (``etl_artifacts.uploads.service``: SQL, S3 calls, models; not the HTTP
   gateway) and an HTTP PUT of the bytes to the presigned URL. Without the strict S3 installed
   (``make strict-s3``) these rows say so and are not measured.
2. **List.** The DAG-wide list (``list_artifacts``, first page, a page deep in through its cursor,
   and a filtered page) with 100,000 artifacts of the measured tenant in one DAG and 1,000,000 of
   other tenants *in the same DAG id*, then the same with the others' rows deleted: the cost of a
   page must not depend on other tenants' rows (p95 target 50 ms, ratio about 1).

Database: an embedded Postgres (shared with the other scenarios of the run), or ``DATABASE_URL``;
the rows are written for tenants ``bench-up-*`` with ``generate_series`` and deleted afterwards.

``python -m bench.bench_uploads [--smoke]`` prints the table; ``python -m bench`` calls ``run``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.stack import env_override, quiet_powertools_env, shared_postgres, shared_s3, stop_services
from bench.timing import BenchOptions, Stats, fmt_ratio, measure_interleaved, progress, ratio, row, target

SCENARIO = "uploads"
TENANT = "bench-up-a"
OTHERS_PREFIX = "bench-up-other-"
OTHER_TENANTS = 10
FULL_OWN, FULL_OTHERS = 100_000, 1_000_000
SMOKE_OWN, SMOKE_OTHERS = 2_000, 20_000
LIST_P95_BUDGET_MS = 50.0
FULL_SIZES = (1024 * 1024, 100 * 1024 * 1024)
SMOKE_SIZES = (64 * 1024, 1024 * 1024)
DAG = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
TENANT_ALONE = "bench-up-b"
DAG_ALONE = uuid.UUID("00000000-0000-4000-8000-0000000000b2")

# Server-side rows: tenant ``:company`` (or one of ``:tenants`` others), one DAG, 200 runs, a
# creation time per second; types and names vary so the filtered case has something to filter.
SEED_SQL = """
INSERT INTO etl.uploaded_artifacts (id_company, artifact_id, dag_id, run_date, run_id, phase, attempt,
  name, artifact_type, content_type, size_bytes, sha256, status, created_at, created_by, s3_key)
SELECT CASE WHEN CAST(:tenants AS int) = 0 THEN CAST(:company AS text)
            ELSE CAST(:company AS text) || (g % CAST(:tenants AS int)) END,
       'art_0' || upper(lpad(to_hex(g), 25, '0')), CAST(:dag AS uuid),
       DATE '2026-01-01' + CAST(g % 200 AS int),
       'run-' || (g % 200), 'transform', 1,
       CASE WHEN g % 10 = 0 THEN 'report-' ELSE 'file-' END || g || '.md',
       CASE WHEN g % 10 = 0 THEN 'report' ELSE 'export' END, 'text/markdown', 1024,
       repeat('a', 64), 'active', TIMESTAMPTZ '2026-01-01' + g * INTERVAL '1 second', 'bench',
       'k/' || g
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
"""


def _db() -> Any:
    from etl_artifacts.postgres.db import get_database

    return get_database()


def _seed(company: str, tenants: int, dag: uuid.UUID, first: int, last: int) -> None:
    _db().run(SEED_SQL, company=company, tenants=tenants, dag=str(dag), first=first, last=last)


def _clear() -> None:
    _db().run("DELETE FROM etl.uploaded_artifacts WHERE id_company LIKE 'bench-up-%'")
    _db().run("DELETE FROM etl.logs WHERE id_company LIKE 'bench-up-%'")


def _list_cases(company: str, dag: uuid.UUID, own: int) -> dict[str, Any]:
    from etl_artifacts.uploads.dal import ListQuery
    from etl_artifacts.uploads.service import list_artifacts

    first = ListQuery(id_company=company, dag_id=dag)
    # A cursor half-way down the tenant's artifacts: follow pages of 200 until there.
    cursor = None
    for _ in range(max(1, own // 2 // 200)):
        cursor = list_artifacts(
            ListQuery(id_company=company, dag_id=dag, limit=200), cursor, False
        ).next_cursor
    filtered = ListQuery(id_company=company, dag_id=dag, artifact_type="report", name_prefix="report-")

    def first_page() -> None:
        assert len(list_artifacts(first, None, False).items) == 50

    def deep_page() -> None:
        assert len(list_artifacts(first, cursor, False).items) == 50

    def filtered_page() -> None:
        assert list_artifacts(filtered, None, False).items

    return {"first page": first_page, "deep page (cursor)": deep_page, "filtered page": filtered_page}


def _database_ms(company: str, dag: uuid.UUID) -> float:
    """The first page's execution time inside Postgres (EXPLAIN ANALYZE), without the driver."""
    from etl_artifacts.uploads.dal import ListQuery, list_statement

    statement = list_statement(ListQuery(id_company=company, dag_id=dag))
    rows, _ = _db().run("EXPLAIN (ANALYZE, FORMAT JSON) " + statement.sql, **statement.params)
    return float(rows[0][0][0]["Execution Time"])


def _measure_lists(
    own: int, others: int, runs: int, warmup: int
) -> tuple[list[dict[str, Any]], dict[str, Stats]]:
    """Tenant A shares its DAG id with ``others`` artifacts of other tenants; tenant B holds as many
    artifacts as A in a DAG nobody else uses. Both are measured round-robin at the same time, so the
    machine's load falls on both alike: their ratio is the cost of the others' rows."""
    started = time.perf_counter()
    _clear()
    _seed(TENANT, 0, DAG, 1, own)
    _seed(TENANT_ALONE, 0, DAG_ALONE, own + 1, 2 * own)
    batch = 250_000
    for first in range(2 * own + 1, 2 * own + others + 1, batch):
        _seed(OTHERS_PREFIX, OTHER_TENANTS, DAG, first, min(first + batch - 1, 2 * own + others))
    _db().run("VACUUM ANALYZE etl.uploaded_artifacts")
    progress(f"uploads: seeded 2 x {own:,} + {others:,} artifacts in {time.perf_counter() - started:.0f} s")
    cases = {f"{name}|shared": call for name, call in _list_cases(TENANT, DAG, own).items()}
    cases.update(
        {f"{name}|alone": call for name, call in _list_cases(TENANT_ALONE, DAG_ALONE, 2 * own).items()}
    )
    stats = measure_interleaved(cases, runs=runs, warmup=warmup)
    shared_db, alone_db = _database_ms(TENANT, DAG), _database_ms(TENANT_ALONE, DAG_ALONE)
    rows: list[dict[str, Any]] = []
    for name in ("first page", "deep page (cursor)", "filtered page"):
        shared, alone = stats[f"{name}|shared"], stats[f"{name}|alone"]
        rows.append(
            row(
                SCENARIO,
                f"DAG list, {name}, DAG shared with other tenants",
                shared,
                f"{own:,} own artifacts; {others:,} of {OTHER_TENANTS} other tenants in the same DAG id"
                + (f"; in Postgres {shared_db:.2f} ms" if name == "first page" else ""),
            )
        )
        rows.append(
            row(
                SCENARIO,
                f"DAG list, {name}, no other tenant's rows",
                alone,
                f"{own:,} own artifacts, alone in their DAG; shared/alone p95 "
                f"{fmt_ratio(ratio(shared.p95_ms, alone.p95_ms))}, median "
                f"{fmt_ratio(ratio(shared.median_ms, alone.median_ms))}"
                + (f"; in Postgres {alone_db:.2f} ms" if name == "first page" else ""),
            )
        )
    return rows, stats


def _upload_once(size: int, data: bytes) -> dict[str, float]:
    """create + PUT + complete of ``data`` (one new artifact), each step timed."""
    import requests
    from etl_artifacts.s3.layout import RunRef
    from etl_artifacts.uploads.models import CreateArtifactRequest
    from etl_artifacts.uploads.service import complete_artifact, create_artifact

    run = RunRef(TENANT, DAG, dt.date(2026, 1, 1), "run-upload")
    body = CreateArtifactRequest(
        name=f"upload-{uuid.uuid4().hex}.bin",
        artifact_type="bench",
        content_type="application/octet-stream",
        size_bytes=size,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    times: dict[str, float] = {}
    started = time.perf_counter()
    created = create_artifact(TENANT, "bench", run, body, None).view
    times["create"] = time.perf_counter() - started
    assert created.upload is not None
    started = time.perf_counter()
    answer = requests.put(created.upload.url, data=data, headers=created.upload.headers, timeout=600)
    times["put"] = time.perf_counter() - started
    answer.raise_for_status()
    started = time.perf_counter()
    assert complete_artifact(TENANT, created.artifact_id).status == "active"
    times["complete"] = time.perf_counter() - started
    return times


def _measure_uploads(sizes: tuple[int, ...], runs: int) -> list[dict[str, Any]]:
    from etl_artifacts.clients import s3_client
    from etl_artifacts.config import get_settings

    try:
        from etl_artifacts_local.strict_s3 import StrictS3NotInstalled, StrictS3Server
    except ImportError:
        return [
            row(SCENARIO, "create + PUT + complete", None, "the strict local S3 is not part of this tree")
        ]
    server = StrictS3Server(Path(tempfile.mkdtemp(prefix="etl-bench-strict-s3-")))
    try:
        server.start()
    except StrictS3NotInstalled as exc:
        return [row(SCENARIO, "create + PUT + complete", None, f"strict S3 not installed: {exc}")]
    rows: list[dict[str, Any]] = []
    try:
        with env_override(**server.aws_environment("bench-uploads")):
            s3_client().create_bucket(Bucket=get_settings().artifacts_bucket)
            _db().run(
                """INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log)
                   VALUES (:c, CAST(:d AS uuid), DATE '2026-01-01', 'run-upload', CAST('{}' AS jsonb))
                   ON CONFLICT DO NOTHING""",
                c=TENANT,
                d=str(DAG),
            )
            for size in sizes:
                data = os.urandom(size)
                steps = [_upload_once(size, data) for _ in range(runs)]
                total = Stats([sum(step.values()) * 1000 for step in steps])
                parts = ", ".join(
                    f"{name} {sorted(step[name] for step in steps)[len(steps) // 2] * 1000:.0f} ms"
                    for name in ("create", "put", "complete")
                )
                mib = size / 1024 / 1024
                rows.append(
                    row(
                        SCENARIO,
                        f"create + PUT + complete, {mib:g} MiB",
                        total,
                        f"strict S3 (LocalStack); median {parts}",
                    )
                )
    finally:
        server.stop()
    return rows


def run(smoke: bool = False, options: BenchOptions | None = None) -> dict[str, Any]:
    options = options or (BenchOptions.smoke_defaults() if smoke else BenchOptions())
    os.environ.update(quiet_powertools_env())
    # ~10 ms calls on a shared machine: 100 samples each, so one stall is not the p95.
    runs = 2 if smoke else max(options.runs, 100)
    warmup = 1 if smoke else max(options.warmup, 3)
    own, others = (SMOKE_OWN, SMOKE_OTHERS) if smoke else (FULL_OWN, FULL_OTHERS)
    shared_s3()  # the list's settings (bucket, endpoint) and JWT_SECRET for the cursor key
    if not os.environ.get("DATABASE_URL"):
        shared_postgres(options.data_dir / ("uploads-postgres-smoke" if smoke else "uploads-postgres"))
    with env_override(DB_STATEMENT_TIMEOUT_MS=str(3_600_000)):
        try:
            list_rows, stats = _measure_lists(own, others, runs, warmup)
            upload_rows = _measure_uploads(SMOKE_SIZES if smoke else FULL_SIZES, 1 if smoke else 3)
        finally:
            _clear()
    shared = {name.split("|")[0]: value for name, value in stats.items() if name.endswith("|shared")}
    alone = {name.split("|")[0]: value for name, value in stats.items() if name.endswith("|alone")}
    worst = max(value.p95_ms for value in shared.values())
    drift = max(ratio(shared[name].p95_ms, alone[name].p95_ms) or 0.0 for name in shared)
    targets = [
        target(
            SCENARIO,
            f"DAG list p95 <= {LIST_P95_BUDGET_MS:.0f} ms",
            f"{worst:.1f} ms",
            worst <= LIST_P95_BUDGET_MS,
        ),
        target(
            SCENARIO,
            f"a page costs the same with {others:,} other tenants' rows in the DAG as without",
            f"p95 shared/alone at most {fmt_ratio(drift)}",
            None if smoke else drift <= 1.5,
        ),
    ]
    return {"rows": list_rows + upload_rows, "targets": targets}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_uploads", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    args = parser.parse_args()
    try:
        result = run(args.smoke)
    finally:
        stop_services()
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
