"""``python -m bench``: run the benchmark scenarios, print the table, write the results file.

Every scenario module exposes ``run(smoke: bool) -> {"rows": [...], "targets": [...]}``; the
runner imports each one if it exists (a missing module is reported as pending), passes the size
options to the modules that accept an ``options`` argument, and never fails on a missed target:
the exit status is non-zero only when a scenario crashed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import math
import os
import platform
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stack import quiet_powertools_env, stop_services, versions
from bench.summary import render_summary
from bench.timing import REPO_ROOT, BenchOptions, progress


@dataclass(frozen=True)
class Scenario:
    name: str  # --only value
    title: str
    module: str


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("pages", "1. Pages", "bench.bench_pages"),
    Scenario("search", "2. Keyword search", "bench.bench_search"),
    Scenario("runs", "3. Runs search", "bench.bench_runs"),
    Scenario("presign", "4. List + presign", "bench.bench_presign"),
    Scenario("indexer", "5. Indexer", "bench.bench_indexer"),
    Scenario("cold-start", "6. Cold start", "bench.bench_cold_start"),
    Scenario("layer-size", "7. Layer size", "bench.layer_size"),
    Scenario("download", "8. Download", "bench.bench_download"),
    Scenario("projection", "9. Column projection", "bench.bench_projection"),
    Scenario("s3-model", "10. S3 cost model", "bench.bench_s3model"),
    Scenario("uploads", "11. Uploads", "bench.bench_uploads"),
    Scenario("lifecycle", "12. Artifact lifecycle", "bench.bench_lifecycle"),
    Scenario("cost", "13. Cost", "bench.bench_cost"),
    Scenario("scaling", "14. Scaling", "bench.bench_scaling"),
)
DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results" / "latest.md"
SMOKE_OUTPUT = REPO_ROOT / "bench" / "results" / "smoke.md.tmp"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmarks of the ETL Run Artifacts API against the alternatives, on moto's "
            "S3 server and embedded Postgres, and on s3rver behind a latency proxy (the S3 cost model). "
            "Prints the tables and writes them to the output file."
        ),
    )
    names = [s.name for s in SCENARIOS]
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes and few runs: checks every scenario still runs (part of make test)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="SCENARIO",
        help=f"run only this scenario (repeatable): {', '.join(names)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results file (default bench/results/latest.md; smoke: bench/results/smoke.md.tmp)",
    )
    sizes = parser.add_argument_group("sizes (scenarios 1, 2, 6 and 10; defaults: full size)")
    sizes.add_argument("--rows", type=int, help="data rows of the benchmark attempt (default 1,000,000)")
    sizes.add_argument("--chunks", type=int, help="data chunks the rows are split into (default 10)")
    sizes.add_argument("--row-group-size", type=int, help="rows per parquet row group (default 10,000)")
    sizes.add_argument(
        "--runs", type=int, help="timed runs per case after the warm-up (default 7, at least 5)"
    )
    sizes.add_argument("--warmup", type=int, help="untimed warm-up runs per case (default 2)")
    sizes.add_argument("--cold-runs", type=int, help="fresh processes per cold case (default 10)")
    sizes.add_argument(
        "--data-dir", type=Path, help="cache of generated parquet (default .local/bench-data, git-ignored)"
    )
    sizes.add_argument(
        "--latency-ms",
        type=float,
        action="append",
        metavar="MS",
        help="S3 cost model: milliseconds the proxy adds to every request (repeatable; default 0 and 20)",
    )
    return parser


def options_from(args: argparse.Namespace) -> BenchOptions:
    base = BenchOptions.smoke_defaults() if args.smoke else BenchOptions()
    return base.with_changes(
        rows=args.rows,
        chunks=args.chunks,
        row_group_size=args.row_group_size,
        runs=args.runs,
        warmup=args.warmup,
        cold_runs=args.cold_runs,
        data_dir=args.data_dir,
        latencies_ms=tuple(args.latency_ms) if args.latency_ms else None,
    )


def run_scenario(scenario: Scenario, options: BenchOptions) -> tuple[str, dict[str, Any]]:
    """(status, result): status is ``ok``, ``pending`` (module not delivered yet) or ``error``."""
    if importlib.util.find_spec(scenario.module) is None:
        return "pending", {"rows": [], "targets": [], "note": "scenario module not delivered yet"}
    module = importlib.import_module(scenario.module)
    run = module.run
    accepts_options = "options" in inspect.signature(run).parameters
    result = run(options.smoke, options=options) if accepts_options else run(options.smoke)
    if not isinstance(result, dict):
        raise TypeError(f"{scenario.module}.run returned {type(result).__name__}, not a dict")
    # One name per scenario in the table, whatever label the module used for itself.
    rows = [{**r, "scenario": scenario.title} for r in result.get("rows") or []]
    targets = [{**t, "scenario": scenario.title} for t in result.get("targets") or []]
    return "ok", {"rows": rows, "targets": targets, "tables": result.get("tables") or []}


# -- rendering -----------------------------------------------------------------------------------
def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_rows(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| scenario | case | median ms | p95 ms | runs | note |", "|---|---|---:|---:|---:|---|"]
    for r in rows:
        median, p95 = _num(r.get("median_ms")), _num(r.get("p95_ms"))
        if r.get("value") is not None:  # e.g. layer size: a value with a unit instead of times
            median, p95 = f"{_num(r['value'])} {r.get('unit', '')}".strip(), "-"
        lines.append(
            f"| {_cell(r.get('scenario', ''))} | {_cell(r.get('case', ''))} | {median} | {p95} | "
            f"{_num(r.get('runs'))} | {_cell(r.get('note', ''))} |"
        )
    return lines


def render_table(table: dict[str, Any]) -> list[str]:
    """A scenario's own table: ``{"title", "columns", "rows", "notes"}`` (cells already text)."""
    columns = table["columns"]
    lines = [f"## {table['title']}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(value) for value in cells) + " |" for cells in table["rows"]]
    return [*lines, "", *table.get("notes", []), ""]


def _met(value: Any) -> str:
    return {True: "met", False: "MISSED"}.get(value, "pending")


def render_targets(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["| scenario | target | measured | status | note |", "|---|---|---|---|---|"]
    for t in targets:
        lines.append(
            f"| {_cell(t.get('scenario', ''))} | {_cell(t.get('target', ''))} | "
            f"{_cell(t.get('measured', ''))} | {_met(t.get('met'))} | {_cell(t.get('note', ''))} |"
        )
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * page_size / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs{memory}, {platform.system()} {platform.release()}"


def load_average() -> str:
    try:
        return "/".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def render(
    results: list[tuple[Scenario, str, dict[str, Any]]],
    options: BenchOptions,
    elapsed_s: float,
    command: str,
    load_before: str = "n/a",
) -> str:
    rows: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    tables: list[str] = []
    status_lines = []
    for scenario, status, result in results:
        rows.extend(result["rows"])
        targets.extend(result["targets"])
        for table in result.get("tables") or []:
            tables.extend(render_table(table))
        if status != "ok" or not result["rows"]:
            rows.append(
                {
                    "scenario": scenario.title,
                    "case": f"({status})",
                    "median_ms": None,
                    "p95_ms": None,
                    "runs": 0,
                    "note": result.get("note", ""),
                }
            )
        status_lines.append(
            f"- {scenario.title}: {status}" + (f" ({result['note']})" if result.get("note") else "")
        )
    missed = [t for t in targets if t.get("met") is False]
    versions_text = ", ".join(f"{name} {ver}" for name, ver in versions().items())
    sizes = (
        f"{options.rows:,} rows in {options.chunks} chunks, row groups of {options.row_group_size:,}; "
        f"{options.runs} timed runs after {options.warmup} warm-up(s); {options.cold_runs} cold processes"
    )
    out = [
        "# Benchmark results" + (" (smoke: tiny sizes, numbers meaningless)" if options.smoke else ""),
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}; load average (1/5/15 min) {load_before} before, {load_average()} after "
        "(the machine is shared: other work running at the same time slows every side alike)",
        f"- python {platform.python_version()}; {versions_text}",
        f"- sizes: {sizes}",
        f"- command: `{command}` ({elapsed_s:.0f} s)",
        "- S3 is moto's server over HTTP on loopback (a subprocess); it reads a whole object for every range "
        "GET, so request counts and bytes read are reported beside times: on real S3 they matter more. "
        "Scenario 10 (the S3 cost model) uses s3rver instead, behind a proxy adding a latency per request.",
        "",
        *tables,
        "## Targets",
        "",
        *render_targets(targets),
        "",
        f"{len(targets) - len(missed)} of {len(targets)} targets met or pending, {len(missed)} missed.",
        "",
        "## Measurements (milliseconds unless a unit is given)",
        "",
        *render_rows(rows),
        "",
        "## Scenarios",
        "",
        *status_lines,
        "",
        *render_summary(targets),
    ]
    return "\n".join(out)


def _public_args(argv: list[str]) -> list[str]:
    """The command line as recorded in the results file, without this machine's paths."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append("<path>")
            hide_next = False
        elif arg in ("--output", "--data-dir"):
            shown.append(arg)
            hide_next = True
        elif arg.startswith(("--output=", "--data-dir=")):
            shown.append(arg.split("=", 1)[0] + "=<path>")
        else:
            shown.append(arg)
    return shown


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = options_from(args)
    if options.runs < 5 and not options.smoke:
        progress("note: fewer than 5 timed runs per case; at least 5 are needed for a stable median")
    # Lambda-like Powertools settings (no per-request log lines on stdout) before any handler import.
    os.environ.update(quiet_powertools_env())
    # Metrics are disabled here on purpose: Powertools' "no metrics to publish" warning is noise.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    selected = [s for s in SCENARIOS if not args.only or s.name in args.only]
    output = args.output or (SMOKE_OUTPUT if options.smoke else DEFAULT_OUTPUT)
    command = "python -m bench " + " ".join(_public_args(argv if argv is not None else sys.argv[1:]))
    results: list[tuple[Scenario, str, dict[str, Any]]] = []
    failed = False
    started = time.perf_counter()
    load_before = load_average()
    try:
        for scenario in selected:
            progress(f"scenario {scenario.title}")
            try:
                status, result = run_scenario(scenario, options)
            except Exception as exc:
                # A crashed scenario is reported and makes the run fail; the others still run.
                traceback.print_exc(file=sys.stderr)
                message = str(exc).replace(str(REPO_ROOT), ".")
                status, result = (
                    "error",
                    {"rows": [], "targets": [], "note": f"{type(exc).__name__}: {message}"[:200]},
                )
                failed = True
            results.append((scenario, status, result))
    finally:
        stop_services()
    text = render(results, options, time.perf_counter() - started, command.strip(), load_before)
    print(text)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    progress(
        f"results written to {output.relative_to(REPO_ROOT) if output.is_relative_to(REPO_ROOT) else output}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
