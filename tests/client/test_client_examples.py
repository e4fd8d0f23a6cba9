"""The scripts of examples/ run as a user runs them (a separate Python process, the API and token
from the environment) against the local stack; the upload example against the stand-in of the
write routes until the stack serves them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from client_stub_api import StubApi
from phases_helpers import data_table, errors_table, new_run, put_chunks, put_metadata
from runs_helpers import delete_dags, insert_run, phase

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, api: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ETL_ARTIFACTS_API": api, "ETL_ARTIFACTS_TOKEN": token}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def failed_run() -> Iterator[object]:
    """A run whose transform failed in attempt 2 (with errors in S3), and a run that succeeded."""
    run = new_run()
    put_chunks(run, "errors", [errors_table(0, 5)], phase="transform", attempt=2)
    put_chunks(run, "data", [data_table(0, 30), data_table(30, 12)], phase="transform", attempt=2)
    put_metadata(run, phase="transform", attempt=2, rows=42, chunks=2)
    log = {"extract": phase("success"), "transform": phase("error", message="5 bad rows", attempt=2)}
    insert_run("acme", run.dag_id, run.run_date, run.run_id, log)
    insert_run("acme", run.dag_id, "2026-11-19", "fine", {"extract": phase("success")})
    yield run
    delete_dags([run.dag_id])


def test_failed_runs_prints_each_failed_phase_and_its_errors(gateway_url, make_token, failed_run):
    out = run_example(
        "failed_runs.py",
        f"{gateway_url}/api/v1",
        make_token("acme"),
        str(failed_run.dag_id),
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
    ).stdout.splitlines()

    assert out[0] == f"2026-11-20 {failed_run.run_id} transform attempt 2: 5 bad rows"
    assert out[1:] == [f"    https://errors.example/{i} (422): row {i} is bad" for i in range(3)]


def test_export_phase_writes_the_attempt_as_parquet(gateway_url, make_token, failed_run, tmp_path):
    output = tmp_path / "transform.parquet"
    done = run_example(
        "export_phase.py",
        f"{gateway_url}/api/v1",
        make_token("acme"),
        str(failed_run.dag_id),
        "2026-11-20",
        failed_run.run_id,
        "transform",
        "--output",
        str(output),
    )

    assert "42 rows of transform attempt 2" in done.stdout  # the latest attempt, from the run summary
    assert pq.read_table(output).equals(pa.concat_tables([data_table(0, 30), data_table(30, 12)]))


def test_upload_and_share_prints_a_link(tmp_path):
    stub = StubApi()
    try:
        (tmp_path / "quality-report.md").write_text("# Quality\nall rows valid\n")
        done = run_example(
            "upload_and_share.py",
            stub.url,
            "stub-token",
            "3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f",
            "2026-11-20",
            "manual__2026-11-20T10:15:30+00:00",
            str(tmp_path / "quality-report.md"),
            "--days",
            "2",
        )
    finally:
        stub.close()
    lines = done.stdout.splitlines()
    assert lines[0].startswith("uploaded quality-report.md as art_")
    assert lines[1].startswith(f"share this link (shown once): {stub.url}/api/v1/links/")
