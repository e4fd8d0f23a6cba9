"""``Client.logs`` and ``etl-artifacts logs`` over HTTP through the local gateway (real S3 server):
following a running attempt with continuation tokens, the latest attempt by default, and the same
exit codes and date checks as ``download``."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from etl_artifacts.s3.layout import RunRef
from etl_artifacts_client import ApiError, Client
from etl_artifacts_client.cli import main
from phases_helpers import (
    expected_lines,
    new_run,
    put_logs,
    put_metadata,
    running_attempt,
)
from runs_helpers import insert_run, phase


@pytest.fixture
def running(api) -> RunRef:
    return running_attempt()


def ref(run: RunRef) -> tuple[str, str, str, str]:
    return str(run.dag_id), run.run_date.isoformat(), run.run_id, "extract"


def argv(gateway_url: str, run: RunRef, *extra: str) -> list[str]:
    dag_id, date, run_id, phase_name = ref(run)
    return ["logs", dag_id, date, run_id, phase_name, "--api", f"{gateway_url}/api/v1", *extra]


def test_follows_a_running_attempt_until_it_completes(gateway_url, make_token, running):
    # The writer's progress is driven by the client's own pauses: no timing involved.
    script = [
        lambda: put_logs(running, 1, 10, 5),
        lambda: None,
        lambda: put_logs(running, 1, 10, 9),
        lambda: (put_logs(running, 2, 19, 6), put_metadata(running)),
    ]
    pauses: list[float] = []
    said: list[str] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) > 20:
            raise AssertionError("the client did not stop after the attempt completed")
        if script:
            script.pop(0)()

    client = Client(gateway_url, make_token("acme"), sleep=sleep)
    rows = list(client.logs(*ref(running), follow=True, interval=0.01, on_wait=said.append))

    assert [row["message"] for row in rows] == expected_lines(0, 25)
    assert not script and all(p == 0.01 for p in pauses)
    assert said == ["attempt 1 is running; waiting for new lines (Ctrl-C stops)"]


def test_without_follow_prints_what_exists_and_stops(gateway_url, make_token, running, capsys, monkeypatch):
    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", make_token("acme"))
    assert main(argv(gateway_url, running, "--order", "desc", "--attempt", "1")) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 10 and printed[0].endswith("etl.extract: line 9")
    assert printed[0].startswith("2026-11-20T10:00:09+00:00 ")


def test_an_attempt_not_started_yet_is_waited_for_and_said_so(gateway_url, make_token, running):
    said: list[str] = []
    script = [lambda: put_logs(running, 0, 0, 3, attempt=2), lambda: put_metadata(running, attempt=2)]

    def sleep(_: float) -> None:
        if not script:
            raise AssertionError("still waiting")
        script.pop(0)()

    client = Client(gateway_url, make_token("acme"), sleep=sleep)
    rows = list(client.logs(*ref(running), attempt=2, follow=True, on_wait=said.append))

    assert [row["message"] for row in rows] == expected_lines(0, 3)
    assert said[0] == "attempt 2 has not started yet; waiting (Ctrl-C stops)"


def test_defaults_to_the_latest_attempt(gateway_url, make_token, capsys, monkeypatch):
    # Given a run whose extract failed in attempt 1 and succeeded in attempt 2
    run = new_run()
    put_logs(run, 0, 0, 3, attempt=1)
    put_metadata(run, attempt=1)
    put_logs(run, 0, 100, 2, attempt=2)
    put_metadata(run, attempt=2)
    insert_run("acme", run.dag_id, run.run_date, run.run_id, {"extract": phase("success", attempt=2)})
    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", make_token("acme"))

    assert main(argv(gateway_url, run, "--json")) == 0

    captured = capsys.readouterr()
    assert [json.loads(line)["message"] for line in captured.out.splitlines()] == ["line 100", "line 101"]
    assert "extract attempt 2 (the latest" in captured.err


def test_latest_attempt_from_the_listing_when_the_run_has_no_summary(gateway_url, make_token, running):
    put_logs(running, 0, 50, 1, attempt=3)
    assert Client(gateway_url, make_token("acme")).latest_attempt(*ref(running)) == 3


def test_api_errors_carry_code_and_status_and_exit_codes_agree_with_download(
    gateway_url, make_token, running, capsys, monkeypatch
):
    client = Client(gateway_url, make_token("acme"))
    with pytest.raises(ApiError) as raised:
        list(client.logs(*ref(running), attempt=3))
    assert (raised.value.status, raised.value.code) == (404, "phase_not_found")

    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", make_token("acme"))
    assert main(argv(gateway_url, running, "--attempt", "3")) == 1
    assert "404 phase_not_found" in capsys.readouterr().err
    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", "not-a-jwt")
    assert main(argv(gateway_url, running, "--attempt", "1")) == 2  # as download: a refused token is 2
    err = capsys.readouterr().err
    assert "401" in err and err.count("\n") == 1 and "not-a-jwt" not in err


def test_a_bad_date_is_refused_before_any_request(capsys):
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "logs",
                "3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f",
                "2026-13-01",
                "r",
                "extract",
                "--api",
                "http://x",
            ]
        )
    assert exited.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_ctrl_c_while_following_is_clean(gateway_url, make_token, running, monkeypatch, capsys):
    from etl_artifacts_client import _http

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_http.time, "sleep", interrupted)
    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", make_token("acme"))
    assert main(argv(gateway_url, running, "--follow", "--attempt", "1")) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "waiting for new lines" in captured.err
    assert len(captured.out.splitlines()) == 10


LOGS_ARGS = ["3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f", "2026-11-20", "r", "load", "--api", "http://x"]


def test_help_and_missing_token(monkeypatch: Any):
    helped = subprocess.run(
        [sys.executable, "-m", "etl_artifacts_client.cli", "logs", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0 and "--follow" in helped.stdout and "latest" in helped.stdout
    env = {"PATH": "", "PYTHONPATH": ":".join(sys.path)}
    refused = subprocess.run(
        [sys.executable, "-m", "etl_artifacts_client.cli", "logs", *LOGS_ARGS],
        capture_output=True,
        text=True,
        env=env,
    )
    assert refused.returncode == 2 and "ETL_ARTIFACTS_TOKEN" in refused.stderr
    assert "Traceback" not in refused.stderr
