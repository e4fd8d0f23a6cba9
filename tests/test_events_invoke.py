"""Every ``events/*.json`` through the real CLI, as ``sam local invoke -e`` would run it.

Given the run the API events point at (seeded in S3 and ``etl.logs``), when each event file is
invoked with ``etl-artifacts invoke <FunctionLogicalId> -e <file>`` in a subprocess, then the
function answers the expected status (never a 500) and the authorizer refuses the committed,
expired token but accepts a fresh one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

EVENTS_DIR = REPO_ROOT / "events"
CLI = Path(sys.executable).with_name("etl-artifacts")

FUNCTION_BY_PREFIX = {
    "meta": "MetaFunction",
    "runs": "RunsFunction",
    "phases": "PhasesFunction",
    "artifacts": "ArtifactsFunction",
    "uploads": "UploadsFunction",
    "authorizer": "AuthorizerFunction",
    "indexer": "IndexerFunction",
    "lifecycle": "LifecycleFunction",
    "links": "LinksFunction",
    "seal": "SealFunction",
    "sweeper": "SweeperFunction",
}

# Statuses each API event may answer. Every family has landed, so each expects its real answer;
# while a route is rebuilt an entry may be widened with 501 (not implemented). 500 never passes.
EXPECTED_STATUS: dict[str, set[int]] = {
    "meta_health.json": {200},
    "meta_whoami.json": {200},
    "meta_openapi.json": {200},
    "meta_docs.json": {200},
    "runs_search.json": {200},
    "runs_get.json": {200},
    "phases_event.json": {200},
    "phases_metadata.json": {200},
    "phases_data.json": {200},
    "phases_data_keyword.json": {200},
    "phases_errors.json": {200},
    "phases_logs.json": {200},
    "phases_logs_ndjson.json": {200},
    "artifacts_list.json": {200},
    "artifacts_get.json": {200},
    "artifacts_download.json": {302},
    # The create replays its Idempotency-Key (201 each time); the others read the demo upload.
    "uploads_create.json": {201},
    "uploads_complete.json": {200},
    "uploads_get.json": {200},
    "uploads_content.json": {200},
    "uploads_download.json": {302},
    "uploads_list_dag.json": {200},
    "uploads_list.json": {200},
    # The lifecycle events name an artifact, a link and a seal the demo data does not have.
    "lifecycle_list_links.json": {404},
    "links_follow.json": {404},
    "seal_manifest.json": {404},
}

# The run every API event points at (see etl_artifacts_local.seed: the walkthrough run).
DEMO_DATE = dt.date(2026, 11, 20)

EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))


def invoke(function: str, event_file: Path) -> dict[str, Any]:
    """Run the CLI in a subprocess with the test environment; returns the handler's result.

    Metrics are on (as in AWS) and logs at INFO: stdout must still be the result alone, one JSON
    document (docs/local-stack.md), with the EMF metrics and log lines on stderr.
    """
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_DISABLED": "false"}
    proc = subprocess.run(
        [str(CLI), "invoke", function, "-e", str(event_file)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"{function} {event_file.name}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    )
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"{function} {event_file.name}: stdout is not one JSON document ({exc})\n{proc.stdout[:2000]}"
        ) from None
    return result


def function_for(event_file: Path) -> str:
    prefix = event_file.name.split("_", 1)[0]
    assert prefix in FUNCTION_BY_PREFIX, f"{event_file.name}: unknown prefix (add it to FUNCTION_BY_PREFIX)"
    return FUNCTION_BY_PREFIX[prefix]


@pytest.fixture(scope="module")
def demo_run(base_env: dict[str, str]) -> Any:
    from etl_artifacts.s3.layout import RunRef
    from etl_artifacts_local.seed import demo_run_id, seed_run
    from etl_artifacts_local.seed_scenarios import DEMO_COMPANY, DEMO_DAG_ID
    from etl_artifacts_local.seed_uploads import seed_demo_upload

    seeded = seed_run(RunRef(DEMO_COMPANY, DEMO_DAG_ID, DEMO_DATE, demo_run_id(DEMO_DATE)))
    seed_demo_upload(RunRef(DEMO_COMPANY, DEMO_DAG_ID, DEMO_DATE, demo_run_id(DEMO_DATE)))
    return seeded


def test_every_event_has_an_expectation_and_a_function():
    assert EVENT_FILES, "events/ is empty"
    for event_file in EVENT_FILES:
        function_for(event_file)
        if not event_file.name.startswith(("authorizer_", "indexer_", "sweeper_")):
            assert event_file.name in EXPECTED_STATUS, f"add {event_file.name} to EXPECTED_STATUS"
    assert {name for name in EXPECTED_STATUS if not (EVENTS_DIR / name).exists()} == set()


def test_api_events_point_at_the_demo_run(demo_run):
    """The events are the run seed writes: same tenant, DAG, date and run_id, in the shape AWS sends
    (an HTTP API hands over rawPath and pathParameters decoded, docs/limits.md)."""
    for event_file in EVENT_FILES:
        event = json.loads(event_file.read_text(encoding="utf-8"))
        if event_file.name.startswith(("runs_get", "phases_", "artifacts_", "seal_")):
            assert f"/{demo_run.dag_id}/runs/{demo_run.date}/{demo_run.run_id}/" in event["rawPath"] + "/"
            assert event["requestContext"]["http"]["path"] == event["rawPath"]
            assert event["pathParameters"]["run_id"] == demo_run.run_id
            assert event["requestContext"]["authorizer"]["lambda"]["id_company"] == demo_run.id_company


# A subprocess per event (about a second of imports each): the slow part of this file.
@pytest.mark.slow
@pytest.mark.parametrize(
    "event_file", [f for f in EVENT_FILES if f.name in EXPECTED_STATUS], ids=lambda f: f.stem
)
def test_api_event_answers_expected_status(event_file: Path, demo_run):
    result = invoke(function_for(event_file), event_file)

    status = result["statusCode"]
    assert status != 500, result.get("body")
    assert status in EXPECTED_STATUS[event_file.name], result.get("body")
    if status == 200 and event_file.name in ("runs_get.json", "artifacts_list.json"):
        assert json.loads(result["body"])["run_id"] == demo_run.run_id
    if status == 200 and event_file.name == "uploads_get.json":
        assert json.loads(result["body"])["run_id"] == demo_run.run_id
    if status == 200 and event_file.name == "meta_whoami.json":
        assert json.loads(result["body"])["id_company"] == demo_run.id_company


def test_authorizer_refuses_the_committed_expired_token(base_env):
    result = invoke("AuthorizerFunction", EVENTS_DIR / "authorizer_request.json")

    # The refusal names its rule (API Gateway ignores a refusal's context; the local gateway sends
    # it). The sample is signed with another key than this suite's, which is checked first.
    assert result == {
        "isAuthorized": False,
        "context": {"error_description": "the token signature could not be verified"},
    }


def test_authorizer_accepts_a_fresh_token(base_env, make_token, tmp_path):
    event = json.loads((EVENTS_DIR / "authorizer_request.json").read_text(encoding="utf-8"))
    bearer = f"Bearer {make_token('acme', sub='events-test')}"
    event["headers"]["authorization"] = bearer
    event["identitySource"] = [bearer]
    fresh = tmp_path / "authorizer_fresh.json"
    fresh.write_text(json.dumps(event), encoding="utf-8")

    result = invoke("AuthorizerFunction", fresh)

    assert result["isAuthorized"] is True
    assert result["context"]["id_company"] == "acme"
    assert result["context"]["sub"] == "events-test"


@pytest.mark.parametrize(
    "event_file", [f for f in EVENT_FILES if f.name.startswith("indexer_")], ids=lambda f: f.stem
)
def test_indexer_event_reports_partial_batch_failures(event_file: Path, base_env):
    result = invoke("IndexerFunction", event_file)

    # SQS partial batch response: a failed message is listed, never raised.
    assert isinstance(result.get("batchItemFailures"), list)


def test_sweeper_event_sweeps_and_reports(base_env):
    result = invoke("SweeperFunction", EVENTS_DIR / "sweeper_scheduled.json")
    assert result["dry_run"] is False and result["complete"] is True
    assert {"expired", "abandoned", "deleted", "objects_removed", "events_sent"} <= set(result)


def test_invoke_stdout_pipes_into_json_tool(base_env):
    """`invoke ... | python -m json.tool` succeeds with metrics enabled; the EMF line is on stderr."""
    env = {**os.environ, "POWERTOOLS_METRICS_DISABLED": "false", "POWERTOOLS_LOG_LEVEL": "INFO"}
    proc = subprocess.run(
        [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f'"{CLI}" invoke MetaFunction -e events/meta_health.json | "{sys.executable}" -m json.tool',
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert proc.returncode == 0, proc.stdout[-1000:] + proc.stderr[-1000:]
    assert json.loads(proc.stdout)["statusCode"] == 200
    assert '"CloudWatchMetrics"' in proc.stderr  # metrics were emitted, just not on stdout


@pytest.mark.parametrize(
    ("function", "event", "missing"),
    [
        ("RunsFunction", "runs_get.json", "DATABASE_URL or DB_SECRET_ARN"),
        ("PhasesFunction", "phases_data.json", "ARTIFACTS_BUCKET"),
        ("ArtifactsFunction", "artifacts_list.json", "ARTIFACTS_BUCKET"),
        ("AuthorizerFunction", "authorizer_request.json", "JWT_SECRET or JWT_JWKS_URL"),
    ],
)
def test_invoke_without_configuration_says_what_is_missing(function, event, missing):
    configuration = (
        "ARTIFACTS_BUCKET",
        "DATABASE_URL",
        "DB_SECRET_ARN",
        "JWT_SECRET",
        "JWT_JWKS_URL",
        "CURSOR_SECRET",
    )
    env = {k: v for k, v in os.environ.items() if k not in configuration}
    proc = subprocess.run(
        [str(CLI), "invoke", function, "-e", str(EVENTS_DIR / event)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert proc.returncode == 2
    assert proc.stdout == ""  # no 502 document
    assert missing in proc.stderr and "source .local/dev/env" in proc.stderr


def test_every_function_of_the_template_is_known_to_the_invoke_check():
    from etl_artifacts_local.cli import _INVOKE_NEEDS
    from etl_artifacts_local.template import load_template

    # Meta needs nothing but the event; every other function must say what it needs.
    assert set(load_template().functions) - {"MetaFunction"} == set(_INVOKE_NEEDS)
