"""Scenario 14: what saturates first at 10x, 100x and 1,000x today's bench (docs/scaling.md).

Two parts. A simulation of what can be run here: the common-word search's match
(``search.text.match_positions`` over a ``_searchable`` column, a part that grows with the rows of
an attempt) timed at two sizes; the model extrapolates the larger of that and the bench's measured
end-to-end common-word search (5.8 s at 1 M rows) to 10 M, 100 M and 1,000 M rows, against the
time a Phases request has (its Timeout less the deadline margin). Then a capacity
model: for each scale, every limit of docs/scaling.md as a share of its quota, from the bench's
per-request figures and the AWS defaults written below; the highest share saturates first.

Durations are this shared machine's (several times Lambda's one vCPU at 1769 MB on a loaded day),
so the extrapolated search times are an upper bound.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from bench.timing import BenchOptions, measure, progress, row

SCENARIO = "14. Scaling"
SCALES = (1, 10, 100, 1000)

# Today's bench (1x): bench/README.md. Tenants grow with the scale too, but the load of the busiest
# one (HOTTEST_TENANT_SHARE) is what meets a limit.
RUNS = 1_000_000
ROWS_PER_ATTEMPT = 1_000_000
REQUESTS_PER_S = 100  # the prod stage's ThrottlingRateLimit
# Per request, warm (scenarios 1, 2, 3, 10 and 11).
PAGE_S = 0.06  # a page on Lambda: one S3 GET (~20 ms) + decode and render
RUNS_SEARCH_S = 0.02
NEEDLE_GETS = 14
INDEX_BYTES_PER_ROW = 88  # 88 MB of index.parquet per 1 M rows
KEYWORD_INDEX_BYTES_PER_RUN = 280 * 4  # etl.keyword_keys GIN, ~280 B per run per phase, 4 phases
INDEXER_ROWS_PER_S = 150_000
# A common word's search at 1 M rows took 5.8 s end to end (reading and matching the 88 MB index,
# scenario 10 on the loaded machine): the model uses the larger of this and the simulated match.
COMMON_WORD_S_PER_ROW = 5.8 / 1_000_000
# Shares of the traffic (an assumption, written down): pages, runs searches, needle searches.
MIX = {"pages": 0.7, "runs": 0.2, "needles": 0.1}
HOTTEST_TENANT_SHARE = 0.1  # the busiest tenant's share of requests
HOT_ATTEMPT_SHARE = 0.05  # the most-read attempt's share of needle searches

# Quotas (AWS defaults per account and region, and this stack's template.yaml settings).
STAGE_THROTTLE = 100
HTTP_API_QUOTA = 10_000
PHASES_RESERVED = 100
ACCOUNT_CONCURRENCY = 1_000
RUNS_CONNECTIONS = 50
S3_GETS_PER_PREFIX = 5_500
DYNAMODB_WRITES_PER_KEY = 1_000
DB_MEMORY_BYTES = 32 * 2**30  # a mid-size instance (db.r6g.xlarge)
INDEXER_TMP_BYTES = 2 * 2**30  # EphemeralStorage
INDEXER_TIMEOUT_S = 300
PHASES_BUDGET_S = 29 - 2  # Timeout less the deadline margin


@dataclass(frozen=True)
class Limit:
    name: str
    used: float
    quota: float
    unit: str
    setting: bool = False  # a template.yaml setting (raise it) rather than a quota or a physical limit

    @property
    def share(self) -> float:
        return self.used / self.quota


def limits(scale: int, search_s_per_row: float) -> list[Limit]:
    rps = REQUESTS_PER_S * scale
    rows = ROWS_PER_ATTEMPT * scale
    runs = RUNS * scale
    phases_concurrency = rps * (MIX["pages"] * PAGE_S)
    all_concurrency = phases_concurrency + rps * MIX["runs"] * RUNS_SEARCH_S
    return [
        Limit("stage throttle (prod)", rps, STAGE_THROTTLE, "req/s", setting=True),
        Limit("HTTP API account quota", rps, HTTP_API_QUOTA, "req/s"),
        Limit("Phases reserved concurrency", phases_concurrency, PHASES_RESERVED, "instances", setting=True),
        Limit("account concurrency", all_concurrency, ACCOUNT_CONCURRENCY, "instances"),
        Limit(
            "Runs connections",
            rps * MIX["runs"] * RUNS_SEARCH_S,
            RUNS_CONNECTIONS,
            "connections",
            setting=True,
        ),
        Limit(
            "S3 GETs on the hottest attempt",
            rps * MIX["needles"] * HOT_ATTEMPT_SHARE * NEEDLE_GETS,
            S3_GETS_PER_PREFIX,
            "GET/s",
        ),
        Limit(
            "limiter writes on the hottest tenant's key",
            rps * HOTTEST_TENANT_SHARE,
            DYNAMODB_WRITES_PER_KEY,
            "writes/s",
        ),
        Limit(
            "keyword indexes vs database memory", runs * KEYWORD_INDEX_BYTES_PER_RUN, DB_MEMORY_BYTES, "bytes"
        ),
        Limit("indexer /tmp", rows * INDEX_BYTES_PER_ROW * 1.2, INDEXER_TMP_BYTES, "bytes"),
        Limit("indexer time", rows / INDEXER_ROWS_PER_S, INDEXER_TIMEOUT_S, "s"),
        Limit(
            "common-word search time",
            rows * max(search_s_per_row, COMMON_WORD_S_PER_ROW),
            PHASES_BUDGET_S,
            "s",
        ),
    ]


def _searchable(rows: int, seed: int) -> Any:
    """A ``_searchable`` column like the bench's: ~90 bytes of words per row, one row in 1,000
    holding the common word."""
    import pyarrow as pa

    rng = random.Random(seed)
    words = [f"w{n:05d}" for n in range(5_000)]
    texts = [
        " ".join(rng.choice(words) for _ in range(12)) + (" quasar" if index % 1000 == 0 else "")
        for index in range(rows)
    ]
    return pa.array(texts, pa.string())


def search_seconds_per_row(sizes: tuple[int, int], runs: int) -> tuple[float, dict[int, float]]:
    from etl_artifacts.search.text import match_positions

    medians: dict[int, float] = {}
    for size in sizes:
        column = _searchable(size, seed=size)
        medians[size] = measure(lambda column=column: match_positions(column, "quasar"), runs=runs).median_ms
    small, large = sizes
    slope_ms = max((medians[large] - medians[small]) / (large - small), medians[large] / large)
    return slope_ms / 1000, medians


def _fmt(limit: Limit) -> str:
    if limit.unit == "bytes":
        return f"{limit.used / 2**30:,.1f} GB of {limit.quota / 2**30:,.0f} GB"
    return f"{limit.used:,.1f} of {limit.quota:,.0f} {limit.unit}"


def run(smoke: bool, options: BenchOptions | None = None) -> dict[str, Any]:
    options = options or (BenchOptions.smoke_defaults() if smoke else BenchOptions())
    sizes = (5_000, 20_000) if smoke else (100_000, 400_000)
    progress(f"scaling: common-word match over {sizes[0]:,} and {sizes[1]:,} rows")
    per_row_s, medians = search_seconds_per_row(sizes, runs=max(3, options.runs))
    rows = [
        row(SCENARIO, f"common-word match, {size:,} rows (simulated column)", None, f"{ms:.1f} ms median")
        for size, ms in medians.items()
    ]
    table_rows: list[list[str]] = []
    for scale in SCALES:
        found = limits(scale, per_row_s)
        first = max((limit for limit in found if not limit.setting), key=lambda limit: limit.share)
        over = [limit for limit in found if limit.share >= 1]
        table_rows.append(
            [
                f"{scale:,}x",
                f"{REQUESTS_PER_S * scale:,} req/s, {ROWS_PER_ATTEMPT * scale:,} rows/attempt, "
                f"{RUNS * scale:,} runs",
                f"{first.name} ({first.share:.0%}: {_fmt(first)})",
                ", ".join(
                    f"{limit.name}{'*' if limit.setting else ''} {limit.share:.0%}"
                    for limit in sorted(over, key=lambda x: -x.share)
                )
                or "none",
            ]
        )
    tables = [
        {
            "title": "What saturates first (docs/scaling.md)",
            "columns": [
                "scale",
                "load",
                "first quota or physical limit to saturate",
                "every limit at or over 100% (settings marked *)",
            ],
            "rows": table_rows,
            "notes": [
                f"Common-word search time extrapolated at {per_row_s * 1e6:.2f} us per row from the "
                f"simulated match; traffic mix {MIX}, hottest tenant {HOTTEST_TENANT_SHARE:.0%} of "
                f"requests, hottest attempt {HOT_ATTEMPT_SHARE:.0%} of needle searches; quotas are AWS "
                "defaults and template.yaml's settings (all raisable).",
            ],
        }
    ]
    return {"rows": rows, "targets": [], "tables": tables}
