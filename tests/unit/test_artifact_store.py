"""The artifact store (etl_artifacts.s3.artifact_store): one per warm function, rebuilt when its
settings or S3 client are replaced, reset in one place, and built by tests with their own caps."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from etl_artifacts.clients import reset_clients, s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.errors import ConfigurationError
from etl_artifacts.s3.artifact_store import ArtifactStore, RecentMap, artifact_store, reset_store, use_store


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("ARTIFACTS_BUCKET", "store-bucket")
    monkeypatch.setenv("ARTIFACTS_PREFIX", "p/")
    get_settings.cache_clear()
    reset_clients()
    reset_store()


def test_one_store_per_warm_function_holding_the_settings_client_and_caches() -> None:
    store = artifact_store()
    assert artifact_store() is store
    assert (store.bucket, store.prefix, store.s3) == ("store-bucket", "p/", s3_client())
    assert store.matches.max_bytes == 128 * 1024 * 1024 and store.postings.max_bytes == 32 * 1024 * 1024


def test_a_new_store_for_new_settings_or_clients_and_after_the_reset() -> None:
    first = artifact_store()
    first.listings.put("kept/", (0.0, None))
    reset_clients()  # another S3 client: nothing filled from the old one is kept
    second = artifact_store()
    assert second is not first and len(second.listings) == 0
    get_settings.cache_clear()
    third = artifact_store()
    assert third is not second
    reset_store()
    assert artifact_store() is not third


def test_tests_install_their_own_store() -> None:
    mine = ArtifactStore(get_settings(), s3_client(), match_bytes=1_000)
    use_store(mine)
    assert artifact_store() is mine and mine.matches.max_bytes == 1_000


def test_an_unset_bucket_is_a_configuration_error_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACTS_BUCKET", "")
    get_settings.cache_clear()
    store = artifact_store()  # building it reads nothing that can fail
    with pytest.raises(ConfigurationError):
        _ = store.bucket


def test_recent_map_keeps_the_latest_entries_and_writes_unless_kept() -> None:
    recent: RecentMap[str, int] = RecentMap(max_entries=2)
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        recent.put(key, value)
    assert (recent.get("a"), recent.get("b"), recent.get("c"), len(recent)) == (None, 2, 3, 2)
    assert not recent.put_unless("b", 20, keep=lambda old: old == 2)
    assert recent.put_unless("c", 30, keep=lambda old: old == 2) and recent.get("c") == 30
    recent.pop("c")
    assert recent.get("c") is None


def test_the_store_is_freed_at_exit_before_pyarrow_shuts_its_s3_support_down() -> None:
    # pyarrow registers its S3 shutdown when pyarrow.fs is imported; exit hooks run last-registered
    # first, so a hook registered between the two sees what pyarrow's will see.
    script = textwrap.dedent(
        """
        import atexit
        import pyarrow.fs
        from etl_artifacts.config import get_settings
        from etl_artifacts.s3 import artifact_store as module

        atexit.register(lambda: print("at pyarrow's exit:", module._FACTORY.store))
        store = module.ArtifactStore(get_settings(), object(), filesystem=pyarrow.fs.LocalFileSystem)
        module.use_store(store)
        store.filesystem
        print("before exit:", module._FACTORY.store is store)
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["before exit: True", "at pyarrow's exit: None"]
