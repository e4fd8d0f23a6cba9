"""Load smoke (issue 8): ``python -m bench.load --smoke`` runs 20 concurrent clients against
``etl-artifacts serve`` for a few seconds, mixing every route: zero errors.

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
def test_twenty_concurrent_clients_over_every_route_get_no_error() -> None:
    env = {k: v for k, v in os.environ.items() if k not in _SESSION_VARIABLES}
    result = subprocess.run(
        [sys.executable, "-m", "bench.load", "--smoke", "--json", "--output", "-"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    (goal,) = report["targets"]
    assert goal["target"] == "0 errors"
    assert goal["met"] is True, goal
    cases = {r["case"]: r for r in report["rows"]}
    # Every route of the mix was exercised under load, many times.
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
    assert all(r["runs"] >= 3 for r in report["rows"]), report["rows"]
    assert result.returncode == 0
