"""The SDK against the local stack (runs, whoami, pages as rows, Arrow tables and DataFrames,
errors with the API's code) and, as unit tests over an httpx mock transport, what no honest server
does: retries that honour ``Retry-After``, listings that loop, keys that escape."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pyarrow as pa
import pytest
from etl_artifacts_client import ApiError, Client, ConnectionFailed, ListingError, UnsafeKey
from etl_artifacts_client.cli import main
from etl_artifacts_client.paths import check_key
from phases_helpers import data_table, errors_table, new_run, put_chunks, put_metadata
from runs_helpers import fresh_dag, insert_run, phase

# -- against the local stack ----------------------------------------------------------------------


@pytest.fixture
def dag() -> Any:
    with fresh_dag() as dag_id:
        for day in range(1, 6):
            log = {"extract": phase("success"), "load": phase("error" if day % 2 else "success", attempt=2)}
            insert_run("acme", dag_id, f"2026-11-{day:02d}", f"run_{day}", log)
        insert_run("globex", dag_id, "2026-11-03", "theirs", {"extract": phase("error")})
        yield dag_id


def test_runs_iterate_over_pages_newest_first(gateway_url, make_token, dag):
    client = Client(f"{gateway_url}/api/v1", make_token("acme"))
    runs = list(client.runs(str(dag), "2026-11-01", "2026-11-30", page_size=2))
    assert [run.run_id for run in runs] == ["run_5", "run_4", "run_3", "run_2", "run_1"]
    assert runs[0].phases["load"] is not None and runs[0].phases["load"].attempt == 2
    assert runs[0].failed_phases() == ["load"] and runs[1].failed_phases() == []
    failed = client.runs(str(dag), "2026-11-01", "2026-11-30", statuses={"load": "error"}, page_size=1)
    assert [run.run_id for run in failed] == ["run_5", "run_3", "run_1"]


def test_runs_command_lists_failed_runs(gateway_url, make_token, dag, monkeypatch, capsys):
    monkeypatch.setenv("ETL_ARTIFACTS_API", f"{gateway_url}/api/v1")
    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", make_token("acme"))
    assert main(["runs", str(dag), "--from", "2026-11-01", "--to", "2026-11-30", "--failed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["run_5", "run_3", "run_1"]
    assert "load:error#2" in lines[0]
    assert main(["runs", str(dag), "--from", "2026-11-30", "--to", "2026-11-01"]) == 2
    assert "--from must be on or before --to" in capsys.readouterr().err


def test_whoami_sdk_and_command(gateway_url, make_token, monkeypatch, capsys):
    token = make_token("acme", sub="alice")
    me = Client(gateway_url, token).whoami()
    assert (me.id_company, me.sub) == ("acme", "alice") and me.expires_at is not None
    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", token)
    assert main(["whoami", "--api", gateway_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id_company"] == "acme"


def test_errors_carry_the_api_code_and_status(gateway_url, make_token):
    client = Client(gateway_url, make_token("acme"))
    with pytest.raises(ApiError) as raised:
        client.run(str(uuid.uuid4()), "2026-11-20", "nope")
    assert (raised.value.status, raised.value.code) == (404, "run_not_found")
    with pytest.raises(ApiError) as raised:
        list(client.runs(str(uuid.uuid4()), "2026-11-20", "2026-11-01"))
    assert (raised.value.status, raised.value.code) == (422, "invalid_date_range")
    with pytest.raises(ApiError) as raised:
        Client(gateway_url, "not-a-jwt").whoami()
    assert raised.value.is_auth and raised.value.code == "unauthorized"


@pytest.fixture
def phase_run() -> Any:
    run = new_run()
    put_chunks(run, "data", [data_table(0, 7), data_table(7, 5)])
    put_chunks(run, "errors", [errors_table(0, 4)])
    put_metadata(run, rows=12, chunks=2)
    return run


def test_rows_follow_pages(gateway_url, make_token, phase_run):
    client = Client(gateway_url, make_token("acme"))
    ref = (str(phase_run.dag_id), phase_run.run_date.isoformat(), phase_run.run_id, "extract")
    rows = list(client.rows(*ref, page_size=5))
    assert len(rows) == 12
    assert len(list(client.rows(*ref, "errors", page_size=3))) == 4


def test_table_and_dataframe_through_the_arrow_format(gateway_url, make_token, phase_run):
    client = Client(gateway_url, make_token("acme"))
    ref = (str(phase_run.dag_id), phase_run.run_date.isoformat(), phase_run.run_id, "extract")
    whole = pa.concat_tables([data_table(0, 7), data_table(7, 5)])

    table = client.table(*ref, page_size=5)

    assert table.num_rows == 12
    assert table.schema.types == whole.schema.types  # the parquet types, not JSON's
    assert table.to_pylist() == whole.to_pylist()
    frame = client.dataframe(*ref, "errors")
    assert len(frame) == 4 and "error_type" in frame.columns


def test_data_command_exports_parquet_and_csv(
    gateway_url, make_token, phase_run, tmp_path, monkeypatch, capsys
):
    import pyarrow.parquet as pq

    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", make_token("acme"))
    base = ["data", str(phase_run.dag_id), "2026-11-20", phase_run.run_id, "extract", "--api", gateway_url]
    assert main([*base, "--output", str(tmp_path / "x.parquet"), "--quiet"]) == 0
    assert pq.read_table(tmp_path / "x.parquet").num_rows == 12
    assert main([*base, "--output", str(tmp_path / "x.csv"), "--quiet"]) == 0
    assert len((tmp_path / "x.csv").read_text().splitlines()) == 13
    assert not list(tmp_path.glob("*.part"))
    capsys.readouterr()
    assert main([*base, "--kind", "errors"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


# -- unit tests: an httpx mock transport plays a misbehaving server --------------------------------


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], **options: Any
) -> tuple[Client, list[float]]:
    slept: list[float] = []
    client = Client(
        "http://api.test/api/v1", "t", transport=httpx.MockTransport(handler), sleep=slept.append, **options
    )
    return client, slept


def answers(
    *responses: httpx.Response,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return handler, seen


WHOAMI = {"id_company": "acme", "sub": "s", "expires_at": "2026-11-20T10:00:00Z"}


def test_429_and_503_are_retried_after_retry_after():
    handler, seen = answers(
        httpx.Response(
            429, headers={"Retry-After": "2"}, json={"code": "rate_limited", "detail": "slow down"}
        ),
        httpx.Response(503, json={"code": "deadline_exceeded", "detail": "d", "retry_after_seconds": 1}),
        httpx.Response(200, json=WHOAMI),
    )
    client, slept = mock_client(handler)
    assert client.whoami().id_company == "acme"
    assert slept == [2.0, 1.0] and len(seen) == 3
    assert seen[0].headers["Authorization"] == "Bearer t"


def test_retries_are_bounded_and_a_long_retry_after_is_not_waited():
    handler, _ = answers(
        *[httpx.Response(429, json={"code": "rate_limited", "detail": "x"}) for _ in range(3)]
    )
    client, slept = mock_client(handler, retries=2)
    with pytest.raises(ApiError) as raised:
        client.whoami()
    assert raised.value.code == "rate_limited" and len(slept) == 2
    handler, _ = answers(httpx.Response(429, headers={"Retry-After": "3600"}, json={"code": "rate_limited"}))
    client, slept = mock_client(handler)
    with pytest.raises(ApiError) as raised:
        client.whoami()
    assert raised.value.retry_after == 3600 and slept == []


def test_a_post_is_not_repeated_on_502():
    handler, seen = answers(httpx.Response(502, json={"code": "storage_error", "detail": "x"}))
    client, _ = mock_client(handler)
    with pytest.raises(ApiError):
        client.seal(str(uuid.uuid4()), "2026-11-20", "r")
    assert len(seen) == 1


def test_connection_failures_are_retried_then_reported_in_one_line():
    calls: list[int] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused", request=request)

    client, slept = mock_client(refuse, retries=2)
    with pytest.raises(ConnectionFailed) as raised:
        client.whoami()
    assert len(calls) == 3 and len(slept) == 2
    assert str(raised.value) == "cannot reach the API at http://api.test (ConnectError)"


def listing(pages: list[tuple[list[str], str | None]]) -> Callable[[httpx.Request], httpx.Response]:
    """The nth request gets the nth page, whatever cursor it sends."""
    served = iter(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        keys, next_cursor = next(served)
        items = [
            {"key": key, "size_bytes": 1, "etag": "e", "url": "http://s3.test/x", "expires_at": None}
            for key in keys
        ]
        return httpx.Response(200, json={"artifacts": items, "count": len(items), "next_cursor": next_cursor})

    return handler


def test_a_repeated_cursor_stops_the_listing():
    client, _ = mock_client(listing([(["a.parquet"], "c1"), (["b.parquet"], "c1")]))
    with pytest.raises(ListingError, match="repeats a cursor"):
        list(client.artifacts(str(uuid.uuid4()), "2026-11-20", "r"))


def test_a_repeated_key_stops_the_listing():
    client, _ = mock_client(listing([(["a.parquet", "b.parquet"], "c1"), (["b.parquet"], None)]))
    with pytest.raises(ListingError, match="repeats a key"):
        list(client.artifacts(str(uuid.uuid4()), "2026-11-20", "r"))


def test_pages_are_bounded():
    pages = [([f"k{n}.parquet"], f"c{n + 1}") for n in range(10)]
    client, _ = mock_client(listing(pages))
    with pytest.raises(ListingError, match="more than 5 pages"):
        list(client.artifacts(str(uuid.uuid4()), "2026-11-20", "r", max_pages=5))


@pytest.mark.parametrize(
    "key",
    [
        "D:x.parquet",  # drive-relative on Windows
        "C:\\x.parquet",
        "a/D:x.parquet",
        "/etc/x.parquet",
        "\\\\server\\share\\x.parquet",
        "a\\..\\..\\x.parquet",
        "extract/../../x.parquet",
        "..",
        "a//b.parquet",
        "./a.parquet",
        "a/CON",
        "a/nul.parquet",
        "a/x.parquet.",
        "a/x\x00.parquet",
        "x.parquet:stream",
        "",
    ],
)
def test_keys_that_could_escape_dest_are_refused_on_every_os(key):
    with pytest.raises(UnsafeKey):
        check_key(key)


def test_ordinary_keys_pass():
    assert check_key("extract/attempt=1/data_000.parquet") == ["extract", "attempt=1", "data_000.parquet"]


def test_the_client_imports_nothing_of_the_server():
    code = (
        "import sys, etl_artifacts_client.cli, etl_artifacts_client.download, etl_artifacts_client.client;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('etl_artifacts', 'pyarrow', 'boto3', 'botocore', 'aws_lambda_powertools', 'pydantic', 'requests')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class _EntryPoint:
    def __init__(self, name: str, add: Callable[[Any], None]) -> None:
        self.name = name
        self._add = add

    def load(self) -> Callable[[Any], None]:
        return self._add


def test_plugins_add_commands_but_never_replace_the_clients(monkeypatch, capsys):
    from etl_artifacts_client import cli

    def server(sub: Any) -> None:
        sub.add_parser("verify-manifest", help="the server's own").set_defaults(func=lambda _: 99)
        sub.add_parser("serve-x", help="a server command").set_defaults(func=lambda _: 7)

    def broken(sub: Any) -> None:
        raise ImportError("No module named 'pyarrow'")

    monkeypatch.setattr(
        cli, "_plugins", lambda: [_EntryPoint("server", server), _EntryPoint("broken", broken)]
    )

    assert cli.main(["serve-x"]) == 7
    assert "etl-artifacts broken: commands not available (ImportError" in capsys.readouterr().err
    parser = cli.build_parser()
    assert parser.parse_args(["verify-manifest", "x"]).func is cli.cmd_verify_manifest


def test_the_dev_install_offers_the_server_commands():
    done = subprocess.run(
        [sys.executable, "-m", "etl_artifacts_client.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("serve", "dev", "migrate", "seed", "token", "index", "invoke", "download", "logs"):
        assert f"    {command} " in done.stdout, command
    version = subprocess.run(
        [sys.executable, "-m", "etl_artifacts_client.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.startswith("etl-artifacts-client ") and "etl-artifacts " in version.stdout
