"""Options, timing and statistics of the benchmark suite, and the result rows it prints.

Only the standard library is imported here: the cold-start children import the bench package
too, and must not pay for pyarrow or boto3 before they start their clock.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl_artifacts_local.s3_proxy import Traffic

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / ".local" / "bench-data"


# -- options ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchOptions:
    """Sizes and repetitions; the defaults are the full-size ones, ``smoke()`` the tiny ones of make test."""

    rows: int = 1_000_000
    chunks: int = 10
    row_group_size: int = 10_000
    runs: int = 7  # timed runs per case, after the warm-up
    warmup: int = 2
    cold_runs: int = 10  # fresh processes per cold case
    latencies_ms: tuple[float, ...] = (0.0, 20.0)  # S3 cost model: added to every request
    data_dir: Path = DEFAULT_DATA_DIR
    smoke: bool = False

    @classmethod
    def smoke_defaults(cls, data_dir: Path = DEFAULT_DATA_DIR) -> BenchOptions:
        return cls(
            rows=4_000,
            chunks=2,
            row_group_size=500,
            runs=3,
            warmup=1,
            cold_runs=2,
            latencies_ms=(20.0,),
            data_dir=data_dir,
            smoke=True,
        )

    def with_changes(self, **changes: Any) -> BenchOptions:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def deep_row(self) -> int:
        """The deep page of scenario 1: row 750,000 of 1,000,000 (three quarters in)."""
        return self.rows * 3 // 4


# -- timing and statistics --------------------------------------------------------------------
def percentile(samples: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), ``q`` in [0, 100]."""
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Stats:
    samples_ms: list[float]

    @property
    def runs(self) -> int:
        return len(self.samples_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else math.nan

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 95)


def measure(fn: Callable[[], Any], *, runs: int, warmup: int = 1) -> Stats:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed (wall clock, ms)."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return Stats(samples)


def measure_interleaved(
    calls: dict[str, Callable[[], Any]], *, runs: int, warmup: int = 1
) -> dict[str, Stats]:
    """Like ``measure`` for several cases at once, round-robin: on a shared machine a burst of
    load then slows every side of a comparison alike instead of one case's runs."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: Stats(values) for name, values in samples.items()}


def row(scenario: str, case: str, stats: Stats | None, note: str = "", **extra: Any) -> dict[str, Any]:
    """A result row; ``stats=None`` for a case that could not be measured (the note says why)."""
    return {
        "scenario": scenario,
        "case": case,
        "median_ms": None if stats is None else round(stats.median_ms, 2),
        "p95_ms": None if stats is None else round(stats.p95_ms, 2),
        "runs": 0 if stats is None else stats.runs,
        "note": note,
        **extra,
    }


def target(
    scenario: str, text: str, measured: str, met: bool | None, note: str = "", key: str | None = None
) -> dict[str, Any]:
    """A target line; ``met=None`` means pending (not measurable yet). ``key`` names one of the
    performance targets that the summary at the end of a run lists (``bench.summary.TARGETS``)."""
    line = {"scenario": scenario, "target": text, "measured": measured, "met": met, "note": note}
    return {**line, "key": key} if key else line


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0 or math.isnan(numerator):
        return None
    return numerator / denominator


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def fmt_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def progress(message: str) -> None:
    """Progress goes to stderr so that stdout is only the result table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def traffic_summary(traffic: Traffic) -> str:
    """``9 req (1 LIST, 0 HEAD, 8 GET of which 8 ranged), depth 3, 1.2 MB read [per file]``."""
    files = ", ".join(
        f"{name} {count}x/{fmt_bytes(size)}" for name, (count, size) in sorted(traffic.by_file.items())
    )
    ranged = f" of which {traffic.range_gets} ranged" if traffic.range_gets else ""
    return (
        f"{traffic.requests} req ({traffic.lists} LIST, {traffic.heads} HEAD, {traffic.gets} GET{ranged}), "
        f"depth {traffic.depth}, {fmt_bytes(traffic.bytes_in)} read"
        + (f" [{files}]" if files and len(traffic.by_file) > 1 else "")
    )
