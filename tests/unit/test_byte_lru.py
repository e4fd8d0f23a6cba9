"""``ByteLRU``, the bound of every warm-function cache: evicts by bytes, least recently used first."""

from __future__ import annotations

from etl_artifacts.parquet.byte_lru import ByteLRU


def test_evicts_least_recently_used_entries_to_stay_within_the_budget() -> None:
    cache: ByteLRU[str, str] = ByteLRU(max_bytes=100)
    assert cache.put("a", "A", 40) and cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # "a" is now the most recently used
    cache.put("c", "C", 40)  # 120 > 100: "b" goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    assert cache.bytes == 80 and len(cache) == 2


def test_a_value_larger_than_the_budget_is_not_kept_and_evicts_nothing() -> None:
    cache: ByteLRU[str, str] = ByteLRU(max_bytes=100)
    cache.put("small", "s", 10)
    assert cache.put("huge", "h", 101) is False
    assert cache.get("huge") is None and cache.get("small") == "s" and cache.bytes == 10


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache: ByteLRU[str, str] = ByteLRU(max_bytes=100)
    cache.put("a", "old", 60)
    cache.put("a", "new", 30)
    assert cache.get("a") == "new" and cache.bytes == 30
    cache.put("a", "too big", 200)  # replaced by nothing: the old value is not served either
    assert cache.get("a") is None and cache.bytes == 0
    cache.put("b", "b", 5)
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0
