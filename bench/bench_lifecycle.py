"""Scenario 12: the artifact lifecycle -- sweeper throughput and the share link redirect.

- Sweeper: ``N`` uploaded artifacts of one tenant, all past ``expires_at``, with their bytes on
  moto's S3 server; one ``sweep`` (batches of 200: claim rows ``FOR UPDATE SKIP LOCKED``, one
  DeleteObjects call, mark them, revoke their links) timed end to end. Reported as objects per
  second. The parquet written beside them is checked untouched.
- Link redirect: the LinksFunction handler in-process (event in, 302 out) following links with no
  download limit: the atomic ``UPDATE ... RETURNING`` that counts the use, then a presigned GET.
  Median and p95 per request.

``python -m bench.bench_lifecycle [--smoke] [--objects N] [--requests N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import time
import uuid
from typing import Any

from bench.handler_calls import API_PREFIX, HandlerResponse, http_event, lambda_context, load_function_handler
from bench.stack import BENCH_BUCKET, shared_postgres, shared_s3
from bench.timing import BenchOptions, Stats, measure, progress, row, target

SCENARIO = "lifecycle"
FULL_OBJECTS, SMOKE_OBJECTS = 2_000, 40
FULL_REQUESTS, SMOKE_REQUESTS = 200, 10
REDIRECT_TARGET_MS = 100.0


def _make_run(company: str) -> Any:
    from etl_artifacts.postgres.db import get_database
    from etl_artifacts.s3.layout import RunRef

    run = RunRef(company, uuid.uuid4(), dt.date(2026, 11, 20), "lifecycle__2026-11-20T10:00:00+00:00")
    get_database().run(
        """INSERT INTO etl.logs (id_company, dag_id, run_date, run_id, log)
           VALUES (:c, :d, :day, :r, CAST('{}' AS jsonb))""",
        c=run.id_company,
        d=run.dag_id,
        day=run.run_date,
        r=run.run_id,
    )
    return run


def _artifacts(run: Any, count: int, *, expires_at: dt.datetime | None) -> list[Any]:
    """``count`` active artifacts of ``run`` with 16 bytes each in S3 (written in parallel)."""
    from concurrent.futures import ThreadPoolExecutor

    from etl_artifacts.clients import s3_client
    from etl_artifacts.uploads.dal import InsertOutcome, StoredArtifact, UploadRecords
    from etl_artifacts.uploads.ids import new_artifact_id
    from etl_artifacts.uploads.models import ArtifactRecord

    data = b"0123456789abcdef"
    digest = hashlib.sha256(data).hexdigest()
    store = UploadRecords()
    made: list[StoredArtifact] = []
    for index in range(count):
        artifact_id = new_artifact_id()
        record = ArtifactRecord(
            artifact_id=artifact_id,
            dag_id=run.dag_id,
            date=run.run_date,
            run_id=run.run_id,
            phase=None,
            attempt=None,
            name=f"file-{index:05}.bin",
            artifact_type="report",
            content_type="application/octet-stream",
            size_bytes=len(data),
            sha256=digest,
            digest="sha256:" + digest,
            status="active",
            is_primary_deliverable=False,
            derived_from=[],
            metadata={},
            created_at=dt.datetime.now(dt.UTC),
            created_by="bench",
            expires_at=expires_at,
            deleted_at=None,
            restorable_until=None,
        )
        stored = StoredArtifact(run.id_company, record, f"{run.prefix()}uploads/{artifact_id}")
        assert store.insert(stored, run_max=count + 1).outcome is InsertOutcome.CREATED
        made.append(stored)
    client = s3_client()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda a: client.put_object(Bucket=BENCH_BUCKET, Key=a.s3_key, Body=data), made))
    return made


def sweeper_throughput(count: int) -> tuple[float, int, float]:
    """(objects per second, objects removed, seconds) of one sweep over ``count`` expired artifacts."""
    from etl_artifacts.clients import s3_client
    from etl_artifacts.lifecycle.sweeper import sweep

    run = _make_run(f"bench-sweep-{uuid.uuid4().hex[:6]}")
    parquet = f"{run.prefix()}extract/attempt=1/data_000.parquet"
    s3_client().put_object(Bucket=BENCH_BUCKET, Key=parquet, Body=b"PAR1")
    now = dt.datetime.now(dt.UTC)
    progress(f"lifecycle: writing {count:,} expired artifacts")
    _artifacts(run, count, expires_at=now + dt.timedelta(days=1))
    at = now + dt.timedelta(days=2)
    progress("lifecycle: sweeping")
    started = time.perf_counter()
    report = sweep(at)
    seconds = time.perf_counter() - started
    listed = s3_client().list_objects_v2(Bucket=BENCH_BUCKET, Prefix=run.prefix())
    left = [item["Key"] for item in listed.get("Contents", [])]
    assert left == [parquet], left[:5]  # every upload removed, the parquet untouched
    return report.objects_removed / seconds, report.objects_removed, seconds


def redirect_stats(requests: int, options: BenchOptions) -> Stats:
    from etl_artifacts.lifecycle.links import create_link
    from etl_artifacts.lifecycle.models import CreateLinkRequest

    run = _make_run(f"bench-link-{uuid.uuid4().hex[:6]}")
    [artifact] = _artifacts(run, 1, expires_at=None)
    link = create_link(
        run.id_company, "bench", artifact.artifact_id, CreateLinkRequest(), "https://bench.local/api/v1"
    )
    token = link.url.rsplit("/", 1)[1]
    handler = load_function_handler("LinksFunction")
    route = f"{API_PREFIX}/links/{{link}}"

    def follow() -> None:
        event = http_event(route, f"{API_PREFIX}/links/{token}", {"link": token}, None)
        event["requestContext"].pop("authorizer")
        answer = HandlerResponse.from_result(handler(event, lambda_context("LinksFunction")))
        if answer.status != 302:
            raise RuntimeError(f"link answered {answer.status} {answer.error_code}")

    return measure(follow, runs=requests, warmup=max(options.warmup, 3))


def run(smoke: bool, options: BenchOptions | None = None) -> dict[str, Any]:
    options = options or (BenchOptions.smoke_defaults() if smoke else BenchOptions())
    shared_s3()
    shared_postgres()
    objects = SMOKE_OBJECTS if smoke else FULL_OBJECTS
    requests = SMOKE_REQUESTS if smoke else FULL_REQUESTS
    rate, removed, seconds = sweeper_throughput(objects)
    progress(f"lifecycle: following a share link {requests} times")
    stats = redirect_stats(requests, options)
    rows = [
        row(
            SCENARIO,
            f"sweeper: {removed:,} expired objects",
            None,
            f"{rate:,.0f} objects/s ({seconds:.2f} s; batches of 200, one DeleteObjects each)",
        ),
        row(SCENARIO, "share link redirect (LinksFunction handler, 302)", stats, "count the use + presign"),
    ]
    targets = [
        target(
            SCENARIO,
            f"link redirect p95 ≤ {REDIRECT_TARGET_MS:.0f} ms",
            f"{stats.p95_ms:.1f} ms",
            stats.p95_ms <= REDIRECT_TARGET_MS,
        )
    ]
    return {"rows": rows, "targets": targets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--objects", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    args = parser.parse_args()
    options = BenchOptions.smoke_defaults() if args.smoke else BenchOptions()
    shared_s3()
    shared_postgres()
    rate, removed, seconds = sweeper_throughput(
        args.objects or (SMOKE_OBJECTS if args.smoke else FULL_OBJECTS)
    )
    stats = redirect_stats(args.requests or (SMOKE_REQUESTS if args.smoke else FULL_REQUESTS), options)
    print(
        json.dumps(
            {
                "sweeper_objects_per_s": round(rate, 1),
                "sweeper_objects": removed,
                "sweeper_seconds": round(seconds, 3),
                "link_redirect_median_ms": round(stats.median_ms, 2),
                "link_redirect_p95_ms": round(stats.p95_ms, 2),
                "link_redirect_requests": stats.runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
