"""The server commands in a shell that has nothing set (`env -i`) or given values the API would
refuse: one line on stderr naming the fix, exit status 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from conftest import REPO_ROOT

CLI = Path(sys.executable).with_name("etl-artifacts")
HINT = "source .local/dev/env"
METADATA = "s3://etl-artifacts-dev/acme/3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f/2026-11-20/r1/extract/attempt=1/metadata.parquet"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # env={} is `env -i`: not even PATH or HOME (so no ~/.aws either).
    return subprocess.run(
        [str(CLI), *args], cwd=REPO_ROOT, env=env or {}, capture_output=True, text=True, timeout=120
    )


def assert_one_line_refusal(proc: subprocess.CompletedProcess[str], *names: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for name in names:
        assert name in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["migrate"], ["DATABASE_URL", HINT, "make dev"]),
        (["seed"], ["ARTIFACTS_BUCKET", HINT]),
        (["seed", "--companies", "1"], ["ARTIFACTS_BUCKET", HINT]),
        (["index", METADATA], ["AWS credentials", HINT]),
        (["serve", "--port", "1"], ["JWT_SECRET", "JWT_JWKS_URL", HINT]),
        (["token", "--company", "acme"], ["JWT_SECRET", HINT]),
        (["invoke", "RunsFunction", "-e", "events/runs_get.json"], ["DATABASE_URL", HINT]),
    ],
)
def test_commands_in_an_empty_environment_name_the_fix(args, names):
    assert_one_line_refusal(run_cli(*args), *names)


def test_seed_with_a_bucket_but_no_database_writes_nothing():
    # Checked before the first object: a run must not reach S3 without its etl.logs row.
    proc = run_cli("seed", env={"ARTIFACTS_BUCKET": "no-such-bucket-for-this-test"})

    assert_one_line_refusal(proc, "DATABASE_URL", HINT)


def test_seed_without_aws_credentials_writes_nothing():
    proc = run_cli("seed", env={"ARTIFACTS_BUCKET": "b", "DATABASE_URL": "postgresql://u@127.0.0.1:1/db"})

    assert_one_line_refusal(proc, "AWS credentials", HINT)


@pytest.mark.parametrize("command", [["migrate"], ["seed", "--companies", "1", "--runs", "1"]])
def test_a_database_that_does_not_answer_is_one_line_without_its_url(command):
    from etl_artifacts_local.services import free_port

    # A port nothing listens on: the stack stopped (or restarted elsewhere) since the env file was read.
    url = f"postgresql://user:pw-not-to-print@127.0.0.1:{free_port()}/db"
    env = {"DATABASE_URL": url, "ARTIFACTS_BUCKET": "b", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}
    env["POWERTOOLS_LOG_LEVEL"] = "CRITICAL"  # the function's own JSON log line is not the point here

    line = assert_one_line_refusal(
        run_cli(*command, env=env), "database", "make dev", "source .local/dev/env"
    )

    assert "pw-not-to-print" not in line


def test_invoke_with_a_missing_event_file_says_so():
    line = assert_one_line_refusal(
        run_cli("invoke", "RunsFunction", "-e", "events/nope.json"), "events/nope.json"
    )

    assert "ls events" in line


def test_invoke_with_an_unreadable_event_file_says_so(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")

    assert_one_line_refusal(run_cli("invoke", "MetaFunction", "-e", str(bad)), str(bad))


def test_invoke_needs_an_event_file():
    proc = run_cli("invoke", "RunsFunction")

    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "-e/--event" in proc.stderr.splitlines()[-1]


def test_invoke_of_an_unknown_function_lists_the_known_ones():
    line = assert_one_line_refusal(
        run_cli("invoke", "NopeFunction", "-e", "events/runs_get.json"), "NopeFunction"
    )

    assert "RunsFunction" in line


SECRET = "cli-errors-test-secret-0123456789abcdef"


@pytest.mark.parametrize("ttl", ["-5", "0", "100000", "86401"])
def test_token_refuses_a_lifetime_the_api_would_refuse(ttl):
    proc = run_cli("token", "--company", "acme", "--ttl", ttl, env={"JWT_SECRET": SECRET})

    assert_one_line_refusal(proc, "--ttl", "86400", "JWT_MAX_LIFETIME_S")


def test_token_follows_the_configured_largest_lifetime():
    env = {"JWT_SECRET": SECRET, "JWT_MAX_LIFETIME_S": "600"}

    assert_one_line_refusal(run_cli("token", "--company", "acme", "--ttl", "601", env=env), "600")
    proc = run_cli("token", "--company", "acme", "--ttl", "600", env=env)
    assert proc.returncode == 0, proc.stderr
    claims = jwt.decode(proc.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 600 and claims["id_company"] == "acme"


def test_token_at_the_default_largest_lifetime_is_minted():
    proc = run_cli("token", "--company", "acme", "--ttl", "86400", env={"JWT_SECRET": SECRET})

    assert proc.returncode == 0, proc.stderr
    claims = jwt.decode(proc.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 86400


def test_version():
    from etl_artifacts import __version__
    from etl_artifacts_client import __version__ as client_version

    proc = run_cli("--version")

    # The console script is the client's; it names the server commands' distribution too.
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"etl-artifacts-client {client_version}, etl-artifacts {__version__}"
