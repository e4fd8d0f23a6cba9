"""Load smoke: ``python -m bench.load --smoke`` runs 20 concurrent clients against
``etl-artifacts serve``, each sending every route of the mix once (a fixed count, not a time
window, so a slow or loaded machine sends the same requests): zero errors. A failure names each
failed case with its status, content type and error code.

Latencies are printed by the benchmark, never asserted here (bench/results/load.md holds a full
run's numbers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The benchmark starts its own S3 server and Postgres: nothing of the test session's leaks in.
_SESSION_VARIABLES = (
    "AWS_ENDPOINT_URL_S3",
    "ARTIFACTS_BUCKET",
    "ARTIFACTS_PREFIX",
    "DATABASE_URL",
    "JWT_SECRET",
)


@pytest.mark.slow
@pytest.mark.timeout(600)  # above the subprocess's own bound, so that one reports
def test_twenty_concurrent_clients_over_every_route_get_no_error() -> None:
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_VARIABLES}
    result = subprocess.run(
        [sys.executable, "-m", "bench.load", "--smoke", "--json", "--output", "-"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,  # a bound for a hung run only: ~1 min even on a loaded machine
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise AssertionError(
            f"bench.load exited {result.returncode} without a report:\n{result.stderr[-3000:]}"
        ) from None
    (goal,) = report["targets"]
    assert goal["target"] == "0 errors"
    assert goal["met"] is True, f"{goal['measured']}: {goal.get('note')}"
    cases = {r["case"]: r for r in report["rows"]}
    # Every route of the mix was exercised under load, once per client.
    assert {
        "health",
        "whoami",
        "runs search",
        "run",
        "event",
        "phase metadata",
        "data page",
        "data keyword",
        "errors",
        "logs",
        "logs ndjson",
        "artifacts list",
        "presign",
    } <= set(cases)
    per_case = {r["case"]: r["runs"] for r in report["rows"] if not r["case"].startswith("all routes")}
    assert set(per_case.values()) == {20}, per_case
    assert result.returncode == 0, result.stderr[-2000:]
