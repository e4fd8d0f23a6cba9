"""The benchmark suite must not rot: ``python -m bench --smoke`` runs every scenario at tiny sizes.

No timing is asserted here (benchmarks report numbers, tests check behaviour): only that the
runner completes, reports each of the benchmark's scenarios, and writes the same table to its output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENARIO_TITLES = (
    "1. Pages",
    "2. Keyword search",
    "3. Runs search",
    "4. List + presign",
    "5. Indexer",
    "6. Cold start",
    "7. Layer size",
    "8. Download",
    "9. Column projection",
    "10. S3 cost model",
    "11. Uploads",
    "12. Artifact lifecycle",
    "13. Cost",
    "14. Scaling",
)
# The runner starts its own S3 server and Postgres: nothing of the test session's must leak in.
_SESSION_VARIABLES = (
    "AWS_ENDPOINT_URL_S3",
    "ARTIFACTS_BUCKET",
    "ARTIFACTS_PREFIX",
    "DATABASE_URL",
    "JWT_SECRET",
)


def _bench(*args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_lists_the_options() -> None:
    result = _bench("--help", timeout=60)

    assert result.returncode == 0
    for option in ("--smoke", "--only", "--output", "--rows", "--chunks", "--row-group-size", "--runs"):
        assert option in result.stdout


@pytest.mark.slow
@pytest.mark.timeout(900)  # above the subprocess bound below, so that one reports
def test_smoke_run_reports_every_scenario(tmp_path: Path) -> None:
    # Given a fresh data cache and output file
    output = tmp_path / "results.md"

    # When the smoke benchmark runs, with one timed fresh process per cold case (each is a Python
    # start plus imports; more would only repeat the same path). ~2 min on an idle machine, ~7 min at
    # load average 12: the bound is for a hung run only.
    result = _bench(
        "--smoke",
        "--cold-runs",
        "1",
        "--output",
        str(output),
        "--data-dir",
        str(tmp_path / "data"),
        timeout=840,
    )

    # Then it completes, every scenario appears in the table, and none crashed
    assert result.returncode == 0, result.stderr[-3000:]
    for title in SCENARIO_TITLES:
        assert f"| {title} |" in result.stdout, f"{title} missing from the table"
    assert "(error)" not in result.stdout
    assert "## Targets" in result.stdout
    # and the performance targets' summary closes the output and the results file
    summary = result.stdout[result.stdout.index("## Performance targets (summary)") :]
    assert "| cold page | cold deep page: depth <= 2 round trips (bench set) |" in summary
    assert "of 12 performance targets." in summary
    assert summary.strip() in output.read_text(encoding="utf-8")
    assert output.read_text(encoding="utf-8").strip() == result.stdout.strip()
