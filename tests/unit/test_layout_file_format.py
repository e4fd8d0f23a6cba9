"""Unit tests of the layout file's format (no network): what the indexer writes reads back as the
chunks' exact footers, anything else is not a layout file, and a footer is parsed from the file
object of a chunk without reading its data."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from etl_artifacts.parquet.layout_file import (
    LAYOUT_SCHEMA,
    _StoredChunk,
    footer_of,
    layout_is_current,
    parse_layout,
    write_layout,
)
from etl_artifacts.s3.listing import S3Object

SOURCES = '[{"etag":"e0","key":"k/data_000.parquet","size":1}]'


def _parquet(path: Path, rows: int = 1_000) -> bytes:
    table = pa.table({"id": pa.array(range(rows), pa.int64()), "name": [f"n{i % 9}" for i in range(rows)]})
    pq.write_table(table, str(path), row_group_size=100)
    return path.read_bytes()


def test_footer_of_is_the_files_footer_and_reads_as_its_metadata(tmp_path: Path) -> None:
    whole = _parquet(tmp_path / "chunk.parquet")
    footer = footer_of(tmp_path / "chunk.parquet")
    assert whole.endswith(footer) and footer.endswith(b"PAR1")
    assert pq.read_metadata(pa.BufferReader(footer)).equals(pq.read_metadata(pa.BufferReader(whole)))


@pytest.mark.parametrize("body", [b"", b"PAR1", b"x" * 40, b"PAR1" + b"\0" * 8 + b"\xff\xff\xff\x7fPAR1"])
def test_footer_of_refuses_what_is_not_parquet(tmp_path: Path, body: bytes) -> None:
    (tmp_path / "x.parquet").write_bytes(body)
    with pytest.raises(ValueError):
        footer_of(tmp_path / "x.parquet")


def test_a_written_layout_reads_back_record_for_record(tmp_path: Path) -> None:
    whole = _parquet(tmp_path / "chunk.parquet")
    obj = S3Object("k/data_000.parquet", "e0", len(whole), chunk=0)
    write_layout(tmp_path / "layout.parquet", [(obj, footer_of(tmp_path / "chunk.parquet"))], SOURCES)
    body = (tmp_path / "layout.parquet").read_bytes()
    records = parse_layout(body)
    assert records is not None and list(records) == [obj.key]
    assert (records[obj.key].etag, records[obj.key].size) == ("e0", len(whole))
    metadata = pq.read_metadata(pa.BufferReader(body))
    assert layout_is_current(metadata, [{"etag": "e0", "key": "k/data_000.parquet", "size": 1}])
    assert not layout_is_current(metadata, [])


def test_footers_over_the_bound_are_written_as_no_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from etl_artifacts.parquet import layout_file

    whole = _parquet(tmp_path / "chunk.parquet")
    obj = S3Object("k/data_000.parquet", "e0", len(whole), chunk=0)
    monkeypatch.setattr(layout_file, "LAYOUT_MAX_BYTES", 16)
    write_layout(tmp_path / "layout.parquet", [(obj, footer_of(tmp_path / "chunk.parquet"))], SOURCES)
    monkeypatch.undo()
    assert parse_layout((tmp_path / "layout.parquet").read_bytes()) == {}


def _table_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    "body",
    [
        b"garbage",
        # The right columns without the format key
        _table_bytes(LAYOUT_SCHEMA.empty_table()),
        # The format key with other columns
        _table_bytes(
            pa.table({"key": ["k"]}).replace_schema_metadata({b"etl_artifacts.layout_format": b"1"})
        ),
        # Another format version
        _table_bytes(
            LAYOUT_SCHEMA.empty_table().replace_schema_metadata({b"etl_artifacts.layout_format": b"2"})
        ),
    ],
    ids=["garbage", "no-format", "other-columns", "format-2"],
)
def test_anything_else_is_not_a_layout_file(body: bytes) -> None:
    assert parse_layout(body) is None


def test_a_chunks_footer_is_parsed_without_reading_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chunk's file object whose data would be fetched by ranged GETs
    whole = _parquet(tmp_path / "chunk.parquet")
    obj = S3Object("k/data_000.parquet", "e0", len(whole), chunk=0)
    source = _StoredChunk(None, "bucket", obj, footer_of(tmp_path / "chunk.parquet"))
    fetched: list[tuple[int, int]] = []

    def get(start: int, stop: int) -> bytes:
        fetched.append((start, stop))
        return whole[start:stop]

    monkeypatch.setattr(source, "_get", get)

    # When pyarrow parses its footer, then nothing is fetched
    parsed = pq.ParquetFile(pa.PythonFile(source, mode="r"))
    assert parsed.metadata.equals(pq.read_metadata(pa.BufferReader(whole)))
    assert fetched == []

    # And a row group read afterwards fetches only that row group's bytes
    table = parsed.read_row_group(4)
    assert table.column("id").to_pylist() == list(range(400, 500))
    assert len(fetched) >= 1 and all(
        stop <= len(whole) - len(footer_of(tmp_path / "chunk.parquet")) for _, stop in fetched
    )
