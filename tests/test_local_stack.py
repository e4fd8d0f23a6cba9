"""The local stack: ``seed`` writes exactly the API's layout and rows; ``dev`` starts,
serves the seeded data with a working token and example commands, and stops what it started.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import jwt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from conftest import REPO_ROOT, TEST_BUCKET
from etl_artifacts.clients import s3_client
from etl_artifacts.postgres.db import get_database
from etl_artifacts.s3.artifact_store import artifact_store
from etl_artifacts.s3.layout import PHASES, RunRef, parse_relative_key
from etl_artifacts_local import seed as seed_module
from etl_artifacts_local.etl_parquet import (
    ERRORS_SCHEMA,
    LOGS_SCHEMA,
    METADATA_SCHEMA,
    QUEUE_DATA_SCHEMA,
)
from etl_artifacts_local.seed import seed, seed_run
from etl_artifacts_local.seed_rows import DATA_SCHEMAS, to_jsonable
from etl_artifacts_local.seed_scenarios import SCENARIOS, SeedOptions, SeedResult

CLI = Path(sys.executable).with_name("etl-artifacts")
PREFIX = "local-stack-test/"  # keeps these objects apart from other tests' runs in the shared bucket
STATUSES = {"success", "error", "running", "skipped"}
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
SMALL = SeedOptions(
    companies=2, runs=len(SCENARIOS), rows=60, chunk_rows=25, row_group_rows=10, end_date=dt.date(2025, 6, 30)
)


def list_run(run: RunRef, prefix: str = PREFIX) -> dict[str, dict[str, Any]]:
    """Relative key -> S3 listing entry, for every object under the run prefix."""
    run_prefix = run.prefix(prefix)
    pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=TEST_BUCKET, Prefix=run_prefix)
    return {item["Key"][len(run_prefix) :]: item for page in pages for item in page.get("Contents", [])}


def read_parquet(run: RunRef, relative_key: str) -> pa.Table:
    # pyarrow's own S3 client, as the API reads it.
    return pq.read_table(
        f"{TEST_BUCKET}/{run.prefix(PREFIX)}{relative_key}", filesystem=artifact_store().filesystem
    )


@pytest.fixture(scope="module")
def seeded(base_env: dict[str, str]) -> tuple[SeedResult, list[str]]:
    """The small data set, seeded once under PREFIX, with the order of every PUT recorded."""
    from conftest import reset_caches

    os.environ["ARTIFACTS_PREFIX"] = PREFIX
    reset_caches()
    puts: list[str] = []
    try:
        # seed() uses this same cached client, so the hook sees every object it writes.
        s3_client().meta.events.register(
            "before-parameter-build.s3.PutObject", lambda params, **_: puts.append(params["Key"])
        )
        return seed(SMALL), puts
    finally:
        os.environ.pop("ARTIFACTS_PREFIX", None)
        reset_caches()


def test_seed_covers_every_status_of_every_phase_and_a_retried_attempt(seeded):
    result, _ = seeded

    assert result.companies == ["acme", "globex"]
    assert len(result.runs) == SMALL.companies * SMALL.runs
    for phase in ("event", *PHASES):
        assert {run.phases[phase] for run in result.runs if phase in run.phases} == STATUSES, phase
    retried = [run for run in result.runs if run.scenario == "retried"]
    assert retried
    transform = [(a.attempt, a.status) for a in retried[0].attempts if a.phase == "transform"]
    assert transform == [(1, "error"), (2, "success")]
    assert {run.run_id.split("__")[0] for run in result.runs} == {"manual", "scheduled"}


def test_seed_writes_exactly_the_documented_layout(seeded):
    result, _ = seeded
    from etl_artifacts_local.seed_uploads import demo_artifact_id

    uploads: list[str] = []
    for run in result.runs:
        listed = list_run(run.ref)
        # The walkthrough run also holds the demo uploaded artifact, at its server-chosen key.
        uploads += [key for key in listed if key.startswith("uploads/")]
        keys = [key for key in listed if not key.startswith("uploads/")]
        expected: set[str] = set()
        if run.phases["event"] in ("success", "error", "running"):
            expected.add("event/queue_data.parquet")
        if run.phases["event"] == "success":
            expected.add("event/event.parquet")
        for attempt in run.attempts:
            base = f"{attempt.phase}/attempt={attempt.attempt}/"
            expected |= {f"{base}data_{chunk:03d}.parquet" for chunk in range(attempt.data_chunks)}
            if attempt.complete:
                expected.add(f"{base}metadata.parquet")
        logs_and_errors = {key for key in keys if re.search(r"/(logs|errors)_\d{3}\.parquet$", key)}
        assert set(keys) - logs_and_errors == expected, run.run_id
        for key in keys:
            ref = parse_relative_key(key)
            assert ref is not None and ref.artifact_kind is not None, key
        assert run.metadata_keys == [
            run.ref.prefix(PREFIX) + f"{a.phase}/attempt={a.attempt}/metadata.parquet"
            for a in run.attempts
            if a.complete
        ]
    assert len(uploads) == 1
    assert uploads[0] in {f"uploads/{demo_artifact_id(run.ref)}" for run in result.runs}


def test_metadata_is_one_row_of_the_exact_schema_and_matches_the_files(seeded):
    result, _ = seeded
    checked = 0
    for run in result.runs:
        keys = list_run(run.ref)
        for attempt in (a for a in run.attempts if a.complete):
            base = f"{attempt.phase}/attempt={attempt.attempt}/"
            table = read_parquet(run.ref, base + "metadata.parquet")
            assert table.schema.remove_metadata() == METADATA_SCHEMA
            assert table.num_rows == 1
            row = table.to_pylist()[0]
            data = [k for k in keys if k.startswith(base + "data_")]
            logs = [k for k in keys if k.startswith(base + "logs_")]
            errors = [k for k in keys if k.startswith(base + "errors_")]
            assert row["phase"] == attempt.phase and row["attempt"] == attempt.attempt
            assert row["status"] == attempt.status
            assert row["data_chunks"] == len(data)
            assert row["row_count"] == sum(read_parquet(run.ref, k).num_rows for k in data) == attempt.rows
            assert row["log_count"] == sum(read_parquet(run.ref, k).num_rows for k in logs)
            assert row["error_log_count"] == sum(read_parquet(run.ref, k).num_rows for k in errors)
            assert row["started_at"] <= row["finished_at"]
            assert row["started_at"].tzinfo is not None
            checked += 1
    assert checked > 0


def test_metadata_is_written_last_in_each_attempt(seeded):
    result, puts = seeded
    for run in result.runs:
        for key in run.metadata_keys:
            attempt_prefix = key.rsplit("/", 1)[0] + "/"
            position = puts.index(key)
            later = [k for k in puts[position + 1 :] if k.startswith(attempt_prefix)]
            assert later == [], key


def test_logs_errors_and_event_files_follow_their_schemas(seeded):
    result, _ = seeded
    levels: set[str] = set()
    errors_seen = queue_seen = 0
    for run in result.runs:
        for key in list_run(run.ref):
            if re.search(r"/logs_\d{3}\.parquet$", key):
                table = read_parquet(run.ref, key)
                assert table.schema.remove_metadata() == LOGS_SCHEMA
                levels |= set(table.column("level").to_pylist())
            elif re.search(r"/errors_\d{3}\.parquet$", key):
                table = read_parquet(run.ref, key)
                assert table.schema.remove_metadata() == ERRORS_SCHEMA
                assert all(400 <= status < 600 for status in table.column("error_status").to_pylist())
                errors_seen += 1
            elif key == "event/queue_data.parquet":
                table = read_parquet(run.ref, key)
                assert table.schema.remove_metadata() == QUEUE_DATA_SCHEMA
                assert all(isinstance(json.loads(body), dict) for body in table.column("body").to_pylist())
                queue_seen += 1
    assert levels == LEVELS
    assert errors_seen and queue_seen


def test_data_chunks_have_row_groups_and_mixed_types(seeded):
    result, _ = seeded
    run = result.example()
    keys = sorted(k for k in list_run(run.ref) if k.startswith("extract/attempt=1/data_"))
    assert len(keys) >= 2
    first = pq.ParquetFile(
        f"{TEST_BUCKET}/{run.ref.prefix(PREFIX)}{keys[0]}", filesystem=artifact_store().filesystem
    )
    assert first.metadata.num_row_groups >= 2
    types = {str(field.type) for name in ("extract", "transform", "load") for field in DATA_SCHEMAS[name]}
    for expected in (
        "int64",
        "double",
        "string",
        "timestamp[us, tz=UTC]",
        "date32[day]",
        "decimal128(12, 2)",
        "bool",
        "binary",
        "time64[us]",
        "duration[ms]",
    ):
        assert expected in types, expected
    assert any(t.startswith("list<") for t in types) and any(t.startswith("struct<") for t in types)
    assert any(t.startswith("map<") for t in types)
    rows = [
        row
        for other in result.runs
        for key in list_run(other.ref)
        if key.startswith("extract/") and "/data_" in key
        for row in read_parquet(other.ref, key).to_pylist()
    ]
    assert any(row["customer"] is None for row in rows)
    assert any(math.isnan(row["amount"]) for row in rows)
    assert any(row["address"] is not None and row["tags"] for row in rows)


def test_etl_logs_rows_have_the_documented_shape(seeded):
    result, _ = seeded
    for run in result.runs:
        rows, _ = get_database().run(
            "SELECT log FROM etl.logs WHERE id_company = :c AND dag_id = CAST(:d AS uuid) AND run_date = :r "
            "AND run_id = :i",
            c=run.id_company,
            d=str(run.dag_id),
            r=run.date,
            i=run.run_id,
        )
        assert len(rows) == 1
        log = rows[0][0]
        assert set(log) == set(run.phases)
        for phase, summary in log.items():
            assert (
                {"status", "message", "total", "attempt", "s3_data_path"}
                <= set(summary)
                <= {
                    "status",
                    "message",
                    "total",
                    "attempt",
                    "s3_data_path",
                    "data",
                }
            )
            assert summary["status"] == run.phases[phase]
            assert len(summary.get("data") or []) <= 100
            if summary["s3_data_path"] is not None:
                assert summary["s3_data_path"].startswith(f"s3://{TEST_BUCKET}/{run.ref.prefix(PREFIX)}")
            if summary["status"] == "skipped":
                assert summary["attempt"] is None and summary["s3_data_path"] is None
        if run.scenario == "retried":
            assert log["transform"]["attempt"] == 2


def test_seed_is_deterministic_and_reseeding_leaves_no_stale_chunks(base_env):
    """Same seed, same objects (ETags are content hashes); a smaller re-seed removes extra chunks."""
    run = RunRef("acme", uuid.UUID("00000000-0000-4000-8000-00000000c0de"), dt.date(2025, 1, 2), "manual__x")
    seed_run(run, "success", rows=120, chunk_rows=30)
    first = {k: v["ETag"] for k, v in list_run(run, "").items()}
    seed_run(run, "success", rows=120, chunk_rows=30)
    assert {k: v["ETag"] for k, v in list_run(run, "").items()} == first

    seed_run(run, "success", rows=20, chunk_rows=30)
    after = list_run(run, "")
    assert not [k for k in after if k.endswith("data_001.parquet")]
    assert seed_module.plan_runs(SMALL) == seed_module.plan_runs(SMALL)


def test_to_jsonable_renders_like_the_api():
    assert to_jsonable(math.nan) is None
    assert to_jsonable(Decimal("12.30")) == "12.30"
    assert to_jsonable(b"\x00\x01") == "AAE="
    assert to_jsonable(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "2026-01-02T03:04:05+00:00"
    assert to_jsonable([("k", 1)]) == {"k": 1}
    assert to_jsonable({"a": [1.5, math.inf]}) == {"a": [1.5, None]}


def test_cli_defaults_are_the_seed_defaults():
    from etl_artifacts_local.cli import _seed_options, build_parser

    assert _seed_options(build_parser().parse_args(["seed"])) == SeedOptions()
    assert _seed_options(build_parser().parse_args(["dev"])) == SeedOptions()


def test_cli_seed_command_writes_runs_and_reports_them(base_env, tmp_path):
    env = {**os.environ, "ARTIFACTS_PREFIX": "cli-seed-test/", "POWERTOOLS_LOG_LEVEL": "WARNING"}
    proc = subprocess.run(
        [
            str(CLI),
            "seed",
            "--companies",
            "1",
            "--runs",
            "3",
            "--rows",
            "20",
            "--end-date",
            "2025-03-03",
            "--json",
            "--create-bucket",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 0, proc.stderr[-2000:]
    result = SeedResult.model_validate_json(proc.stdout)
    assert [run.scenario for run in result.runs] == [s.name for s in SCENARIOS[:3]]
    assert result.date_to == dt.date(2025, 3, 3)
    help_text = subprocess.run(
        [str(CLI), "seed", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--companies", "--runs", "--rows", "--seed", "--chunk-rows", "--row-group-rows", "--json"):
        assert option in help_text


# --- dev ----------------------------------------------------------------------------------------
class Output:
    """Collects a child's stdout lines in a thread, so its pipe never fills up."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.lines.append(self._queue.get(timeout=0.5))
            except queue.Empty:
                continue
            if text in self.lines[-1]:
                return "".join(self.lines)
        raise AssertionError(f"{text!r} not printed; got:\n{''.join(self.lines)[-3000:]}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.timeout(900)  # start-up (up to 300 s) + the other shell's commands (up to 400 s) + shutdown
def test_dev_starts_serves_the_demo_data_and_stops_cleanly(tmp_path):
    from etl_artifacts_local.services import free_port

    port = free_port()
    data_dir = tmp_path / "dev"
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    env.pop("JWT_SECRET", None)  # as on a fresh clone: dev makes one up
    proc = subprocess.Popen(
        [
            str(CLI),
            "dev",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--companies",
            "1",
            "--runs",
            "3",
            "--rows",
            "40",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        out = Output(proc.stdout).wait_for("Press Ctrl-C to stop", timeout=300)
        assert "ready on" in out
        token = re.search(r"^export TOKEN='([^']+)'$", out, re.M)
        assert token
        s3_endpoint = re.search(r"S3:\s+(http://\S+)", out)
        assert s3_endpoint
        pg_pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        headers = {"Authorization": f"Bearer {token.group(1)}"}

        whoami = requests.get(f"http://127.0.0.1:{port}/api/v1/whoami", headers=headers, timeout=30)
        assert whoami.status_code == 200
        # The per-tenant limits run locally too, on the table dev created (docs/limits.md).
        assert "limits:  100 requests/s per tenant, burst 200" in out
        assert whoami.headers["X-RateLimit-Limit"] == "200"
        assert whoami.json()["id_company"] == "acme"
        secret_file = data_dir / "jwt_secret"  # kept owner-only, so more tokens can be minted
        assert secret_file.stat().st_mode & 0o077 == 0
        assert (
            jwt.decode(token.group(1), secret_file.read_text(), algorithms=["HS256"])["id_company"] == "acme"
        )
        urls = re.findall(r'^\s+curl -s -H "Authorization: Bearer \$TOKEN" "?([^"\s]+)"?$', out, re.M)
        assert len(urls) == 3
        for url in urls:  # the printed examples answer 200 against the seeded data
            assert requests.get(url, headers=headers, timeout=30).status_code == 200, url
        assert "%3A" in urls[2] and "%2B" in urls[2]
        assert f"source {data_dir / 'env'}" in out

        _commands_work_from_another_shell_after_sourcing_the_env_file(data_dir / "env", port)
        _the_readme_tour_works_against_it(data_dir / "env")

        # A second dev on the same data directory (another port) is refused at once: the first stack
        # keeps its database, its env file and its answers.
        second = subprocess.run(
            [str(CLI), "dev", "--port", str(free_port()), "--data-dir", str(data_dir)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
        assert f"PID {proc.pid}" in second.stderr and "starting Postgres" not in second.stdout
        assert (data_dir / "env").exists() and _pid_alive(pg_pid)
        assert requests.get(urls[2], headers=headers, timeout=30).status_code == 200

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 60  # dev waits for Postgres to stop; this only lets the OS reap it
    while _pid_alive(pg_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _pid_alive(pg_pid), "Postgres still running"
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(s3_endpoint.group(1), timeout=5)
    assert not (data_dir / "env").exists()  # its endpoint and token died with the stack


def _commands_work_from_another_shell_after_sourcing_the_env_file(env_file: Path, port: int) -> None:
    """A fresh shell that sources the file reaches the running stack with token,
    migrate, seed, index and invoke (whose stdout pipes into json.tool)."""
    from etl_artifacts_local.seed import demo_run_id
    from etl_artifacts_local.seed_scenarios import DEMO_COMPANY, DEMO_DAG_ID

    assert env_file.stat().st_mode & 0o077 == 0  # holds JWT_SECRET and a token
    text = env_file.read_text()
    names = ("AWS_ENDPOINT_URL_S3", "ARTIFACTS_BUCKET", "DATABASE_URL", "JWT_SECRET", "API", "TOKEN")
    for name in (*names, "ETL_ARTIFACTS_API", "ETL_ARTIFACTS_TOKEN"):
        assert re.search(rf"^export {name}=", text, re.M), f"{name} missing from the env file"
    day = dt.date(2026, 11, 20)
    metadata = f"{DEMO_COMPANY}/{DEMO_DAG_ID}/{day}/{demo_run_id(day)}/extract/attempt=1/metadata.parquet"
    cli, python = shlex.quote(str(CLI)), shlex.quote(sys.executable)
    out = shlex.quote(str(env_file.parent))
    script = f"""
        set -euo pipefail
        source {shlex.quote(str(env_file))}
        test "$API" = "http://127.0.0.1:{port}/api/v1"
        cd {shlex.quote(str(REPO_ROOT))}
        {cli} token --company globex > {out}/token.txt
        {cli} migrate
        {cli} seed --companies 1 --runs 1 --rows 20 --end-date 2025-01-01 --quiet
        {cli} index "s3://$ARTIFACTS_BUCKET/{metadata}"
        {cli} invoke RunsFunction -e events/runs_get.json | {python} -m json.tool > {out}/runs_get.json
        {cli} invoke AuthorizerFunction -e events/authorizer_request.json | {python} -m json.tool
        {cli} whoami --json > {out}/whoami.json
    """
    # Only what a new terminal has: none of this test session's variables.
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "PYTHONPATH") if k in os.environ}
    workdir = env_file.parent
    proc = subprocess.run(
        ["bash", "-c", script],
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}"
    )
    secret = re.search(r"^export JWT_SECRET=(\S+)$", text, re.M)
    assert secret
    token = (workdir / "token.txt").read_text().strip()
    assert jwt.decode(token, shlex.split(secret.group(1))[0], algorithms=["HS256"])["id_company"] == "globex"
    assert json.loads((workdir / "whoami.json").read_text())["id_company"] == "acme"  # the client's command
    runs_get = json.loads((workdir / "runs_get.json").read_text())
    assert runs_get["statusCode"] == 200, runs_get
    assert json.loads(runs_get["body"])["run_id"] == demo_run_id(day)


def _the_readme_tour_works_against_it(env_file: Path) -> None:
    """The newcomer's path: `make dev`, then the README's tour in another terminal."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    (tour,) = [block for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M) if "source " in block]
    script = "set -euo pipefail\n" + tour.replace(
        "source .local/dev/env", f"source {shlex.quote(str(env_file))}"
    )
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}

    proc = subprocess.run(
        ["bash", "-c", script], cwd=REPO_ROOT, env=clean, capture_output=True, text=True, timeout=300
    )

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"id_company":"acme"' in proc.stdout and "order_id,customer," in proc.stdout


@pytest.mark.slow
def test_dev_refuses_a_busy_port_before_starting_anything(tmp_path):
    """`dev` checks its port first: nothing is started (no Postgres data dir) when it is taken."""
    import socket

    data_dir = tmp_path / "dev"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [str(CLI), "dev", "--port", str(port), "--data-dir", str(data_dir)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"127.0.0.1:{port}" in proc.stderr and "--port" in proc.stderr
    assert "starting Postgres" not in proc.stdout
    assert not data_dir.exists()


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ROOT: its modification time (ns) and content."""
    return {
        str(path.relative_to(root)): (path.stat().st_mtime_ns, path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_dev_refuses_a_data_dir_in_use_and_touches_nothing(tmp_path):
    """A second `dev` on a data directory whose lock is held exits 2 at once, naming the holder's PID,
    before Postgres, the port, the env file or the lock file are touched."""
    from etl_artifacts_local.dev import DataDirLock
    from etl_artifacts_local.services import free_port

    data_dir = tmp_path / "dev"
    (data_dir / "postgres").mkdir(parents=True)
    (data_dir / "postgres" / "postmaster.pid").write_text("12345\n")
    (data_dir / "env").write_text("export API=http://127.0.0.1:3000/api/v1\n")
    lock = DataDirLock(data_dir)
    lock.acquire()  # this test process plays the running stack
    try:
        before = _tree(data_dir)
        proc = subprocess.run(
            [str(CLI), "dev", "--port", str(free_port()), "--data-dir", str(data_dir), "--fresh"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert f"PID {os.getpid()}" in proc.stderr and "--data-dir" in proc.stderr
        assert "starting Postgres" not in proc.stdout and "--fresh" not in proc.stdout
        assert _tree(data_dir) == before
        assert lock.holder() == str(os.getpid())
    finally:
        lock.release()
    assert lock.holder() is None  # the lock dies with its holder's file descriptor
    lock.acquire()  # and the next dev takes it
    lock.release()


def test_make_dev_passes_port():
    """`make dev PORT=3100` runs `etl-artifacts dev --port 3100` (dry run: nothing starts)."""
    proc = subprocess.run(
        ["make", "-n", "dev", "PORT=3100"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )

    assert proc.returncode == 0, proc.stderr
    assert re.search(r"etl-artifacts dev .*--port 3100\b", proc.stdout), proc.stdout
