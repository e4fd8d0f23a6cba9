"""The layout file (docs/performance.md "The layout file"): the indexer writes every data chunk's
footer beside the index, a cold page fetches it alongside its LIST and then needs only its row
group (counted on the wire through the recording S3 proxy; the round trips are measured by
bench/bench_s3model.py), and a stale, corrupt, over-size or
foreign file gives the same answer as none, decode bounds included."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.indexing.builder import index_attempt
from etl_artifacts.parquet import layout_file
from etl_artifacts.parquet.layout_file import LAYOUT_FILE, parse_layout
from etl_artifacts.s3.artifact_store import artifact_store
from etl_artifacts.s3.attempts import list_attempt
from etl_artifacts.s3.layout import AttemptLocation, RunRef, attempt_dir
from etl_artifacts_local.hostile_parquet import bomb_parquet
from etl_artifacts_local.s3_proxy import S3Proxy
from phases_helpers import new_run, phase_path, put_bytes, put_chunks, put_metadata, run_path
from security_helpers import clear_storage_caches

ROWS_PER_CHUNK = 300


def _chunk(start: int, count: int = ROWS_PER_CHUNK) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f"row {i % 7}" for i in ids],  # dictionary-encoded: read through Footer.source
            "score": pa.array([i / 4 for i in ids], pa.float64()),
        }
    )


def _indexed_run(chunks: int = 4, company: str = "acme") -> RunRef:
    run = new_run(company)
    put_metadata(run)
    put_chunks(run, "data", [_chunk(n * ROWS_PER_CHUNK) for n in range(chunks)], row_group_size=100)
    settings = get_settings()
    index_attempt(settings.artifacts_bucket, AttemptLocation(settings.artifacts_prefix, run, "extract", 1))
    return run


def _layout_key(run: RunRef) -> str:
    return run.prefix(get_settings().artifacts_prefix) + attempt_dir("extract", 1) + LAYOUT_FILE


def _layout_body(run: RunRef) -> bytes:
    response = s3_client().get_object(Bucket=get_settings().artifacts_bucket, Key=_layout_key(run))
    return bytes(response["Body"].read())


def _cold_page(api, run: RunRef, page: int = 17) -> dict:  # type: ignore[no-untyped-def]
    """A page asked of a function that has never read this attempt."""
    clear_storage_caches()
    response = api.get(phase_path(run, suffix="/data"), params={"page": page, "limit": 50})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _reference(api, run: RunRef, page: int = 17) -> dict:  # type: ignore[no-untyped-def]
    """The same page with the layout file out of the way (its bytes put back afterwards)."""
    body = _layout_body(run)
    s3_client().delete_object(Bucket=get_settings().artifacts_bucket, Key=_layout_key(run))
    try:
        return _cold_page(api, run, page)
    finally:
        put_bytes(run, attempt_dir("extract", 1) + LAYOUT_FILE, body)


@pytest.mark.usefixtures("base_env")
def test_the_indexer_writes_every_data_chunks_footer_beside_the_index() -> None:
    # Given an indexed attempt of four chunks
    run = _indexed_run()

    # Then the layout file records each listed data chunk with its footer, byte for byte
    attempt = list_attempt(artifact_store(), run, "extract", 1)
    assert LAYOUT_FILE in attempt.extra
    records = parse_layout(_layout_body(run))
    assert records is not None and sorted(records) == sorted(obj.key for obj in attempt.data)
    for obj in attempt.data:
        record = records[obj.key]
        assert (record.etag, record.size) == (obj.etag, obj.size)
        whole = s3_client().get_object(Bucket=attempt.bucket, Key=obj.key)["Body"].read()
        assert whole.endswith(record.footer) and record.footer.endswith(b"PAR1")
        assert pq.read_metadata(pa.BufferReader(record.footer)).equals(
            pq.read_metadata(pa.BufferReader(whole))
        )

    # And indexing again finds all three files current: nothing is written
    settings = get_settings()
    again = index_attempt(
        settings.artifacts_bucket, AttemptLocation(settings.artifacts_prefix, run, "extract", 1)
    )
    assert again is not None and again.skipped


@pytest.mark.usefixtures("base_env")
def test_an_attempt_indexed_without_the_layout_file_gets_it_alone() -> None:
    # Given an indexed attempt whose layout file is gone (indexed before it existed)
    run = _indexed_run(chunks=3)
    original = parse_layout(_layout_body(run))
    s3_client().delete_object(Bucket=get_settings().artifacts_bucket, Key=_layout_key(run))

    # When it is indexed again
    settings = get_settings()
    result = index_attempt(
        settings.artifacts_bucket, AttemptLocation(settings.artifacts_prefix, run, "extract", 1)
    )

    # Then only the layout file is written (from the chunks' footers), with the same records
    assert result is not None and not result.skipped
    assert (result.index_bytes, result.trigram_bytes, result.rows) == (0, 0, 0) and result.layout_bytes > 0
    assert parse_layout(_layout_body(run)) == original


def test_a_cold_deep_page_is_the_list_and_the_layout_file_then_its_row_group(api, via_proxy: S3Proxy) -> None:
    # Given an indexed attempt of four chunks, never read by this function
    run = _indexed_run()
    expected = _reference(api, run)

    # When a deep page is asked for
    via_proxy.clear()
    body = _cold_page(api, run)

    # Then it is the answer without the layout file, from three requests: the LIST and the layout
    # file (fetched together: the depth, two round trips, is measured by bench/bench_s3model.py),
    # then the page's row group; no footer GET, no HEAD
    assert body == expected
    assert [row["id"] for row in body["rows"]][:1] == [850]
    traffic = via_proxy.traffic()
    assert (traffic.lists, traffic.gets, traffic.heads) == (1, 2, 0)
    assert sorted(traffic.by_file) == ["data_*", LAYOUT_FILE]


def test_without_the_layout_file_every_footer_is_read(api, via_proxy: S3Proxy) -> None:
    # Given an indexed attempt whose layout file is gone
    run = _indexed_run()
    s3_client().delete_object(Bucket=get_settings().artifacts_bucket, Key=_layout_key(run))

    # When a cold page is asked for, then each chunk's footer is fetched as before
    via_proxy.clear()
    _cold_page(api, run)
    traffic = via_proxy.traffic()
    assert traffic.gets >= 4 + 1 + 1  # the four footers, the failed layout GET, the row group


def test_a_rewritten_chunk_makes_the_layout_file_stale_and_the_answer_is_the_new_one(
    api, via_proxy: S3Proxy
) -> None:
    # Given an indexed attempt whose chunk 2 is then rewritten (other rows, other ETag and size)
    run = _indexed_run()
    put_chunks(run, "data", [_chunk(0), _chunk(300), _chunk(9_000, 250), _chunk(900)], row_group_size=100)

    # When a page inside the rewritten chunk is asked for cold
    body = _cold_page(api, run, page=13)

    # Then it holds the new rows: nothing was taken from the stale file
    assert [row["id"] for row in body["rows"]][:3] == [9_050, 9_051, 9_052]
    assert body["total_rows"] == 1_150
    assert body == _reference(api, run, page=13)


@pytest.mark.parametrize(
    "body",
    [b"not parquet at all", b"PAR1" + b"\x00" * 64 + b"PAR1", b""],
    ids=["garbage", "empty-footer", "empty"],
)
def test_a_corrupt_layout_file_gives_the_same_answer(api, body: bytes) -> None:
    run = _indexed_run(chunks=3)
    expected = _reference(api, run)
    put_bytes(run, attempt_dir("extract", 1) + LAYOUT_FILE, body)
    assert _cold_page(api, run) == expected


def test_a_layout_file_with_wrong_footers_is_not_used(api) -> None:
    # Given a layout file whose records match the chunks but whose footers are not parquet
    run = _indexed_run(chunks=3)
    expected = _reference(api, run)
    records = parse_layout(_layout_body(run))
    assert records is not None
    attempt = list_attempt(artifact_store(), run, "extract", 1)
    broken = [(obj, b"\x00" * 20 + b"PAR1") for obj in attempt.data]
    _put_layout(run, broken)

    # Then the page is read as without it
    assert _cold_page(api, run) == expected


def test_an_over_size_layout_file_is_not_read(
    api, via_proxy: S3Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _indexed_run(chunks=3)
    expected = _reference(api, run)
    monkeypatch.setattr(layout_file, "LAYOUT_MAX_BYTES", 64)
    via_proxy.clear()
    assert _cold_page(api, run) == expected
    assert via_proxy.traffic().gets >= 3 + 1 + 1  # every footer read from its chunk


def test_a_decode_bomb_is_refused_with_footers_from_the_layout_file(api, via_proxy: S3Proxy) -> None:
    # Given a chunk of ~1 KB that decodes to 256 MiB, with a current layout file naming it
    # (written directly: the indexer refuses to index such a chunk)
    run = new_run()
    put_bytes(run, attempt_dir("extract", 1) + "data_000.parquet", bomb_parquet())
    put_metadata(run, rows=64, chunks=1)
    attempt = list_attempt(artifact_store(), run, "extract", 1)
    whole = s3_client().get_object(Bucket=attempt.bucket, Key=attempt.data[0].key)["Body"].read()
    size = int.from_bytes(whole[-8:-4], "little")
    _put_layout(run, [(attempt.data[0], whole[-(size + 8) :])])

    # When its page is asked cold, then it is refused before anything decodes it, as without the file
    clear_storage_caches()
    via_proxy.clear()
    answer = api.get(phase_path(run, suffix="/data"))
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["code"] == "too_expensive"
    # The footer came from the layout file: the LIST, that file and the row group's dictionary page
    traffic = via_proxy.traffic()
    assert (traffic.lists, traffic.gets, traffic.heads) == (1, 2, 0)


def test_a_layout_file_naming_another_tenants_chunks_is_not_used(api, via_proxy: S3Proxy) -> None:
    # Given two tenants' indexed attempts, and tenant acme's layout file replaced by globex's
    acme, globex = _indexed_run(chunks=2), _indexed_run(chunks=3, company="globex")
    expected = _reference(api, acme)
    put_bytes(acme, attempt_dir("extract", 1) + LAYOUT_FILE, _layout_body(globex))

    # When acme's page is asked cold, then it is acme's own answer and globex's chunks are never read
    via_proxy.clear()
    assert _cold_page(api, acme) == expected
    globex_prefix = globex.prefix(get_settings().artifacts_prefix)
    assert not [r for r in via_proxy.recorded() if globex_prefix in r.key]


def _put_layout(run: RunRef, chunks: list) -> None:  # type: ignore[type-arg]
    import tempfile
    from pathlib import Path

    from etl_artifacts.s3.attempts import encode_sources, sources_of

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / LAYOUT_FILE
        layout_file.write_layout(path, chunks, encode_sources(sources_of([obj for obj, _ in chunks])))
        put_bytes(run, attempt_dir("extract", 1) + LAYOUT_FILE, path.read_bytes())


@pytest.mark.usefixtures("base_env")
def test_the_layout_file_is_listed_as_a_file_of_no_kind_never_as_a_chunk(api) -> None:
    # Given an indexed attempt of two chunks
    run = _indexed_run(chunks=2)

    # Then the run's artifacts list it like the trigram file: no kind, no chunk
    items = {item["key"]: item for item in api.get(run_path(run, "/artifacts")).json()["artifacts"]}
    layout = items[attempt_dir("extract", 1) + LAYOUT_FILE]
    assert (layout["artifact_kind"], layout["phase"], layout["attempt"], layout["chunk"]) == (
        None,
        "extract",
        1,
        None,
    )
    # And the attempt's data is its two chunks, whatever the file holds
    assert [item["chunk"] for item in items.values() if item["artifact_kind"] == "extract-data"] == [0, 1]
    assert (
        api.get(phase_path(run, suffix="/data"), params={"limit": 1}).json()["total_rows"]
        == 2 * ROWS_PER_CHUNK
    )


@pytest.mark.usefixtures("base_env")
def test_a_footer_longer_than_the_first_read_is_fetched_whole() -> None:
    from etl_artifacts.indexing.builder import FOOTER_READ_BYTES, fetch_footer

    # Given a chunk whose footer is longer than the first tail read (many columns and row groups)
    run = new_run()
    wide = pa.table({f"column_{i:03d}": pa.array(range(400), pa.int64()) for i in range(120)})
    put_chunks(run, "data", [wide], row_group_size=10)
    obj = list_attempt(artifact_store(), run, "extract", 1).data[0]
    whole = s3_client().get_object(Bucket=get_settings().artifacts_bucket, Key=obj.key)["Body"].read()
    length = int.from_bytes(whole[-8:-4], "little") + 8
    assert length > FOOTER_READ_BYTES

    # Then its footer is read whole, byte for byte
    assert fetch_footer(get_settings().artifacts_bucket, obj) == whole[-length:]
