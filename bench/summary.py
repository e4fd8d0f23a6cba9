"""The performance targets every full run is judged on, in one table at the end of the output.

Scenarios tag the target lines they report with a ``key`` (``bench.timing.target``); the summary
lists every key below in this order, with the scenario's figures and met/missed, and says
"not run" for a key no selected scenario reported (``--only``, or a set the run left out).
bench/README.md leads with this table, copied from the last full run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Goal:
    key: str
    area: str
    text: str
    scenario: str  # the --only value that measures it


SMALLER_SET = "smaller set (300,000 rows, 6 chunks)"
BENCH_SET = "bench set (1,000,000 rows, 10 chunks)"

TARGETS: tuple[Goal, ...] = (
    Goal("cold-first-request", "cold start", "first request after SnapStart init <= 1.5x warm", "cold-start"),
    Goal("cold-deep-depth", "cold page", "cold deep page: depth <= 2 round trips (bench set)", "s3-model"),
    Goal("cold-deep-requests", "cold page", "cold deep page: <= 3 requests (bench set)", "s3-model"),
    Goal("smaller-needle", SMALLER_SET, "needle >= 12x DuckDB at 20 ms/request", "s3-model"),
    Goal("smaller-common", SMALLER_SET, "common word >= 5x DuckDB at 20 ms/request", "s3-model"),
    Goal("smaller-page0", SMALLER_SET, "page 0 >= 2x DuckDB at 20 ms/request", "s3-model"),
    Goal("smaller-deep", SMALLER_SET, "deep page >= 8x DuckDB at 20 ms/request", "s3-model"),
    Goal("bench-needle", BENCH_SET, "needle >= 15x DuckDB at 20 ms/request", "s3-model"),
    Goal("bench-common", BENCH_SET, "common word >= 4x DuckDB at 20 ms/request", "s3-model"),
    Goal("cost-table", "cost", "$ per million requests for every function in template.yaml", "cost"),
    Goal("scaling-runs", "scale", "runs search at 10 M rows in etl.logs: p50/p95, index used", "scaling"),
    Goal("scaling-attempt", "scale", "one attempt at 10 M rows (simulated or extrapolated)", "scaling"),
)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _status(line: dict[str, Any] | None) -> str:
    if line is None:
        return "not run"
    return {True: "met", False: "MISSED"}.get(line.get("met"), "pending")


def render_summary(targets: list[dict[str, Any]]) -> list[str]:
    """The summary table (markdown lines) from every target line a run reported."""
    by_key = {t["key"]: t for t in targets if t.get("key")}
    lines = [
        "## Performance targets (summary)",
        "",
        "| area | target | measured | status | note |",
        "|---|---|---|---|---|",
    ]
    for goal in TARGETS:
        line = by_key.get(goal.key)
        measured = _cell(line.get("measured", "")) if line else f"run `--only {goal.scenario}`"
        note = _cell(line.get("note", "")) if line else ""
        lines.append(f"| {goal.area} | {goal.text} | {measured} | {_status(line)} | {note} |")
    reported = [by_key.get(goal.key) for goal in TARGETS]
    met = sum(1 for line in reported if line is not None and line.get("met") is True)
    missed = sum(1 for line in reported if line is not None and line.get("met") is False)
    skipped = sum(1 for line in reported if line is None)
    tally = f"{met} met, {missed} missed, {skipped} not run, of {len(TARGETS)} performance targets."
    lines += ["", tally, ""]
    return lines
