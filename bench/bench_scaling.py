"""Scenario 14: what saturates first at 10x, 100x and 1,000x today's bench (docs/scaling.md).

Simulations of what can be run here: the runs search at 10,000,000 runs in ``etl.logs``
(``bench.scaling_runs``: embedded Postgres, p50/p95 per tenant, the indexes EXPLAIN shows), one
attempt at 1,000,000 and 10,000,000 rows (``bench.scaling_attempt``: s3rver, the project's indexer,
the Phases handler), and the common-word search's match (``search.text.match_positions`` over a
``_searchable`` column, a part that grows with the rows of an attempt) timed at two sizes; the
model extrapolates the larger of that and the bench's measured
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

from bench import scaling_attempt, scaling_runs
from bench.timing import BenchOptions, fmt_bytes, measure, progress, row, target

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
    runs_rows, runs_targets, runs_table = _runs_simulation(options)
    attempt_rows, attempt_targets, attempt_table = _attempt_simulation(options)
    return {
        "rows": runs_rows + attempt_rows + rows,
        "targets": runs_targets + attempt_targets,
        "tables": [runs_table, attempt_table, *tables],
    }


def _runs_simulation(options: BenchOptions) -> tuple[list[Any], list[Any], dict[str, Any]]:
    sim = scaling_runs.simulate(options)
    progress(f"scaling: runs search at {sim.rows:,} runs measured")
    rows: list[dict[str, Any]] = []
    table_rows: list[list[str]] = []
    for case in sim.cases:
        label = f"runs search at {sim.rows:,} runs, {case.tenant}, {case.case}"
        rows.append(
            row(SCENARIO, label, case.stats, f"{case.total:,} found; indexes {', '.join(case.indexes)}")
        )
        table_rows.append(
            [
                case.tenant,
                case.case,
                f"{case.total:,}",
                f"{case.stats.median_ms:.1f}",
                f"{case.stats.p95_ms:.1f}",
                ", ".join(case.indexes) or "none (sequential scan)",
            ]
        )
    keyword = [c for c in sim.cases if c.case.startswith("keyword")]
    worst = max(keyword, key=lambda c: c.stats.p95_ms)
    scoped = all(scaling_runs.uses_tenant_index(c) for c in sim.cases)
    small = {c.case: c.stats.median_ms for c in sim.cases if c.tenant == scaling_runs.SMALL}
    big = {c.case: c.stats.median_ms for c in sim.cases if c.tenant == scaling_runs.BIG}
    versus = ", ".join(f"{name} {small[name]:.1f} vs {big[name]:.1f} ms" for name in small)
    seeded = "reused from the cache" if sim.seed_s is None else f"seeded in {sim.seed_s:.0f} s"
    targets = [
        target(
            SCENARIO,
            f"runs search at {sim.rows:,} runs: keyword p95 <= {scaling_runs.KEYWORD_P95_BUDGET_MS:.0f} ms, "
            "every plan on a tenant-keyed index",
            f"worst keyword p95 {worst.stats.p95_ms:.1f} ms ({worst.tenant}, {worst.case}); "
            + ("every plan tenant-keyed" if scoped else "a plan without a tenant-keyed index"),
            worst.stats.p95_ms <= scaling_runs.KEYWORD_P95_BUDGET_MS and scoped,
            f"p50 small tenant (10,000 runs) vs big tenant (1,000,000): {versus}",
            key="scaling-runs",
        )
    ]
    indexes = ", ".join(f"{name} {fmt_bytes(size)}" for name, size in sorted(sim.index_bytes.items()))
    table = {
        "title": f"Runs search at {sim.rows:,} runs in etl.logs (embedded Postgres, simulated)",
        "columns": ["tenant", "search", "found", "p50 ms", "p95 ms", "indexes in the plan (EXPLAIN)"],
        "rows": table_rows,
        "notes": [
            f"Table {fmt_bytes(sim.table_bytes)} ({seeded}); indexes: {indexes}. scale-small holds 0.1% "
            "of the runs (10,000 in its DAG), scale-big 10% (1,000,000 in its DAG); date range = all of "
            "2025, 20 per page. See bench/scaling_runs.py for the data's shape."
        ],
    }
    return rows, targets, table


def _attempt_simulation(options: BenchOptions) -> tuple[list[Any], list[Any], dict[str, Any]]:
    results = scaling_attempt.simulate(options)
    rows: list[dict[str, Any]] = []
    table_rows: list[list[str]] = []
    for result in results:
        index = ", ".join(f"{name} {fmt_bytes(size)}" for name, size in result.index_bytes.items())
        setup = f"set-up {result.setup_s:.0f} s" + (" (index built)" if result.index_built else " (cached)")
        for case, measured in result.cases.items():
            label = f"{result.rows:,}-row attempt, {case}"
            note = f"{measured.status}; {measured.requests} requests, {fmt_bytes(measured.bytes_read)} read"
            rows.append(row(SCENARIO, label, measured.stats, note))
            table_rows.append(
                [
                    f"{result.rows:,} ({result.chunks} chunks, {fmt_bytes(result.data_bytes)})",
                    case,
                    f"{measured.stats.median_ms:.0f}",
                    measured.status,
                    f"{measured.requests} / {fmt_bytes(measured.bytes_read)}",
                    f"{index}; {setup}",
                ]
            )
    largest = results[-1]
    failed = [case for case, m in largest.cases.items() if m.status != "200"]
    figures = ", ".join(f"{case} {m.stats.median_ms:.0f} ms" for case, m in largest.cases.items())
    targets = [
        target(
            SCENARIO,
            f"one attempt at {largest.rows:,} rows: every case answers",
            figures,
            not failed,
            f"failed: {', '.join(failed)} (the search's time grows with the index)" if failed else "",
            key="scaling-attempt",
        )
    ]
    table = {
        "title": "One attempt at growing size (s3rver, no added latency, warm, in-process handler)",
        "columns": ["rows", "case", "median ms", "answer", "requests / read", "index files; set-up"],
        "rows": table_rows,
        "notes": [
            f"{scaling_attempt.TIMED_RUNS} timed runs per case after a warm-up, this shared machine's CPU "
            "(see bench/scaling_attempt.py). Pages read one row group whatever the size; the keyword "
            "searches read more index as it grows."
        ],
    }
    return rows, targets, table
