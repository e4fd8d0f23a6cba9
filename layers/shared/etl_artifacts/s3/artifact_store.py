"""The artifacts bucket as one object: its clients, where the runs are, and every warm cache.

Shaped like pyarrow's ``ParquetDataset(paths, filesystem=...)``: state is passed, not fetched. The
logic functions of the Phases, Artifacts and indexing families take an ``ArtifactStore`` once
(``artifact_store()``) and hand it down: ``ChunkSet(store, objects)``, ``list_attempt(store, ...)``,
``search_data(store, ...)``, ``tenant_presigner(store, ...)``. Nothing below them reads the settings,
a client or a cache of its own.

What it holds (docs/architecture.md "The artifact store"):

- ``bucket`` and ``prefix`` (``ARTIFACTS_BUCKET``, ``ARTIFACTS_PREFIX``);
- ``s3``: the function's boto3 client (LIST, HEAD, presigning), and ``filesystem``: pyarrow's own S3
  client (footers and row groups), built on first use, so a function that never reads parquet never
  imports pyarrow;
- the caches, each bounded: ``footers`` (``FOOTER_CACHE_BYTES``), ``listings`` of completed
  attempts (``MAX_LISTINGS``), logs ``matches`` (``MATCH_CACHE_BYTES``), trigram ``postings``
  (``POSTINGS_CACHE_BYTES``), ``recent_builds`` (index builds queued lately, ``MAX_QUEUED_BUILDS``),
  ``signing_sessions`` (presign role sessions, ``MAX_SIGNING_TENANTS``), ``presign_templates``
  (one per signing client, held weakly) and ``layouts_fetched`` (attempts whose layout file was
  fetched, ``MAX_LAYOUTS_FETCHED``: ``parquet.layout_file``).

One store per warm function: ``artifact_store()`` builds it from the settings and the S3 client, and
builds a new one when either is replaced (``get_settings.cache_clear()``, ``reset_clients()``), so
no cache outlives the endpoint it was filled from. ``reset_store()`` is the one reset (tests, and a
SnapStart copy after restore, which must resolve pyarrow's credentials again). Tests that need other
caps or a spying file system build their own ``ArtifactStore`` and install it with ``use_store``.
"""

from __future__ import annotations

import atexit
import functools
import gc
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from etl_artifacts.clients import arrow_filesystem, s3_client
from etl_artifacts.config import Settings, get_settings, require_bucket
from etl_artifacts.parquet.byte_lru import ByteLRU

if TYPE_CHECKING:
    import pyarrow as pa
    from pyarrow.fs import FileSystem

    from etl_artifacts.parquet.footer_cache import FooterCache

#: Bytes of parsed footers kept while warm (of the Phases function's 1,769 MB).
FOOTER_CACHE_BYTES = 128 * 1024 * 1024
#: Bytes of logs' matching row numbers kept while warm (8 per matching row): 16M rows at most.
MATCH_CACHE_BYTES = 128 * 1024 * 1024
#: Bytes of whole trigram files kept while warm.
POSTINGS_CACHE_BYTES = 32 * 1024 * 1024
#: Completed attempts' listings kept (each for ``attempts.LISTING_TTL_S``).
MAX_LISTINGS = 256
#: Attempts whose index build was queued lately.
MAX_QUEUED_BUILDS = 1_024
#: Tenants whose presign role session is kept.
MAX_SIGNING_TENANTS = 256
#: Attempts whose layout file was fetched (their footers are cached since).
MAX_LAYOUTS_FETCHED = 1_024

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RecentMap(Generic[K, V]):
    """A thread-safe map of at most ``max_entries``, the least recently written dropped first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._write(key, value)

    def put_unless(self, key: K, value: V, keep: Callable[[V], bool]) -> bool:
        """Write ``value`` unless the entry there is one to ``keep``, in one step; True when written."""
        with self._lock:
            old = self._entries.get(key)
            if old is not None and keep(old):
                return False
            self._write(key, value)
            return True

    def _write(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class ArtifactStore:
    """The artifacts bucket: clients, location and warm caches (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        s3: Any,
        *,
        filesystem: Callable[[], FileSystem] | None = None,
        footer_bytes: int = FOOTER_CACHE_BYTES,
        match_bytes: int = MATCH_CACHE_BYTES,
        postings_bytes: int = POSTINGS_CACHE_BYTES,
    ) -> None:
        self.settings = settings
        self.prefix = settings.artifacts_prefix
        self.s3 = s3
        self._make_filesystem = filesystem or (lambda: arrow_filesystem(settings))
        self._footer_bytes = footer_bytes
        self._lazy_lock = threading.Lock()
        self._filesystem: FileSystem | None = None
        self._footers: FooterCache | None = None
        self.listings: RecentMap[str, tuple[float, Any]] = RecentMap(MAX_LISTINGS)
        self.matches: ByteLRU[tuple[Any, ...], list[pa.Array]] = ByteLRU(match_bytes)
        self.postings: ByteLRU[tuple[str, str, int], pa.Table] = ByteLRU(postings_bytes)
        self.recent_builds: RecentMap[str, tuple[str, float]] = RecentMap(MAX_QUEUED_BUILDS)
        self.signing_sessions: RecentMap[tuple[str, str, str], Any] = RecentMap(MAX_SIGNING_TENANTS)
        # Per signing client (weakly: a role session's client goes with its session) and bucket.
        self.presign_templates: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
        self.presign_lock = threading.Lock()
        self.layouts_fetched: RecentMap[str, bool] = RecentMap(MAX_LAYOUTS_FETCHED)

    @property
    def bucket(self) -> str:
        """``ARTIFACTS_BUCKET``; ``ConfigurationError`` when it is not set (checked on use)."""
        return require_bucket(self.settings)

    @property
    def filesystem(self) -> FileSystem:
        """pyarrow's S3 client of this store (created on first use, once: pool threads race to it)."""
        with self._lazy_lock:
            if self._filesystem is None:
                self._filesystem = self._make_filesystem()
                _drop_store_at_exit()
            return self._filesystem

    @property
    def footers(self) -> FooterCache:
        """Parsed parquet footers by key + ETag + size, read through ``filesystem``."""
        from etl_artifacts.parquet.footer_cache import FooterCache

        filesystem, bucket = self.filesystem, self.bucket
        with self._lazy_lock:
            if self._footers is None:
                self._footers = FooterCache(filesystem, bucket, self._footer_bytes)
            return self._footers


class _Factory:
    """The one cached store, rebuilt when the settings or the S3 client are replaced."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.store: ArtifactStore | None = None


_FACTORY = _Factory()


def artifact_store() -> ArtifactStore:
    """The warm function's store (created on first use; see the module docstring)."""
    settings, s3 = get_settings(), s3_client()
    with _FACTORY.lock:
        store = _FACTORY.store
        if store is None or store.settings is not settings or store.s3 is not s3:
            store = _FACTORY.store = ArtifactStore(settings, s3)
        return store


def use_store(store: ArtifactStore) -> None:
    """Make ``store`` the one ``artifact_store()`` answers, while the settings and client stay (tests)."""
    with _FACTORY.lock:
        _FACTORY.store = store


def reset_store() -> None:
    """Forget the store and every cache it holds: the next ``artifact_store()`` builds a new one."""
    with _FACTORY.lock:
        _FACTORY.store = None


@functools.cache
def _drop_store_at_exit() -> None:
    """Free the store's pyarrow S3 client and open parquet files when the process exits, before
    pyarrow shuts its S3 support down (its own exit hook, registered earlier, so run later): one
    still alive past that point can abort the exit ("terminate called without an active
    exception"; apache/arrow#34314, #41087). Lambda freezes its processes instead of exiting them;
    the local commands and the bench's processes exit."""

    def drop() -> None:
        reset_store()
        gc.collect()  # parsed footers and their files can sit in reference cycles

    atexit.register(drop)
