"""Scenario 5: the indexer's throughput (rows/s) and peak memory at 100k and 1M rows.

Each measurement runs ``etl_artifacts.indexing.builder.index_attempt`` (the Lambda's and the
CLI's code) in a FRESH child process against moto's S3 server, on the benchmark data set of
``bench.dataset`` (8 mixed columns, 10 chunks, row groups of 10k rows), and reads the child's
peak RSS with ``resource.getrusage(RUSAGE_SELF).ru_maxrss``. A child that only imports the same
modules gives the baseline (interpreter + pyarrow + boto3), so the table also shows the memory
the indexing itself added. Target: peak RSS at 1M rows <= 1.3x that at 100k rows.

The decompression bomb of docs/limits.md (``etl_artifacts_local.hostile_parquet``: ~1 KB of
parquet, 64 copies of one 4 MiB string, dictionary-encoded) gives two more rows, each measured
in a fresh child the same way: the indexer's peak RSS on it (the Lambda's ``index_object``: a
refused build, logged, not retried; target < 1 GB), and how much a warm Phases worker grows on a
data page of it (peak RSS minus the RSS before the request; target < 300 MB).

``python -m bench.bench_indexer`` runs the full sizes alone; the runner calls ``run(smoke)``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import uuid
from datetime import date
from typing import Any

from bench.dataset import BENCH_COMPANY, DatasetSpec, ensure_dataset
from bench.stack import BENCH_BUCKET, shared_s3
from bench.timing import REPO_ROOT, BenchOptions, Stats, fmt_bytes, progress, row, target

SCENARIO = "indexer"
FULL_SIZES = (100_000, 1_000_000)
SMOKE_SIZES = (2_000, 8_000)
RSS_TARGET = 1.3


def _spec(rows: int, smoke: bool) -> DatasetSpec:
    return DatasetSpec(rows, 2 if smoke else 10, 500 if smoke else 10_000)


def _upload(spec: DatasetSpec, options: BenchOptions) -> str:
    """Upload the data set as one phase attempt; returns the key of its metadata.parquet."""
    from etl_artifacts.clients import s3_client
    from etl_artifacts.s3.layout import RunRef, chunk_file, single_file

    dataset = ensure_dataset(spec, options.data_dir)
    run = RunRef(
        BENCH_COMPANY, uuid.uuid5(uuid.NAMESPACE_URL, spec.name), date(2026, 11, 20), f"indexer-{spec.rows}"
    )
    client = s3_client()
    for chunk, path in enumerate(dataset.data_files):
        with path.open("rb") as body:
            client.put_object(
                Bucket=BENCH_BUCKET, Key=run.prefix() + chunk_file("extract", 1, "data", chunk), Body=body
            )
    key = run.prefix() + single_file("extract", 1, "metadata")
    with dataset.metadata_file.open("rb") as body:
        client.put_object(Bucket=BENCH_BUCKET, Key=key, Body=body)
    return key


def _child(args: list[str]) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "bench.bench_indexer", *args],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
        env=env,
        cwd=REPO_ROOT,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"indexer child failed: {completed.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run(smoke: bool, options: BenchOptions | None = None) -> dict[str, Any]:
    options = options or (BenchOptions.smoke_defaults() if smoke else BenchOptions())
    shared_s3()
    sizes = SMOKE_SIZES if smoke else FULL_SIZES
    repeats = 1 if smoke else 3
    baseline = _child(["--baseline"])["maxrss_kb"]
    rows_out: list[dict[str, Any]] = []
    peaks: dict[int, int] = {}
    trigram_share: dict[int, float] = {}
    for rows in sizes:
        spec = _spec(rows, smoke)
        progress(f"indexer: {rows:,} rows")
        key = _upload(spec, options)
        results = [_child(["--index", key]) for _ in range(repeats)]
        peaks[rows] = max(r["maxrss_kb"] for r in results)
        stats = Stats([r["seconds"] * 1000 for r in results])
        data_bytes = ensure_dataset(spec, options.data_dir).data_bytes
        first = results[0]
        trigram_share[rows] = first["trigram_bytes"] / data_bytes
        rate = rows / statistics.median(r["seconds"] for r in results)
        note = (
            f"{rate:,.0f} rows/s; peak RSS {fmt_bytes(peaks[rows] * 1024)} "
            f"(+{fmt_bytes((peaks[rows] - baseline) * 1024)} over the "
            f"{fmt_bytes(baseline * 1024)} import baseline); "
            f"data {fmt_bytes(data_bytes)} -> index.parquet {fmt_bytes(first['index_bytes'])}, "
            f"index_trigrams.parquet {fmt_bytes(first['trigram_bytes'])} "
            f"({100 * first['trigram_bytes'] / data_bytes:.2f}% of data), "
            f"{first['row_groups']} index row groups"
        )
        rows_out.append(row(SCENARIO, f"index {rows:,} rows ({spec.chunks} chunks)", stats, note))
    small, large = sizes
    ratio = peaks[large] / peaks[small]
    targets = [
        target(
            SCENARIO,
            f"peak RSS at {large:,} rows <= {RSS_TARGET}x that at {small:,} rows",
            f"{ratio:.2f}x ({fmt_bytes(peaks[large] * 1024)} vs {fmt_bytes(peaks[small] * 1024)})",
            ratio <= RSS_TARGET,
        ),
        target(
            SCENARIO,
            f"index_trigrams.parquet <= 15% of the data size, at {large:,} rows",
            f"{100 * trigram_share[large]:.2f}%",
            trigram_share[large] <= 0.15,
        ),
    ]
    bomb_rows, bomb_targets = _bomb(baseline)
    return {"rows": rows_out + bomb_rows, "targets": targets + bomb_targets}


BOMB_INDEXER_RSS_MAX = 1024**3
BOMB_PAGE_GROWTH_MAX = 300 * 1024**2


def _bomb(baseline_kb: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The indexer and a Phases data page on the decompression bomb, each in a fresh child."""
    from etl_artifacts.clients import s3_client
    from etl_artifacts.s3.layout import RunRef, chunk_file, single_file
    from etl_artifacts_local.etl_parquet import parquet_bytes
    from etl_artifacts_local.hostile_parquet import BOMB_COPIES, bomb_parquet

    from bench.dataset import metadata_table

    progress("indexer: decompression bomb")
    run = RunRef(BENCH_COMPANY, uuid.uuid5(uuid.NAMESPACE_URL, "bomb"), date(2026, 11, 20), "bomb")
    data = bomb_parquet()
    client = s3_client()
    client.put_object(Bucket=BENCH_BUCKET, Key=run.prefix() + chunk_file("extract", 1, "data", 0), Body=data)
    key = run.prefix() + single_file("extract", 1, "metadata")
    metadata = parquet_bytes(metadata_table(DatasetSpec(BOMB_COPIES, 1, BOMB_COPIES)))
    client.put_object(Bucket=BENCH_BUCKET, Key=key, Body=metadata)
    indexer = _child(["--bomb-index", key])
    page = _child(["--bomb-page", key])
    indexer_rss, growth = indexer["maxrss_kb"] * 1024, page["growth_kb"] * 1024
    rows = [
        row(
            SCENARIO,
            f"indexer on a {len(data):,}-byte bomb (decodes to 256 MiB)",
            None,
            f"{indexer['outcome']}; peak RSS {fmt_bytes(indexer_rss)} "
            f"(+{fmt_bytes(max(indexer_rss - baseline_kb * 1024, 0))} over the import baseline)",
        ),
        row(
            SCENARIO,
            "Phases worker, data page of the bomb",
            None,
            f"answer {page['status']} {page['code']}; RSS growth {fmt_bytes(growth)} "
            f"(peak {fmt_bytes(page['maxrss_kb'] * 1024)})",
        ),
    ]
    targets = [
        target(
            SCENARIO,
            "indexer peak RSS on the decompression bomb < 1 GB",
            fmt_bytes(indexer_rss),
            indexer_rss < BOMB_INDEXER_RSS_MAX,
        ),
        target(
            SCENARIO,
            "Phases worker RSS growth on a data page of the bomb < 300 MB",
            fmt_bytes(growth),
            growth < BOMB_PAGE_GROWTH_MAX,
        ),
    ]
    return rows, targets


# -- child process ------------------------------------------------------------------------------
def _maxrss_kb() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak // 1024 if sys.platform == "darwin" else peak)  # bytes on macOS, KiB on Linux


def _rss_kb() -> int:
    """The resident set now (Linux: /proc), for growth figures; the peak where /proc is absent."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return _maxrss_kb()


def _bomb_index(key: str) -> dict[str, Any]:
    """What the indexer Lambda does with the bomb's build message."""
    from etl_artifacts.config import get_settings
    from etl_artifacts.indexing.events import ObjectRef
    from etl_artifacts.indexing.handler import index_object

    try:
        indexed = index_object(ObjectRef(get_settings().artifacts_bucket, key))
        outcome = "indexed" if indexed else "refused (logged, not retried)"
    except Exception as exc:  # the figure is the point: report how it failed
        outcome = f"failed with {type(exc).__name__} (retried by SQS)"
    return {"outcome": outcome, "maxrss_kb": _maxrss_kb()}


def _bomb_page(key: str) -> dict[str, Any]:
    """A warm Phases worker (one page of the bomb's ``id`` column served) asked for a data page."""
    from etl_artifacts.config import get_settings
    from etl_artifacts.s3.layout import parse_metadata_key

    from bench.handler_calls import HandlerResponse, lambda_context, load_function_handler, phase_data_event

    location = parse_metadata_key(key, get_settings().artifacts_prefix)
    assert location is not None
    handler = load_function_handler("PhasesFunction")

    def page(query: dict[str, Any]) -> HandlerResponse:
        event = phase_data_event(location.run, "extract", query)
        return HandlerResponse.from_result(handler(event, lambda_context("PhasesFunction")))

    assert page({"columns": "id", "limit": 1}).status == 200
    before = _rss_kb()
    answer = page({})
    peak = _maxrss_kb()
    growth = max(peak - before, 0)
    return {"status": answer.status, "code": answer.error_code, "growth_kb": growth, "maxrss_kb": peak}


def _child_main(argv: list[str]) -> int:
    from etl_artifacts.config import get_settings
    from etl_artifacts.indexing.builder import index_attempt, use_indexer_memory_pool
    from etl_artifacts.s3.layout import parse_metadata_key

    if argv[0] == "--baseline":
        import boto3  # noqa: F401 - the same imports as an indexing run, nothing else
        import pyarrow.parquet  # noqa: F401

        print(json.dumps({"maxrss_kb": _maxrss_kb()}))
        return 0
    if argv[0] == "--bomb-page":
        print(json.dumps(_bomb_page(argv[1])))
        return 0
    use_indexer_memory_pool()  # as the Lambda handler and the CLI do
    if argv[0] == "--bomb-index":
        print(json.dumps(_bomb_index(argv[1])))
        return 0
    settings = get_settings()
    location = parse_metadata_key(argv[1], settings.artifacts_prefix)
    assert location is not None
    result = index_attempt(settings.artifacts_bucket, location)
    assert result is not None
    print(
        json.dumps(
            {
                "seconds": result.seconds,
                "rows": result.rows,
                "row_groups": result.row_groups,
                "index_bytes": result.index_bytes,
                "trigram_bytes": result.trigram_bytes,
                "maxrss_kb": _maxrss_kb(),
            }
        )
    )
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("--baseline", "--index", "--bomb-index", "--bomb-page"):
        return _child_main(argv)
    result = run(smoke="--smoke" in argv)
    for item in result["rows"] + result["targets"]:
        print(json.dumps(item))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
