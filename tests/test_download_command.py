"""``etl-artifacts download`` end to end over HTTP: the command -> local gateway with a real JWT ->
ArtifactsFunction -> moto's S3 server; the bytes come from the presigned URLs the API hands out.

Given a run in S3, the command writes every artifact to DEST/<key> byte for byte, repairs what an
earlier run left truncated or wrong (resuming with a ranged GET), skips what is verified, asks for
a new URL when one is refused, and exits non-zero with a summary when anything is missing or the
API cannot be used.
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
from etl_artifacts.downloader import transfer as transfer_module
from etl_artifacts.downloader.api import Artifact, ArtifactsApi
from etl_artifacts.local.cli import main
from etl_artifacts.local.services import free_port

MULTIPART_SIZE = 5 * 1024 * 1024 + 123_456


def download(gateway_url: str, stored: StoredRun, dest: Path, token: str, *extra: str) -> int:
    run = stored.run
    argv = [
        "download",
        str(run.dag_id),
        run.run_date.isoformat(),
        run.run_id,
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
    real = transfer_module.Transfer._stream

    def spy(self: Any, artifact: Any, part: Path, offset: int, *args: Any) -> int:
        calls.append((artifact.key, offset))
        return real(self, artifact, part, offset, *args)

    monkeypatch.setattr(transfer_module.Transfer, "_stream", spy)
    return calls


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
    # When the whole run is downloaded
    status = download(gateway_url, full_run, tmp_path, make_token("acme"), "--jobs", "4")

    # Then every parquet artifact is at DEST/<key>, byte for byte, and nothing else is there
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

    # When the command runs again
    assert download(gateway_url, full_run, tmp_path, token) == 0

    # Then every file is whole again; the truncated and partial ones were resumed with ranged GETs
    assert local_files(tmp_path) == expected
    fetched = dict(streams)
    assert fetched[truncated] == 1_000_000
    assert fetched[partial] == 10
    # the wrong one was fetched again from the start, the missing one too, the others skipped
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
    assert (
        download(gateway_url, full_run, tmp_path, make_token("acme"), "--phase", "extract", "--attempt", "2")
        == 0
    )
    assert list(local_files(tmp_path)) == ["extract/attempt=2/data_000.parquet"]


def test_a_run_with_more_than_one_page(gateway_url, make_token, tmp_path, monkeypatch):
    # Given pages of 3 (the command follows next_cursor)
    stored = new_run()
    stored.put_many([f"load/attempt=1/errors_{chunk:03d}.parquet" for chunk in range(8)])
    cursors: list[str | None] = []

    def small_pages(self: ArtifactsApi, cursor: str | None) -> Any:
        cursors.append(cursor)
        params: dict[str, Any] = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        body = self._get("/artifacts", params)
        items = [Artifact.from_item(item, cursor) for item in body["artifacts"]]
        return items, body["next_cursor"]

    monkeypatch.setattr(ArtifactsApi, "page", small_pages)

    assert download(gateway_url, stored, tmp_path, make_token("acme")) == 0
    assert local_files(tmp_path) == stored.objects
    assert len(cursors) == 3


@pytest.fixture
def refusing_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server answering every GET as S3 answers an expired presigned URL."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()


def test_a_refused_url_is_asked_for_again(gateway_url, make_token, tmp_path, monkeypatch, refusing_server):
    # Given listed URLs that S3 refuses (expired), for a kind and for a file no kind maps to
    stored = new_run()
    stored.put_many(["extract/attempt=1/data_000.parquet", "extract/attempt=1/index_trigrams.parquet"])
    refusing_url, hits = refusing_server
    real_page = ArtifactsApi.page
    calls = {"n": 0}

    def expired_urls(self: ArtifactsApi, cursor: str | None) -> Any:
        items, next_cursor = real_page(self, cursor)
        calls["n"] += 1
        if calls["n"] == 1:  # the first listing only; the refresh of the kindless file lists again
            items = [dataclasses.replace(item, url=f"{refusing_url}/{item.key}") for item in items]
        return items, next_cursor

    monkeypatch.setattr(ArtifactsApi, "page", expired_urls)

    # When the run is downloaded
    assert download(gateway_url, stored, tmp_path, make_token("acme")) == 0

    # Then each file was refused once, then fetched with a fresh URL from the API
    assert sorted(hits) == [
        "/extract/attempt=1/data_000.parquet",
        "/extract/attempt=1/index_trigrams.parquet",
    ]
    assert local_files(tmp_path) == stored.objects


def test_a_vanished_object_fails_with_a_summary(gateway_url, make_token, tmp_path, monkeypatch, capsys):
    stored = new_run()
    stored.put_many(["extract/attempt=1/data_000.parquet", "extract/attempt=1/data_001.parquet"])
    real_page = ArtifactsApi.page
    gone = "extract/attempt=1/data_001.parquet"

    def then_delete(self: ArtifactsApi, cursor: str | None) -> Any:
        result = real_page(self, cursor)
        s3_client().delete_object(Bucket=get_settings().artifacts_bucket, Key=stored.prefix + gone)
        return result

    monkeypatch.setattr(ArtifactsApi, "page", then_delete)

    status = download(gateway_url, stored, tmp_path, make_token("acme"))

    assert status == 1
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

    assert "written outside --dest" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.parquet"))
    assert list(local_files(dest)) == ["extract/attempt=1/data_000.parquet"]


def test_bad_token_exits_2_and_writes_nothing(gateway_url, tmp_path, full_run, capsys):
    status = download(gateway_url, full_run, tmp_path, "not-a-jwt")

    assert status == 2
    err = capsys.readouterr().err
    assert "401" in err
    assert "not-a-jwt" not in err
    assert local_files(tmp_path) == {}


def test_another_tenant_sees_nothing_and_exits_non_zero(gateway_url, make_token, tmp_path, full_run, capsys):
    assert download(gateway_url, full_run, tmp_path, make_token("globex")) == 1
    assert "no artifacts" in capsys.readouterr().err
    assert local_files(tmp_path) == {}


def test_unreachable_api_exits_2(make_token, tmp_path, full_run, capsys):
    status = download(
        f"http://127.0.0.1:{free_port()}", full_run, tmp_path, make_token("acme"), "--retries", "1"
    )

    assert status == 2
    assert "cannot reach the API" in capsys.readouterr().err


def test_missing_token_exits_2(gateway_url, tmp_path, full_run, monkeypatch, capsys):
    monkeypatch.delenv("ETL_ARTIFACTS_TOKEN", raising=False)
    run = full_run.run
    argv = [
        "download",
        str(run.dag_id),
        "2026-11-20",
        run.run_id,
        "--api",
        gateway_url,
        "--dest",
        str(tmp_path),
    ]
    assert main(argv) == 2
    assert "ETL_ARTIFACTS_TOKEN" in capsys.readouterr().err


def test_token_from_the_environment(gateway_url, make_token, tmp_path, full_run, monkeypatch):
    monkeypatch.setenv("ETL_ARTIFACTS_TOKEN", make_token("acme"))
    run = full_run.run
    argv = [
        "download",
        str(run.dag_id),
        "2026-11-20",
        run.run_id,
        "--api",
        f"{gateway_url}/api/v1",
        "--dest",
        str(tmp_path),
        "--quiet",
        "--phase",
        "event",
    ]
    assert main(argv) == 0
    assert set(local_files(tmp_path)) == {"event/event.parquet", "event/queue_data.parquet"}
