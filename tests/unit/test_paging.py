"""The paging arithmetic of ``etl_artifacts.parquet.paging``: pure functions over row counts, no I/O."""

from __future__ import annotations

import pytest
from etl_artifacts.parquet.paging import (
    PageCollector,
    RowLayout,
    consecutive_runs,
    group_starts,
    has_more,
    page_window,
    plan_take,
    row_group_batches,
)


def test_page_window_and_has_more() -> None:
    assert page_window(0, 50) == (0, 50)
    assert page_window(3, 10) == (30, 40)
    assert has_more(0, 50, 51) and not has_more(0, 50, 50) and not has_more(5, 10, 3)


def test_group_starts_are_running_sums() -> None:
    assert group_starts([]) == []
    assert group_starts([5, 0, 3, 2]) == [0, 5, 5, 8]


def test_row_layout_numbers_rows_across_chunks_and_skips_empty_groups() -> None:
    # Given chunk 0 with row groups of 3 and 0 rows, an empty chunk 1, chunk 2 with 2 and 4 rows
    layout = RowLayout.of([[3, 0], [], [2, 4]])
    # Then rows are numbered across them, empty row groups leave no span
    assert layout.total_rows == 9
    assert layout.spans == ((0, 0, 3), (2, 0, 2), (2, 1, 4))
    assert layout.starts == (0, 3, 5)


def test_row_groups_for_a_window() -> None:
    layout = RowLayout.of([[3, 0], [], [2, 4]])
    assert layout.row_groups_for(0, 3) == [(0, 0, 0, 3)]
    assert layout.row_groups_for(2, 6) == [(0, 0, 2, 1), (2, 0, 0, 2), (2, 1, 0, 1)]
    assert layout.row_groups_for(8, 100) == [(2, 1, 3, 1)]
    assert layout.row_groups_for(9, 20) == [] and layout.row_groups_for(4, 4) == []


def test_reads_for_groups_one_read_per_chunk() -> None:
    layout = RowLayout.of([[3, 3], [2, 4]])
    # Rows 2..8: chunk 0 groups 0-1 (skip 2, keep 4), chunk 1 group 0 (skip 0, keep 2)
    assert layout.reads_for(2, 8) == [(0, [0, 1], 2, 4), (1, [0], 0, 2)]
    assert layout.reads_for(12, 20) == []


def test_plan_take_reads_only_the_groups_holding_the_rows() -> None:
    # Given a chunk of row groups [0..250), [250..500), [500..750), [750..1000)
    groups, positions = plan_take([250, 250, 250, 250], [760, 3, 999])
    # Then groups 0 and 3 are read together, and each row lands in the table they make
    assert groups == [0, 3]
    assert positions == {3: 3, 760: 250 + 10, 999: 250 + 249}
    with pytest.raises(ValueError):
        plan_take([10], [10])
    with pytest.raises(ValueError):
        plan_take([10], [-1])


def test_consecutive_runs_cut_where_a_group_is_skipped() -> None:
    assert consecutive_runs([0, 1, 3, 5, 6, 7]) == [[0, 1], [3], [5, 6, 7]]
    assert consecutive_runs([4]) == [[4]]
    assert consecutive_runs([]) == []


def test_row_group_batches_cut_consecutive_groups_at_the_budget() -> None:
    sizes = [4, 4, 4, 10, 1, 1]
    assert row_group_batches(sizes, range(6), budget=8) == [[0, 1], [2], [3], [4, 5]]
    # Not consecutive: never one batch, whatever the budget
    assert row_group_batches(sizes, [0, 2, 3], budget=100) == [[0], [2, 3]]
    assert row_group_batches(sizes, [], budget=8) == []


def test_row_group_batches_cut_at_the_row_budget_whatever_the_bytes() -> None:
    # 50 row groups of 417 bytes and 50,000 rows each (2.5 M nested rows in 40 KB): one batch
    # by bytes, one row group per batch by rows
    sizes, rows = [417] * 50, [50_000] * 50
    assert row_group_batches(sizes, range(50), budget=8 << 20) == [list(range(50))]
    batches = row_group_batches(sizes, range(50), budget=8 << 20, group_rows=rows, max_rows=65_536)
    assert batches == [[group] for group in range(50)]


def test_page_collector_keeps_only_the_window() -> None:
    collector = PageCollector(offset=3, limit=4)
    asked: list[tuple[int, int]] = []

    def refs(base: int):  # type: ignore[no-untyped-def]
        def between(a: int, b: int) -> list[tuple[int, int]]:
            asked.append((a, b))
            return [(base, i) for i in range(a, b)]

        return between

    collector.add(2, refs(0))  # matches 0-1: before the window
    collector.add(3, refs(1))  # matches 2-4: 3 and 4 are in it
    collector.add(0, refs(2))
    collector.add(5, refs(3))  # matches 5-9: 5 and 6 are in it
    assert collector.total == 10
    assert collector.refs == [(1, 1), (1, 2), (3, 0), (3, 1)]
    assert asked == [(1, 3), (0, 2)]
