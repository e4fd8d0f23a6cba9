"""Scenario 4: list + presign a run with 1,000 artifacts.

Ours (``etl_artifacts.artifacts.service.list_run_artifacts``: one paginated LIST, then every key
signed by botocore's own signer on a request prepared once) against the same work with a plain
loop of ``client.generate_presigned_url`` per key. Also timed apart: the signing alone (1,000 keys,
the only part the two differ in), the LIST alone, and the whole ArtifactsFunction handler
(event in, JSON out).

Signing runs with botocore's pure-Python SigV4 signer, the one Lambda's runtime uses (its boto3
ships without awscrt); when awscrt is installed here its signer is measured too, as a note.
moto's server is slower at LIST than S3 is, so the end-to-end ratio understates the signing gain.

``python -m bench.bench_presign [--smoke] [--artifacts N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bench.dataset import BENCH_COMPANY, BENCH_DAG_ID
from bench.handler_calls import (
    API_PREFIX,
    HandlerResponse,
    check_response,
    http_event,
    lambda_context,
    load_function_handler,
)
from bench.stack import BENCH_BUCKET, shared_s3
from bench.timing import BenchOptions, Stats, fmt_ratio, measure, progress, ratio, row, target

if TYPE_CHECKING:
    from etl_artifacts.artifacts.models import RunArtifactsResponse
    from etl_artifacts.s3.layout import RunRef

SCENARIO = "list + presign"
TARGET_TEXT = "≥ 2× faster than generate_presigned_url loop"
FULL_ARTIFACTS = 1_000
SMOKE_ARTIFACTS = 24
MIN_RUNS = 5
PRESIGN_RUN_ID = "presign__2026-11-20T10:00:00+00:00"


# -- data -------------------------------------------------------------------------------------
def artifact_keys(count: int) -> list[str]:
    """``count`` distinct relative keys of every kind, built with the layout module: the event
    files, each phase's metadata and index, then data/logs/errors chunks round-robin."""
    from etl_artifacts.s3.layout import EVENT_KINDS, PHASES, chunk_file, single_file

    keys = list(EVENT_KINDS.values())
    keys += [single_file(phase, 1, name) for phase in PHASES for name in ("metadata", "index")]
    chunk = 0
    while len(keys) < count:
        keys += [chunk_file(phase, 1, name, chunk) for phase in PHASES for name in ("data", "logs", "errors")]
        chunk += 1
    return sorted(keys[:count])


def presign_run() -> RunRef:
    from etl_artifacts.s3.layout import RunRef

    return RunRef(BENCH_COMPANY, BENCH_DAG_ID, dt.date(2026, 11, 20), PRESIGN_RUN_ID)


def upload_run(run: RunRef, count: int) -> list[str]:
    """Small objects (their content plays no part) under the run prefix; returns the full keys."""
    from etl_artifacts.clients import s3_client

    client = s3_client()
    prefix = run.prefix()
    keys = [prefix + relative for relative in artifact_keys(count)]

    def put(key: str) -> None:
        client.put_object(Bucket=BENCH_BUCKET, Key=key, Body=b"PAR1" + key.encode() + b"PAR1")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, keys))
    return sorted(keys)


# -- the two ways -----------------------------------------------------------------------------
def ours(run: RunRef) -> RunArtifactsResponse:
    from etl_artifacts.artifacts.service import list_run_artifacts

    return list_run_artifacts(run)


def loop_baseline(run: RunRef) -> RunArtifactsResponse:
    """The same answer, each URL from ``client.generate_presigned_url`` (the plain way)."""
    from etl_artifacts.artifacts.models import ArtifactItem, RunArtifactsResponse
    from etl_artifacts.artifacts.presign import content_disposition, download_filename
    from etl_artifacts.clients import s3_client
    from etl_artifacts.config import get_settings
    from etl_artifacts.s3.layout import parse_relative_key
    from etl_artifacts.s3.listing import list_prefix

    settings = get_settings()
    client = s3_client()
    prefix = run.prefix(settings.artifacts_prefix)
    items = []
    for obj in sorted(list_prefix(client, BENCH_BUCKET, prefix), key=lambda o: o["Key"]):
        ref = parse_relative_key(obj["Key"][len(prefix) :])
        if ref is None:
            continue
        ttl = settings.presign_default_ttl
        url = client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": BENCH_BUCKET,
                "Key": obj["Key"],
                "ResponseContentDisposition": content_disposition(download_filename(run, ref)),
            },
            ExpiresIn=ttl,
        )
        signed_at = dt.datetime.now(dt.UTC)
        items.append(
            ArtifactItem(
                key=ref.key,
                artifact_kind=ref.artifact_kind,
                phase=ref.phase,
                attempt=ref.attempt,
                chunk=ref.chunk,
                size_bytes=obj["Size"],
                last_modified=obj["LastModified"],
                etag=obj["ETag"].strip('"'),
                url=url,
                expires_at=signed_at + dt.timedelta(seconds=ttl),
            )
        )
    return RunArtifactsResponse(
        dag_id=str(run.dag_id), date=run.run_date, run_id=run.run_id, count=len(items), artifacts=items
    )


def sign_batch(keys: list[str]) -> Callable[[], None]:
    from etl_artifacts.artifacts.presign import GetObjectPresigner
    from etl_artifacts.clients import s3_client
    from etl_artifacts.s3.artifact_store import artifact_store

    def go() -> None:
        # The warm function's store keeps the captured request, as for a request's presigner.
        presigner = GetObjectPresigner(s3_client(), BENCH_BUCKET, 300, store=artifact_store())
        for key in keys:
            presigner.presign(key, "artifact.parquet")

    return go


def sign_loop(keys: list[str]) -> Callable[[], None]:
    from etl_artifacts.artifacts.presign import content_disposition
    from etl_artifacts.clients import s3_client

    disposition = content_disposition("artifact.parquet")

    def go() -> None:
        client = s3_client()
        for key in keys:
            client.generate_presigned_url(
                "get_object",
                Params={"Bucket": BENCH_BUCKET, "Key": key, "ResponseContentDisposition": disposition},
                ExpiresIn=300,
            )

    return go


@contextmanager
def signer(flavour: str) -> Iterator[bool]:
    """``python``: botocore's pure-Python SigV4 query signer (as on Lambda); ``crt``: awscrt's.
    Yields False when the flavour is not available here."""
    import botocore.auth

    current = botocore.auth.AUTH_TYPE_MAPS["s3v4-query"]
    if flavour == "python":
        botocore.auth.AUTH_TYPE_MAPS["s3v4-query"] = botocore.auth.S3SigV4QueryAuth
        try:
            yield True
        finally:
            botocore.auth.AUTH_TYPE_MAPS["s3v4-query"] = current
        return
    yield current is not botocore.auth.S3SigV4QueryAuth


def handler_call(run: RunRef) -> Callable[[], HandlerResponse]:
    from urllib.parse import quote

    handler = load_function_handler("ArtifactsFunction")
    route = f"{API_PREFIX}/dags/{{dag_id}}/runs/{{date}}/{{run_id}}/artifacts"
    encoded_run_id = quote(run.run_id, safe="")
    raw_path = f"{API_PREFIX}/dags/{run.dag_id}/runs/{run.run_date.isoformat()}/{encoded_run_id}/artifacts"
    params = {
        "dag_id": str(run.dag_id),
        "date": run.run_date.isoformat(),
        "run_id": quote(run.run_id, safe=""),
    }

    def go() -> HandlerResponse:
        event = http_event(route, raw_path, params, None)
        return check_response(
            HandlerResponse.from_result(handler(event, lambda_context("ArtifactsFunction")))
        )

    return go


def measure_pair(
    first: Callable[[], Any], second: Callable[[], Any], *, runs: int, warmup: int
) -> tuple[Stats, Stats]:
    """Both ways timed in alternation, so that load from elsewhere on the machine hits both alike."""
    for _ in range(warmup):
        first()
        second()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, out in ((first, samples[0]), (second, samples[1])):
            started = time.perf_counter()
            fn()
            out.append((time.perf_counter() - started) * 1000)
    return Stats(samples[0]), Stats(samples[1])


# -- the scenario -----------------------------------------------------------------------------
def run(smoke: bool, options: BenchOptions | None = None, artifacts: int | None = None) -> dict[str, Any]:
    options = options or (BenchOptions.smoke_defaults() if smoke else BenchOptions())
    count = artifacts or (SMOKE_ARTIFACTS if smoke else FULL_ARTIFACTS)
    runs, warmup = max(options.runs, MIN_RUNS), max(options.warmup, 1)
    shared_s3()
    the_run = presign_run()
    progress(f"presign: uploading {count:,} artifacts")
    keys = upload_run(the_run, count)

    # Same answer both ways (URLs aside): the comparison is like for like.
    mine, theirs = ours(the_run), loop_baseline(the_run)
    assert mine.count == theirs.count == count, (mine.count, theirs.count, count)
    assert [a.key for a in mine.artifacts] == [a.key for a in theirs.artifacts]

    stats: dict[str, Stats] = {}
    with signer("python"):
        progress("presign: timing list + presign, ours vs generate_presigned_url loop")
        stats["ours"], stats["loop"] = measure_pair(
            lambda: ours(the_run), lambda: loop_baseline(the_run), runs=runs, warmup=warmup
        )
        stats["sign_ours"], stats["sign_loop"] = measure_pair(
            sign_batch(keys), sign_loop(keys), runs=runs, warmup=warmup
        )
        stats["handler"] = measure(handler_call(the_run), runs=runs, warmup=warmup)
    from etl_artifacts.clients import s3_client
    from etl_artifacts.s3.listing import list_prefix

    client = s3_client()
    stats["list"] = measure(
        lambda: list_prefix(client, BENCH_BUCKET, the_run.prefix()), runs=runs, warmup=warmup
    )
    with signer("crt") as has_crt:
        if has_crt:
            stats["crt_ours"], stats["crt_loop"] = measure_pair(
                sign_batch(keys), sign_loop(keys), runs=runs, warmup=warmup
            )

    body_bytes = len(json.dumps(mine.model_dump(mode="json")))
    per_key = {name: stats[name].median_ms * 1000 / count for name in stats}  # µs per key
    end_to_end = ratio(stats["loop"].median_ms, stats["ours"].median_ms)
    signing = ratio(stats["sign_loop"].median_ms, stats["sign_ours"].median_ms)
    n = f"{count:,}"
    rows = [
        row(
            SCENARIO,
            f"ours: LIST + presign {n} artifacts",
            stats["ours"],
            f"list_run_artifacts; {fmt_ratio(end_to_end)} vs the loop; response {body_bytes / 1e6:.2f} MB",
        ),
        row(
            SCENARIO,
            f"baseline: LIST + generate_presigned_url loop, {n}",
            stats["loop"],
            "same LIST, parsing and models; one generate_presigned_url per key",
        ),
        row(
            SCENARIO,
            f"ours: sign {n} keys (batch signer)",
            stats["sign_ours"],
            f"{per_key['sign_ours']:.0f} µs/key, botocore pure-Python SigV4 (as on Lambda)",
        ),
        row(
            SCENARIO,
            f"baseline: sign {n} keys (generate_presigned_url)",
            stats["sign_loop"],
            f"{per_key['sign_loop']:.0f} µs/key; ours is {fmt_ratio(signing)} faster",
        ),
        row(
            SCENARIO, f"LIST alone ({n} keys, paginated)", stats["list"], "moto's server; common to both ways"
        ),
        row(
            SCENARIO,
            f"ArtifactsFunction handler, {n} artifacts",
            stats["handler"],
            "event in, JSON out (validation + serialization included)",
        ),
    ]
    if "crt_ours" in stats:
        crt = ratio(stats["crt_loop"].median_ms, stats["crt_ours"].median_ms)
        rows.append(
            row(
                SCENARIO,
                f"ours vs loop, awscrt signer, sign {n} keys",
                stats["crt_ours"],
                f"loop {stats['crt_loop'].median_ms:.1f} ms; {fmt_ratio(crt)} "
                "(awscrt is not in Lambda's boto3)",
            )
        )
    met = signing is not None and signing >= 2.0
    measured = (
        f"signing {n} keys: {fmt_ratio(signing)}; end to end incl. LIST on moto: {fmt_ratio(end_to_end)} "
        f"({stats['ours'].median_ms:.0f} vs {stats['loop'].median_ms:.0f} ms)"
    )
    note = (
        "met on the signing work the two ways differ in; the LIST "
        f"({stats['list'].median_ms:.0f} ms on moto) is common to both and bounds the end-to-end ratio"
    )
    if smoke:
        note = "smoke sizes: not a measurement. " + note
    return {"rows": rows, "targets": [target(SCENARIO, TARGET_TEXT, measured, met, note)]}


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_presign", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--smoke", action="store_true", help="tiny run: checks the scenario still works")
    parser.add_argument("--artifacts", type=int, help=f"artifacts in the run (default {FULL_ARTIFACTS:,})")
    args = parser.parse_args()
    result = run(args.smoke, artifacts=args.artifacts)
    print("| case | median ms | p95 ms | runs | note |\n|---|---:|---:|---:|---|")
    for r in result["rows"]:
        print(f"| {r['case']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['runs']} | {r['note']} |")
    for t in result["targets"]:
        print(f"\ntarget: {t['target']}: {t['measured']} -> {'met' if t['met'] else 'MISSED'} ({t['note']})")


if __name__ == "__main__":
    main()
