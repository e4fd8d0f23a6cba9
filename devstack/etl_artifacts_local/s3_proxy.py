"""A loopback HTTP proxy in front of a local S3 server, shared by the tests and the benchmarks.

Every client (boto3 and pyarrow's own C++ client alike) pointed at ``proxy.endpoint`` goes
through it, so it sees the requests actually made on the wire. Its modes:

- recording: every request (method, bucket, key, query, range, status, bytes, start and end time);
- counting: ``traffic()`` sums what was recorded: requests by kind, bytes read per file, and the
  depth (the longest chain of requests where each starts only after the previous one ended);
- latency: ``latency_s`` is added before every request is forwarded (S3's first-byte latency);
- faults: ``mode`` ``pass`` | ``slow`` (wait ``delay_s``) | ``error`` (S3's 500) | ``reset``
  (drop the connection), limited by ``only`` to the requests it accepts.

Standard library only: it is development tooling (``etl_artifacts_local`` is not in the layer).
"""

from __future__ import annotations

import heapq
import http.client
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
}
_S3_INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error.</Message></Error>"
)
_COPY_CHUNK = 1 << 20


@dataclass
class S3Request:
    """One request seen by the proxy (path-style addressing: ``/bucket/key``)."""

    method: str
    bucket: str
    key: str  # the object key, or the LIST prefix
    query: str
    ranged: bool = False
    listing: bool = False  # a GET of the bucket itself (a LIST), not of an object
    started: float = 0.0  # time.perf_counter() when the request arrived
    ended: float | None = None  # just before its answer's last byte was sent (None: dropped)
    status: int | None = None
    bytes_out: int = 0  # response body bytes the client read

    @property
    def target(self) -> str:
        return f"{self.bucket}/{self.key}"

    @property
    def file_kind(self) -> str:
        """The object's file name, with every ``data_NNN.parquet`` chunk counted as ``data_*``."""
        name = self.key.rsplit("/", 1)[-1]
        return "data_*" if name.startswith("data_") else name


def request_depth(intervals: Iterable[tuple[float, float]]) -> int:
    """The longest chain of requests in which each starts only after the previous one ended.

    Requests that overlap in time count once: a LIST, then 10 footers read concurrently, then a
    row group is a depth of 3. O(n log n): in start order, every request that ended before this
    one started is final, so a heap of (end, depth) yields the deepest predecessor.
    """
    finished: list[tuple[float, int]] = []
    deepest_done = 0
    depth = 0
    for start, end in sorted(intervals):
        while finished and finished[0][0] <= start:
            deepest_done = max(deepest_done, heapq.heappop(finished)[1])
        mine = deepest_done + 1
        depth = max(depth, mine)
        heapq.heappush(finished, (end, mine))
    return depth


@dataclass
class Traffic:
    """What a set of recorded requests cost."""

    requests: int = 0
    gets: int = 0  # object GETs (LISTs not included)
    range_gets: int = 0
    heads: int = 0
    lists: int = 0
    bytes_in: int = 0  # response bodies: what the client read from S3
    depth: int = 0
    # object GETs per file kind (data_* chunks together): [requests, bytes]
    by_file: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, requests: Iterable[S3Request]) -> Traffic:
        traffic = cls()
        intervals = []
        for request in requests:
            traffic.requests += 1
            traffic.bytes_in += request.bytes_out
            if request.ended is not None:
                intervals.append((request.started, request.ended))
            if request.method == "HEAD":
                traffic.heads += 1
            elif request.listing:
                traffic.lists += 1
            elif request.method == "GET":
                traffic.gets += 1
                traffic.range_gets += int(request.ranged)
                counted = traffic.by_file.setdefault(request.file_kind, [0, 0])
                counted[0] += 1
                counted[1] += request.bytes_out
        traffic.depth = request_depth(intervals)
        return traffic


class _LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True


class S3Proxy:
    """The proxy: ``start()`` (or ``with``) serves on a free loopback port, ``stop()`` ends it."""

    def __init__(self, upstream: str, latency_s: float = 0.0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.latency_s = latency_s
        self.mode = "pass"
        self.delay_s = 0.0
        # When set, the fault applies only to the requests it accepts (the others pass).
        self.only: Callable[[S3Request], bool] | None = None
        self.requests: list[S3Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- reading what was recorded --------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        assert self._server is not None, "the proxy is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def recorded(self) -> list[S3Request]:
        with self._lock:
            return list(self.requests)

    def targets(self) -> list[str]:
        return [r.target for r in self.recorded()]

    def traffic(self) -> Traffic:
        return Traffic.of(self.recorded())

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, method: str, raw_path: str, ranged: bool) -> S3Request:
        parts = urlsplit(raw_path)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        listing = method == "GET" and not key
        query = parse_qs(parts.query, keep_blank_values=True)
        if not key and "prefix" in query:
            key = query["prefix"][0]
        request = S3Request(method, bucket, key, parts.query, ranged, listing, started=time.perf_counter())
        with self._lock:
            self.requests.append(request)
        return request

    # -- serving ----------------------------------------------------------------------------------
    def start(self) -> S3Proxy:
        self._server = _LoopbackServer(("127.0.0.1", 0), self._handler_class())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> S3Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are separate writes: with Nagle's algorithm on, the body waits for
            # the client's delayed ACK (~40 ms per request), a cost no S3 has.
            disable_nagle_algorithm = True
            upstream: http.client.HTTPConnection | None = None  # one per client connection

            def _fault(self, recorded: S3Request) -> bool:
                """Apply the fault mode; True when the request was answered (or dropped) here."""
                mode = proxy.mode
                if proxy.only is not None and not proxy.only(recorded):
                    mode = "pass"
                if mode == "reset":
                    self.close_connection = True
                    self.connection.close()
                    return True
                if mode == "slow":
                    time.sleep(proxy.delay_s)
                if mode == "error":
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(_S3_INTERNAL_ERROR)))
                    recorded.status, recorded.ended = 500, time.perf_counter()
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(_S3_INTERNAL_ERROR)
                    return True
                return False

            def _upstream_response(self, body: bytes | None) -> http.client.HTTPResponse:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                for attempt in (1, 2):
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection(
                            proxy.upstream_host, proxy.upstream_port, timeout=120
                        )
                    try:
                        self.upstream.request(self.command, self.path, body=body, headers=headers)
                        return self.upstream.getresponse()
                    except (http.client.HTTPException, ConnectionError):
                        # A kept-alive upstream connection the server closed: reconnect once.
                        self.upstream.close()
                        self.upstream = None
                        if attempt == 2:
                            raise
                raise AssertionError("unreachable")

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                ranged = "range" in {k.lower() for k in self.headers}
                recorded = proxy._record(self.command, self.path, ranged)
                if proxy.latency_s:
                    time.sleep(proxy.latency_s)
                if self._fault(recorded):
                    return
                response = self._upstream_response(body)
                declared = response.getheader("Content-Length")
                streamed = self.command != "HEAD" and declared is not None
                data = b"" if streamed or self.command == "HEAD" else response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                if self.command == "HEAD":
                    self.send_header("Content-Length", declared or "0")
                else:
                    self.send_header("Content-Length", declared if streamed and declared else str(len(data)))
                # Status, bytes and end are recorded before the last write: once the client has the
                # last byte it may look at the record, or send a request that depends on this one
                # (which must then start after this end).
                recorded.status = response.status
                recorded.ended = time.perf_counter()
                self.end_headers()
                if streamed:
                    piece = response.read(_COPY_CHUNK)
                    while piece:
                        following = response.read(_COPY_CHUNK)
                        recorded.bytes_out += len(piece)
                        if not following:
                            recorded.ended = time.perf_counter()
                        self.wfile.write(piece)
                        piece = following
                else:
                    if self.command == "HEAD":
                        response.read()
                    elif data:
                        recorded.bytes_out = len(data)
                        recorded.ended = time.perf_counter()
                    self.wfile.write(data)
                self.wfile.flush()

            def _handle(self) -> None:
                try:
                    self._forward()
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    # The client gave up (that is what a timeout test wants).
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

            def finish(self) -> None:
                super().finish()
                if self.upstream is not None:
                    self.upstream.close()

            def log_message(self, format: str, *args: Any) -> None:  # keep output quiet
                return None

        return Handler
