"""Scenario 8: ``etl-artifacts download`` of a run with 1,000 artifacts.

The real command (``etl_artifacts_local.cli.main``) against the local gateway (in this process,
over HTTP on loopback, the real authorizer in front) and moto's S3 server: it lists the run
through the API and fetches every presigned URL, verifying size and MD5. Cases: a fresh download
with ``--jobs 8`` and with ``--jobs 1`` (the plain sequential loop), and a second run over a
complete copy (every file re-verified from disk, nothing fetched). Throughput is bytes written
per second of wall clock, listing included.

``python -m bench.bench_download [--smoke]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.dataset import BENCH_COMPANY, BENCH_DAG_ID
from bench.stack import BENCH_BUCKET, shared_s3
from bench.timing import Stats, progress, row, target

if TYPE_CHECKING:
    from etl_artifacts.s3.layout import RunRef

SCENARIO = "download"
FULL_ARTIFACTS, SMOKE_ARTIFACTS = 1_000, 24
ARTIFACT_BYTES = 32 * 1024
FULL_RUNS, SMOKE_RUNS = 3, 1
RUN_ID = "download__2026-11-20T10:00:00+00:00"


def download_run() -> RunRef:
    import datetime as dt

    from etl_artifacts.s3.layout import RunRef

    return RunRef(BENCH_COMPANY, BENCH_DAG_ID, dt.date(2026, 11, 20), RUN_ID)


def upload(run: RunRef, count: int) -> int:
    """``count`` artifacts of ``ARTIFACT_BYTES`` each (distinct bytes) under the run; total bytes."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    from etl_artifacts.clients import s3_client
    from etl_artifacts.s3.layout import chunk_file

    client = s3_client()
    keys = [run.prefix() + chunk_file("extract", 1, "data", chunk) for chunk in range(count)]

    def put(key: str) -> None:
        seed = hashlib.sha256(key.encode()).digest()
        body = (seed * (ARTIFACT_BYTES // len(seed) + 1))[:ARTIFACT_BYTES]
        client.put_object(Bucket=BENCH_BUCKET, Key=key, Body=body)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, keys))
    return count * ARTIFACT_BYTES


@contextmanager
def local_api() -> Iterator[str]:
    """The local gateway on a free loopback port, serving the template's routes."""
    from etl_artifacts_local.gateway import LocalGateway
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, LocalGateway(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1"
    finally:
        server.shutdown()


def download_once(api: str, run: RunRef, token: str, dest: Path, jobs: int) -> float:
    """Wall-clock milliseconds of one ``etl-artifacts download``; raises unless it exits 0."""
    from etl_artifacts_client.cli import main

    argv = [
        "download",
        *(str(run.dag_id), run.run_date.isoformat(), run.run_id),
        *("--api", api, "--dest", str(dest), "--token", token, "--jobs", str(jobs), "--quiet"),
    ]
    started = time.perf_counter()
    status = main(argv)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 0:
        raise RuntimeError(f"etl-artifacts download exited {status}")
    return elapsed


def _mb_per_s(total_bytes: int, stats: Stats) -> float:
    return total_bytes / 1e6 / (stats.median_ms / 1000)


def run(smoke: bool) -> dict[str, Any]:
    from etl_artifacts_local.dev_tokens import issue_token

    shared_s3()
    count = SMOKE_ARTIFACTS if smoke else FULL_ARTIFACTS
    runs = SMOKE_RUNS if smoke else FULL_RUNS
    bench_run = download_run()
    progress(f"uploading {count} artifacts of {ARTIFACT_BYTES // 1024} KB")
    total = upload(bench_run, count)
    token = issue_token(BENCH_COMPANY, ttl=3600)
    work = Path(tempfile.mkdtemp(prefix="bench-download-"))
    stats: dict[str, Stats] = {}
    try:
        with local_api() as api:
            download_once(api, bench_run, token, work / "warm-up", 8)  # cold start of the functions
            shutil.rmtree(work / "warm-up")
            # Interleaved (8, 1, 8, 1, ...): on a shared machine a burst of load slows both alike.
            samples: dict[int, list[float]] = {8: [], 1: []}
            for i in range(runs):
                for jobs, timings in samples.items():
                    dest = work / f"jobs{jobs}-{i}"
                    timings.append(download_once(api, bench_run, token, dest, jobs))
                    if i < runs - 1:
                        shutil.rmtree(dest)
            stats.update({f"jobs{jobs}": Stats(timings) for jobs, timings in samples.items()})
            complete = work / f"jobs1-{runs - 1}"
            stats["verify"] = Stats([download_once(api, bench_run, token, complete, 8) for _ in range(runs)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = f"{count:,} artifacts × {ARTIFACT_BYTES // 1024} KB ({total / 1e6:.1f} MB)"
    fast, slow = stats["jobs8"], stats["jobs1"]
    rows = [
        row(
            SCENARIO,
            f"download, --jobs 8, {size}",
            fast,
            f"{_mb_per_s(total, fast):.1f} MB/s, {count / (fast.median_ms / 1000):.0f} files/s; "
            "listing included",
        ),
        row(
            SCENARIO,
            f"download, --jobs 1, {size}",
            slow,
            f"{_mb_per_s(total, slow):.1f} MB/s; --jobs 8 is {slow.median_ms / fast.median_ms:.1f}× faster",
        ),
        row(
            SCENARIO,
            f"second run over a complete copy, {count:,} files",
            stats["verify"],
            "every file skipped after its size and MD5 check; nothing fetched",
        ),
    ]
    note = "moto's server on loopback; the 2-core machine is shared" + (
        "; smoke sizes: not a measurement" if smoke else ""
    )
    measured = (
        f"{_mb_per_s(total, fast):.1f} MB/s ({count / (fast.median_ms / 1000):.0f} files/s) with --jobs 8"
    )
    return {
        "rows": rows,
        "targets": [target(SCENARIO, "report throughput (no target set)", measured, None, note)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_download", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--smoke", action="store_true", help="tiny run: checks the scenario still works")
    args = parser.parse_args()
    from bench.stack import quiet_powertools_env, stop_services

    os.environ.update(quiet_powertools_env())
    try:
        result = run(args.smoke)
    finally:
        stop_services()
    print("| case | median ms | p95 ms | runs | note |\n|---|---:|---:|---:|---|")
    for r in result["rows"]:
        print(f"| {r['case']} | {r['median_ms']:.1f} | {r['p95_ms']:.1f} | {r['runs']} | {r['note']} |")


if __name__ == "__main__":
    main()
