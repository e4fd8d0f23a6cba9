"""Decoded sizes computed without decoding (parquet.decoded), and the bound they are held to."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from etl_artifacts.config import get_settings
from etl_artifacts.errors import TooExpensive
from etl_artifacts.parquet.decoded import check_decoded, decoded_bytes, dictionary_columns, stored_bytes
from etl_artifacts_local.hostile_parquet import BOMB_COPIES, BOMB_VALUE_BYTES, bomb_parquet


def test_a_dictionary_counts_what_it_would_decode_to() -> None:
    values = pa.array(["a" * 1000, "bb", None, "a" * 1000] * 10).dictionary_encode()
    plain = values.dictionary_decode()

    # The dictionary holds 1,002 bytes of text; decoded, its rows hold 20,020 (plus offsets)
    assert 20_020 <= decoded_bytes(values) <= plain.nbytes + 8 * len(plain)
    assert decoded_bytes(pa.chunked_array([values, values])) == 2 * decoded_bytes(values)
    assert decoded_bytes(pa.table({"v": plain})) == plain.nbytes


def test_the_bomb_is_seen_from_its_footer_and_read_flat() -> None:
    data = bomb_parquet()
    parquet = pq.ParquetFile(io.BytesIO(data))
    metadata = parquet.metadata

    # The footer says 4 MiB (the dictionary page), and that the column is dictionary-encoded
    assert len(data) < 2048
    assert stored_bytes(metadata, [0], ["blob"]) < 2 * BOMB_VALUE_BYTES
    columns = dictionary_columns(metadata, parquet.schema_arrow)
    assert columns == ["blob"]

    # Read as a dictionary it stays 4 MiB; what it would decode to is known before decoding
    table = pq.ParquetFile(io.BytesIO(data), read_dictionary=columns).read()
    assert table.nbytes < 2 * BOMB_VALUE_BYTES
    assert decoded_bytes(table.column("blob")) >= BOMB_COPIES * BOMB_VALUE_BYTES


def test_the_bound_counts_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECODE_MAX_BYTES", "1000")
    get_settings.cache_clear()
    check_decoded(250, copies=4)
    with pytest.raises(TooExpensive) as refused:
        check_decoded(251, copies=4)
    assert (refused.value.status, refused.value.code) == (422, "too_expensive")
