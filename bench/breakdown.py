"""Where a warm request's milliseconds go above its S3 round trips (scenario 10).

Per case, at the S3 model's latency:

- **over HTTP**: what a client of the local gateway waits (HTTP, the gateway's routing and event
  building, the real authorizer, the handler);
- **handler**: the Phases handler called in-process with the event the gateway would build (the
  authorizer's context already in it); the difference is the gateway emulation's own overhead,
  which API Gateway replaces on AWS;
- **S3 window**: the wall time with at least one S3 request in flight (the union of the proxy's
  request intervals during the handler call), against the floor ``depth x latency``;
- **ours outside S3**: handler less the S3 window: CPU in our code and pyarrow's (decode after the
  bytes arrived, keyword match, render, JSON) and thread hand-offs;
- **sampled thread time**: a sampler reads every Python thread's stack about once a millisecond
  during the handler calls and charges the elapsed time to what the thread is doing, by the
  innermost frame of our package (threads blocked on a lock or socket are idle, except those in
  the S3 client, which wait on S3). pyarrow's reads run in C++: a thread inside one counts as
  "read row groups" whether it waits for bytes or decodes them. Thread-milliseconds, summed over
  threads, so they may add up to more than the wall time.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl_artifacts_local.s3_proxy import S3Proxy

SAMPLE_INTERVAL_S = 0.001
# Our modules, by path fragment, and what their time is (the innermost one on a stack decides).
OURS: tuple[tuple[str, str], ...] = (
    ("etl_artifacts/parquet/chunkset.py", "read row groups (S3 + decode)"),
    ("etl_artifacts/parquet/footer_cache.py", "read row groups (S3 + decode)"),
    ("etl_artifacts/parquet/render.py", "render values"),
    ("etl_artifacts/search/", "keyword match"),
    ("etl_artifacts/s3/attempts.py", "listing"),
    ("etl_artifacts/s3/listing.py", "listing"),
    ("etl_artifacts/phases/", "page logic"),
    ("etl_artifacts/parquet/", "page logic"),
    ("etl_artifacts/api/", "routing, validation, envelope, JSON"),
    ("etl_artifacts/payload.py", "routing, validation, envelope, JSON"),
    ("etl_artifacts/", "other ours"),
)
S3_CLIENT = ("botocore/", "urllib3/", "boto3/", "s3transfer/")
WAITS = ("threading.py", "selectors.py", "socket.py", "ssl.py", "queue.py", "concurrent/futures/")
SKIP = ("etl_artifacts_local/s3_proxy.py", "bench/breakdown.py")
S3_WAIT = "waiting on S3 (boto3)"


def classify(frame: FrameType | None) -> str | None:
    """What a thread whose innermost frame is ``frame`` is doing; None when it is idle."""
    files = []
    while frame is not None:
        files.append(frame.f_code.co_filename.replace("\\", "/"))
        frame = frame.f_back
    if not files or any(skip in name for name in files for skip in SKIP):
        return None
    if any(wait in files[0] for wait in WAITS):
        return S3_WAIT if any(lib in name for name in files for lib in S3_CLIENT) else None
    for name in files:
        for fragment, category in OURS:
            if fragment in name:
                return category
    if any(lib in name for name in files for lib in S3_CLIENT):
        return "S3 client (boto3)"
    return "other"


class ThreadSampler:
    """Samples every other thread's stack while active (a context manager); ``thread_ms`` holds
    the elapsed time charged to each category."""

    def __init__(self) -> None:
        self.thread_ms: defaultdict[str, float] = defaultdict(float)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> ThreadSampler:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        last = time.perf_counter()
        while not self._stop.is_set():
            time.sleep(SAMPLE_INTERVAL_S)
            now = time.perf_counter()
            elapsed_ms, last = (now - last) * 1000, now
            for ident, frame in sys._current_frames().items():
                if ident != me and (category := classify(frame)) is not None:
                    self.thread_ms[category] += elapsed_ms


@dataclass
class Breakdown:
    http_ms: float
    handler_ms: float
    s3_window_ms: float
    depth: int
    latency_ms: float
    thread_ms: dict[str, float]  # per request

    @property
    def gateway_ms(self) -> float:
        return self.http_ms - self.handler_ms

    @property
    def ours_ms(self) -> float:
        return self.handler_ms - self.s3_window_ms

    @property
    def floor_ms(self) -> float:
        return self.depth * self.latency_ms


def s3_window_ms(proxy: S3Proxy) -> tuple[float, int]:
    """The union of the recorded requests' intervals (ms), and their depth."""
    from etl_artifacts_local.s3_proxy import Traffic

    recorded = proxy.recorded()
    intervals = sorted((r.started, r.ended) for r in recorded if r.ended is not None)
    total, end = 0.0, float("-inf")
    for start, stop in intervals:
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total * 1000, Traffic.of(recorded).depth


def measure_breakdown(
    proxy: S3Proxy,
    over_http: Callable[[], Any],
    in_process: Callable[[], Any],
    runs: int,
    latency_ms: float,
) -> Breakdown:
    """Medians over ``runs`` interleaved calls of both paths (after one warm-up of each)."""
    over_http()
    in_process()
    http: list[float] = []
    handler: list[float] = []
    windows: list[float] = []
    depths: list[int] = []
    sampled: defaultdict[str, float] = defaultdict(float)
    for _ in range(runs):
        started = time.perf_counter()
        over_http()
        http.append((time.perf_counter() - started) * 1000)
        proxy.clear()
        with ThreadSampler() as sampler:
            started = time.perf_counter()
            in_process()
            handler.append((time.perf_counter() - started) * 1000)
        for category, ms in sampler.thread_ms.items():
            sampled[category] += ms
        window, depth = s3_window_ms(proxy)
        windows.append(window)
        depths.append(depth)
    return Breakdown(
        statistics.median(http),
        statistics.median(handler),
        statistics.median(windows),
        round(statistics.median(depths)),
        latency_ms,
        {category: ms / runs for category, ms in sorted(sampled.items(), key=lambda item: -item[1])},
    )


def breakdown_table(measured: dict[str, Breakdown], runs: int) -> dict[str, Any]:
    rows = []
    for case, b in measured.items():
        sampled = ", ".join(f"{category} {ms:.1f}" for category, ms in b.thread_ms.items() if ms >= 0.5)
        rows.append(
            [
                case,
                f"{b.http_ms:.1f}",
                f"{b.handler_ms:.1f}",
                f"{b.gateway_ms:.1f}",
                f"{b.s3_window_ms:.1f} (floor {b.floor_ms:.0f}, depth {b.depth})",
                f"{b.ours_ms:.1f}",
                sampled or "-",
            ]
        )
    return {
        "title": "Where the milliseconds go above the round trips (warm, medians)",
        "columns": [
            "case",
            "over HTTP ms",
            "handler in-process ms",
            "gateway emulation ms",
            "S3 window ms",
            "ours outside S3 ms",
            "sampled thread-ms per request",
        ],
        "rows": rows,
        "notes": [
            f"{runs} interleaved runs per case. Gateway emulation: the local gateway's HTTP server, "
            "routing, event building and the real authorizer (API Gateway's job on AWS). S3 window: wall "
            "time with an S3 request in flight; the floor is depth x the added latency, the rest is "
            "s3rver's own service time and the proxy. Ours outside S3: CPU after the bytes arrived "
            "(decode, match, render, JSON) and thread hand-offs. Sampled thread-ms: see "
            "bench/breakdown.py (threads inside pyarrow's C++ reads count as reading whether they "
            "wait or decode)."
        ],
    }
