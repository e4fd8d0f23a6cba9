"""Scenario 14's attempt simulation: one phase attempt at 1,000,000 and 10,000,000 rows.

Each size is the bench's data set (rows of ~180 bytes in chunks of 100,000, row groups of
10,000) generated into the data cache, uploaded to s3rver (which serves a range from disk), and
indexed by the project's indexer (``etl-artifacts index``; the index files are cached beside the
data). The Phases handler is then called in this process through the S3 proxy at no added
latency, warm: page 0, the deep page (row 3/4 in), the needle and the common word; a request
that runs out of its deadline is reported as such (``503 deadline_exceeded``), as on Lambda.
Per case: the median, the requests and bytes read; per size: the index build time and the index
files' sizes. The growth from one size to the next is the per-row cost the model of
docs/scaling.md extrapolates to 100 M and 1,000 M rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bench.timing import BenchOptions, Stats, progress

ROWS_PER_CHUNK = 100_000
FULL_SIZES = (1_000_000, 10_000_000)
SMOKE_SIZES = (2_000, 8_000)
TIMED_RUNS = 3
LIMIT = 50


@dataclass
class CaseResult:
    stats: Stats
    status: str  # "200" or the error (e.g. "503 deadline_exceeded")
    requests: int
    bytes_read: int


@dataclass
class AttemptResult:
    rows: int
    chunks: int
    data_bytes: int
    index_bytes: dict[str, int]
    setup_s: float  # generate the data (if new), upload it, build the index (if new)
    index_built: bool  # False: the index files came from the cache
    cases: dict[str, CaseResult] = field(default_factory=dict)


def _options_for(rows: int, options: BenchOptions) -> BenchOptions:
    if options.smoke:
        return options.with_changes(rows=rows, chunks=max(1, rows // 2_000), row_group_size=500)
    return options.with_changes(rows=rows, chunks=max(1, rows // ROWS_PER_CHUNK), row_group_size=10_000)


def _call(handler: Any, event: dict[str, Any]) -> tuple[float, str]:
    from bench.handler_calls import HandlerResponse, lambda_context

    started = time.perf_counter()
    response = HandlerResponse.from_result(handler(event, lambda_context("PhasesFunction")))
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, "200" if response.status == 200 else f"{response.status} {response.error_code}"


def measure_attempt(rows: int, options: BenchOptions) -> AttemptResult:
    from etl_artifacts_local.s3_proxy import S3Proxy

    from bench.bench_s3model import INDEX_FILES, _environment, s3rver_with_run
    from bench.dataset import COMMON_WORD, NEEDLE, DatasetSpec
    from bench.handler_calls import load_function_handler, phase_data_event
    from bench.stack import env_override

    sized = _options_for(rows, options)
    cache = sized.data_dir / DatasetSpec.from_options(sized).name / "index"
    built = not all((cache / name).exists() for name in INDEX_FILES)
    started = time.perf_counter()
    with s3rver_with_run(sized) as (server, uploaded), S3Proxy(server.endpoint) as proxy:
        setup_s = time.perf_counter() - started
        index_bytes = {name: (cache / name).stat().st_size for name in INDEX_FILES}
        result = AttemptResult(rows, sized.chunks, uploaded.dataset.data_bytes, index_bytes, setup_s, built)
        with env_override(**_environment(proxy.endpoint)):
            handler = load_function_handler("PhasesFunction")
            queries: dict[str, dict[str, Any]] = {
                "page 0": {"page": 0},
                "deep page": {"page": sized.deep_row // LIMIT},
                "needle": {"keyword": NEEDLE},
                "common word": {"keyword": COMMON_WORD},
            }
            for case, query in queries.items():
                event = phase_data_event(uploaded.run, uploaded.phase, {"limit": LIMIT, **query})
                progress(f"scaling: {rows:,}-row attempt, {case}")
                _, status = _call(handler, event)  # warm-up
                samples: list[float] = []
                for _ in range(TIMED_RUNS):
                    proxy.clear()
                    elapsed, status = _call(handler, event)
                    samples.append(elapsed)
                traffic = proxy.traffic()
                result.cases[case] = CaseResult(Stats(samples), status, traffic.requests, traffic.bytes_in)
    return result


def simulate(options: BenchOptions, sizes: tuple[int, ...] | None = None) -> list[AttemptResult]:
    chosen = sizes or (SMOKE_SIZES if options.smoke else FULL_SIZES)
    return [measure_attempt(rows, options) for rows in chosen]
