"""``etl-artifacts download`` (the client) end to end over HTTP: the command -> local gateway with a
real JWT -> ArtifactsFunction -> moto's S3 server; the bytes come from the presigned URLs.

Given a run in S3, the command writes every artifact to DEST/<key> byte for byte, repairs what an
earlier run left truncated or wrong (resuming with a ranged GET), skips what is verified, asks for
a new URL when one is refused, and exits non-zero with a summary when anything is missing or the
API cannot be used. It does not trust the server: a body longer than listed, a listing that loops,
and keys that would land outside DEST are refused.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from artifacts_helpers import ALL_KINDS, StoredRun, new_run
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts_client import download as download_module
from etl_artifacts_client.cli import main
from etl_artifacts_client.client import Client
from etl_artifacts_local.services import free_port

MULTIPART_SIZE = 5 * 1024 * 1024 + 123_456


def download(
    gateway_url: str, stored: StoredRun, dest: Path, token: str, *extra: str, run_id: str = ""
) -> int:
    run = stored.run
    argv = [
        "download",
        str(run.dag_id),
        run.run_date.isoformat(),
        run_id or run.run_id,
        "--api",
        f"{gateway_url}/api/v1",
        "--dest",
        str(dest),
        "--token",
        token,
        "--quiet",
        *extra,
    ]
    return main(argv)


def local_files(dest: Path) -> dict[str, bytes]:
    return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}


def put_multipart(stored: StoredRun, relative_key: str, size: int) -> bytes:
    """An object uploaded in parts: its ETag is not an MD5 (``<md5 of md5s>-2``)."""
    from boto3.s3.transfer import TransferConfig

    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3_client().upload_fileobj(
        io.BytesIO(body), get_settings().artifacts_bucket, stored.prefix + relative_key, Config=config
    )
    stored.objects[relative_key] = body
    return body


@pytest.fixture
def streams(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every GET the command sends to a presigned URL: (key, first byte asked)."""
    calls: list[tuple[str, int]] = []
    real = download_module.RunDownload._stream

    def spy(self: Any, artifact: Any, part: Path, offset: int, *args: Any) -> int:
        calls.append((artifact.key, offset))
        return real(self, artifact, part, offset, *args)

    monkeypatch.setattr(download_module.RunDownload, "_stream", spy)
    return calls


def listing_pages(monkeypatch: pytest.MonkeyPatch, change: Any, page_size: int = 1000) -> None:
    """Wrap the client's listing: ``change(number, items) -> items`` sees every page."""
    real = Client.artifact_pages

    def pages(self: Client, *args: Any, **kwargs: Any) -> Iterator[list[Any]]:
        kwargs.setdefault("page_size", page_size)
        for number, items in enumerate(real(self, *args, **kwargs)):
            yield change(number, items)

    monkeypatch.setattr(Client, "artifact_pages", pages)


@pytest.fixture
def full_run(base_env: dict[str, str]) -> StoredRun:
    stored = new_run()
    stored.put_many([*ALL_KINDS.values(), "extract/attempt=2/data_000.parquet"])
    stored.put("extract/attempt=1/index_trigrams.parquet", b"PAR1" + b"t" * 70_000 + b"PAR1")
    stored.put("load/attempt=1/logs_001.parquet", b"")  # an empty object
    put_multipart(stored, "transform/attempt=1/data_001.parquet", MULTIPART_SIZE)
    stored.put("extract/attempt=1/_SUCCESS", b"")  # not parquet: not listed, not downloaded
    return stored


def test_downloads_every_artifact_byte_identical(gateway_url, make_token, tmp_path, full_run, capsys):
    status = download(gateway_url, full_run, tmp_path, make_token("acme"), "--jobs", "4")

    assert status == 0, capsys.readouterr().err
    expected = {key: body for key, body in full_run.objects.items() if key.endswith(".parquet")}
    assert local_files(tmp_path) == expected
    summary = capsys.readouterr().err
    assert f"{len(expected)} of {len(expected)} files verified ({len(expected)} downloaded" in summary
    assert "X-Amz-" not in summary


def test_second_run_repairs_partial_and_wrong_files_and_skips_complete_ones(
    gateway_url, make_token, tmp_path, full_run, streams, capsys
):
    token = make_token("acme")
    assert download(gateway_url, full_run, tmp_path, token) == 0
    expected = local_files(tmp_path)

    # Given what an interrupted or damaged earlier run leaves behind
    truncated = "transform/attempt=1/data_001.parquet"  # the multipart object, cut short
    (tmp_path / truncated).write_bytes(expected[truncated][:1_000_000])
    corrupt = "extract/attempt=1/index_trigrams.parquet"  # right size, wrong bytes
    (tmp_path / corrupt).write_bytes(b"X" * len(expected[corrupt]))
    partial = "extract/attempt=1/data_000.parquet"  # a .part file beside a missing final file
    (tmp_path / partial).unlink()
    (tmp_path / (partial + ".part")).write_bytes(expected[partial][:10])
    missing = "event/event.parquet"
    (tmp_path / missing).unlink()
    streams.clear()
    capsys.readouterr()

    assert download(gateway_url, full_run, tmp_path, token) == 0

    # Then every file is whole again; the truncated and partial ones were resumed with ranged GETs
    assert local_files(tmp_path) == expected
    fetched = dict(streams)
    assert fetched[truncated] == 1_000_000
    assert fetched[partial] == 10
    assert fetched[corrupt] == 0
    assert fetched[missing] == 0
    assert set(fetched) == {truncated, corrupt, partial, missing}
    assert "4 downloaded" in capsys.readouterr().err

    # And a third run finds everything verified: nothing is fetched
    streams.clear()
    assert download(gateway_url, full_run, tmp_path, token) == 0
    assert streams == []
    assert f"(0 downloaded, {len(expected)} already complete)" in capsys.readouterr().err


def test_phase_and_attempt_select_files(gateway_url, make_token, tmp_path, full_run):
    token = make_token("acme")
    assert download(gateway_url, full_run, tmp_path, token, "--phase", "extract", "--attempt", "2") == 0
    assert list(local_files(tmp_path)) == ["extract/attempt=2/data_000.parquet"]


def test_a_run_with_more_than_one_page(gateway_url, make_token, tmp_path, monkeypatch):
    stored = new_run()
    stored.put_many([f"load/attempt=1/errors_{chunk:03d}.parquet" for chunk in range(8)])
    seen: list[int] = []
    listing_pages(monkeypatch, lambda number, items: seen.append(number) or items, page_size=3)

    assert download(gateway_url, stored, tmp_path, make_token("acme")) == 0
    assert local_files(tmp_path) == stored.objects
    assert seen == [0, 1, 2]


def test_a_percent_encoded_run_id_is_decoded_once(gateway_url, make_token, tmp_path, capsys):
    # A run id copied from a URL (':' as %3A, '+' as %2B) names the same run
    stored = new_run()
    stored.put("extract/attempt=1/data_000.parquet")
    encoded = stored.run.run_id.replace(":", "%3A").replace("+", "%2B")

    assert download(gateway_url, stored, tmp_path, make_token("acme"), run_id=encoded) == 0
    assert list(local_files(tmp_path)) == ["extract/attempt=1/data_000.parquet"]


class _Server:
    """A local HTTP server whose GET answers come from ``handle(path) -> (status, headers, body)``."""

    def __init__(self, handle: Any) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                status, headers, body = handle(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def refusing_server() -> Iterator[_Server]:
    """Every GET answered as S3 answers an expired presigned URL."""
    body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    server = _Server(lambda path: (403, {"Content-Length": str(len(body))}, body))
    yield server
    server.close()


def test_a_refused_url_is_asked_for_again(gateway_url, make_token, tmp_path, monkeypatch, refusing_server):
    # Given listed URLs that S3 refuses (expired), for a kind and for a file no kind maps to
    stored = new_run()
    stored.put_many(["extract/attempt=1/data_000.parquet", "extract/attempt=1/index_trigrams.parquet"])
    listing_pages(
        monkeypatch,
        lambda number, items: [dataclasses.replace(i, url=f"{refusing_server.url}/{i.key}") for i in items],
    )

    assert download(gateway_url, stored, tmp_path, make_token("acme")) == 0

    # Then each file was refused once, then fetched with a fresh URL from the API
    assert sorted(refusing_server.hits) == [
        "/extract/attempt=1/data_000.parquet",
        "/extract/attempt=1/index_trigrams.parquet",
    ]
    assert local_files(tmp_path) == stored.objects


def test_a_body_longer_than_listed_is_cut_at_size_plus_one(
    gateway_url, make_token, tmp_path, monkeypatch, capsys
):
    # Given a server that lists 10 bytes but streams 8 MiB
    sent: list[int] = []

    def lying(path: str) -> tuple[int, dict[str, str], bytes]:
        sent.append(1)
        return 200, {"Content-Length": str(8 << 20)}, b"x" * (8 << 20)

    server = _Server(lying)
    stored = new_run()
    stored.put("extract/attempt=1/data_000.parquet", b"0123456789")
    received: list[int] = []
    real = download_module.RunDownload._stream

    def counting(self: Any, *args: Any) -> int:
        try:
            return real(self, *args)
        finally:
            received.append(1)

    monkeypatch.setattr(download_module.RunDownload, "_stream", counting)
    listing_pages(
        monkeypatch, lambda number, items: [dataclasses.replace(i, url=server.url + "/x") for i in items]
    )
    bytes_seen: list[int] = []
    real_bytes = download_module.RunDownload.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        on_bytes = kwargs["on_bytes"]
        kwargs["on_bytes"] = lambda n: (bytes_seen.append(n), on_bytes(n))
        real_bytes(self, *args, **kwargs)

    monkeypatch.setattr(download_module.RunDownload, "__init__", init)
    try:
        status = download(gateway_url, stored, tmp_path, make_token("acme"))
    finally:
        server.close()

    # Then the file fails after 11 bytes (size + 1), once, and nothing is left on disk
    assert status == 1
    err = capsys.readouterr().err
    assert "more than the listed 10 bytes" in err
    assert max(bytes_seen) <= 11 and sum(n for n in bytes_seen if n > 0) == 11
    assert len(received) == 1
    assert local_files(tmp_path) == {}


def test_a_vanished_object_fails_with_a_summary(gateway_url, make_token, tmp_path, monkeypatch, capsys):
    stored = new_run()
    stored.put_many(["extract/attempt=1/data_000.parquet", "extract/attempt=1/data_001.parquet"])
    gone = "extract/attempt=1/data_001.parquet"

    def then_delete(number: int, items: list[Any]) -> list[Any]:
        s3_client().delete_object(Bucket=get_settings().artifacts_bucket, Key=stored.prefix + gone)
        return items

    listing_pages(monkeypatch, then_delete)

    assert download(gateway_url, stored, tmp_path, make_token("acme")) == 1
    err = capsys.readouterr().err
    assert "1 of 2 files verified" in err
    assert f"failed: {gone}: no longer in the run" in err
    assert list(local_files(tmp_path)) == ["extract/attempt=1/data_000.parquet"]


def test_a_key_that_would_escape_dest_is_refused(gateway_url, make_token, tmp_path, capsys):
    stored = new_run()
    stored.put("extract/attempt=1/data_000.parquet")
    stored.put("extract/../../escape.parquet")
    dest = tmp_path / "dest"

    assert download(gateway_url, stored, dest, make_token("acme")) == 1

    assert "written outside DEST" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.parquet"))
    assert list(local_files(dest)) == ["extract/attempt=1/data_000.parquet"]


def test_ctrl_c_leaves_disk_and_report_in_agreement(gateway_url, make_token, tmp_path, monkeypatch, capsys):
    # Given a run of 6 files, interrupted once 2 are verified and a third is half written
    stored = new_run()
    stored.put_many([f"load/attempt=1/data_{chunk:03d}.parquet" for chunk in range(6)])
    real = download_module.RunDownload._one
    done: list[str] = []

    def one(self: Any, artifact: Any) -> Any:
        # Ctrl-C reaches the main thread through the future it waits on, as KeyboardInterrupt.
        if len(done) >= 2:
            part = tmp_path / (artifact.key + ".part")
            part.parent.mkdir(parents=True, exist_ok=True)
            part.write_bytes(b"PAR1")
            self.stop()
            raise KeyboardInterrupt
        outcome = real(self, artifact)
        done.append(outcome.key)
        return outcome

    monkeypatch.setattr(download_module.RunDownload, "_one", one)

    status = download(gateway_url, stored, tmp_path, make_token("acme"), "--jobs", "1")

    # Then the command says how many files are verified on disk, and that is what is on disk
    assert status == 130
    err = capsys.readouterr().err
    finals = [key for key in local_files(tmp_path) if not key.endswith(".part")]
    assert len(finals) == 2
    assert "interrupted: 2 of " in err and "run the command again to resume" in err
    assert "Traceback" not in err
    # And a second run completes from there
    monkeypatch.undo()
    assert download(gateway_url, stored, tmp_path, make_token("acme")) == 0
    assert local_files(tmp_path) == stored.objects


def test_bad_token_exits_2_prints_one_line_and_no_bar(gateway_url, tmp_path, full_run, capsys):
    status = download(gateway_url, full_run, tmp_path, "not-a-jwt")

    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "401" in err and "ETL_ARTIFACTS_TOKEN" in err
    assert "not-a-jwt" not in err and "files verified" not in err
    assert local_files(tmp_path) == {}


def test_another_tenant_sees_nothing_and_exits_1(gateway_url, make_token, tmp_path, full_run, capsys):
    assert download(gateway_url, full_run, tmp_path, make_token("globex")) == 1
    assert "no artifacts" in capsys.readouterr().err
    assert local_files(tmp_path) == {}


def test_unreachable_api_exits_2_with_one_line(make_token, tmp_path, full_run, capsys):
    status = download(
        f"http://127.0.0.1:{free_port()}", full_run, tmp_path, make_token("acme"), "--retries", "0"
    )

    assert status == 2
    err = capsys.readouterr().err
    assert "cannot reach the API" in err and err.count("\n") == 1


def test_missing_token_and_api_exit_2(gateway_url, tmp_path, full_run, monkeypatch, capsys):
    monkeypatch.delenv("ETL_ARTIFACTS_TOKEN", raising=False)
    monkeypatch.delenv("ETL_ARTIFACTS_API", raising=False)
    run = full_run.run
    argv = ["download", str(run.dag_id), "2026-11-20", run.run_id, "--dest", str(tmp_path)]
    assert main([*argv, "--api", gateway_url]) == 2
    assert "ETL_ARTIFACTS_TOKEN" in capsys.readouterr().err
    assert main([*argv, "--token", "x"]) == 2
    assert "ETL_ARTIFACTS_API" in capsys.readouterr().err


def test_bad_date_and_dag_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["download", "not-a-uuid", "2026-11-20", "r"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main(["download", "3f2b8c1e-5d4a-4c7b-9e1f-0a2b3c4d5e6f", "2026-11-31", "r"])
    assert exited.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_api_and_token_from_the_environment(gateway_url, make_token, tmp_path, full_run, monkeypatch):
    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", make_token("acme"))
    monkeypatch.setenv("ETL_ARTIFACTS_API", gateway_url)  # the root without /api/v1 is completed
    run = full_run.run
    argv = ["download", str(run.dag_id), "2026-11-20", run.run_id, "--dest", str(tmp_path), "--quiet"]
    assert main([*argv, "--phase", "event"]) == 0
    assert set(local_files(tmp_path)) == {"event/event.parquet", "event/queue_data.parquet"}
