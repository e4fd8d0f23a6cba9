"""docs/uploads.md's walkthrough runs as written: its shell block, in a fresh bash that sources an
env file like the one `make dev` writes, against the local gateway on the strict local S3 (as
`make dev` runs it), with the demo run seeded. Nothing is written into the checkout."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import StrictBucket
from test_docs_snippets import ENV_FILE, run_blocks, runnable_blocks


@pytest.fixture
def strict_env_file(on_strict_s3: StrictBucket, gateway_url: str, make_token: Any, tmp_path: Path) -> Path:
    from etl_artifacts.s3.layout import RunRef
    from etl_artifacts_local.dev import render_env_file, stack_variables
    from etl_artifacts_local.seed import demo_run_id, seed_run
    from etl_artifacts_local.seed_scenarios import DEMO_COMPANY, DEMO_DAG_ID

    date = dt.date(2026, 11, 20)
    seed_run(RunRef(DEMO_COMPANY, DEMO_DAG_ID, date, demo_run_id(date)))
    path = tmp_path / "env"
    text = render_env_file(stack_variables(), api_url=f"{gateway_url}/api/v1", token=make_token(DEMO_COMPANY))
    path.write_text(text, encoding="utf-8")
    return path


def test_the_uploads_walkthrough_runs_as_written(strict_env_file: Path) -> None:
    blocks = runnable_blocks("docs/uploads.md")
    assert len(blocks) == 1 and ENV_FILE in blocks[0]

    out = run_blocks(blocks, strict_env_file).stdout

    documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    inline, completed, record, listed = documents
    assert inline["name"] == "hello.txt" and inline["status"] == "active"
    assert completed["name"] == "report.bin" and completed["status"] == "active"
    assert record["artifact_id"] == completed["artifact_id"] and record["url"].startswith("http")
    assert re.search(rf"^{record['sha256']}  -$", out, re.M)  # /content hashed to the recorded digest
    assert "same bytes" in out  # the download equals the file
    assert {item["name"] for item in listed["items"]} >= {"hello.txt", "report.bin"}
    assert all("url" in item for item in listed["items"])
