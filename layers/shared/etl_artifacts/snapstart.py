"""Lambda SnapStart: the one-time work done at init (priming) and what a restored copy refreshes.

With SnapStart (template.yaml, published versions behind the ``live`` alias) Lambda runs a
function's init once per version, runs the ``register_before_snapshot`` hooks, snapshots the
memory, and starts every later instance from that snapshot, running the ``register_after_restore``
hooks first. So the work a first request would do lazily (importing pyarrow and boto3, building
the S3 clients and sending their calls to canned answers, creating the X-Ray tracer and the
Secrets Manager client, compiling the pydantic validators of every route, reading and rendering an
in-memory page) is moved into the snapshot, and a restored instance's first request costs about
what a warm one does on the same (uncached) data.

Each handler module calls ``enable`` with the parts its function uses. Nothing runs at import:
without SnapStart (``$LATEST``, the local in-process runtime) the hooks never run and imports stay
lazy, so a plain cold start is no slower. The local gateway's worker processes run the hooks after
importing the handler and before their first request, as Lambda does (``run_init``).

What must not be shared by the copies restored from one snapshot is refreshed after restore: the
S3 file system's credentials, database connections and the ``random`` seed
(``refresh_after_restore`` says why the boto3 clients are kept). The invocation deadline needs
nothing: it is built from each invocation's context. Priming never reads tenant data, secrets or
the network.

See docs/performance.md (SnapStart) for where it is on, where it is off, and what it costs.
"""

from __future__ import annotations

import importlib
import io
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from snapshot_restore_py import (
    get_after_restore,
    get_before_snapshot,
    register_after_restore,
    register_before_snapshot,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext

Primer = Callable[[], None]


# -- priming: each part of a function's first request, done once before the snapshot ------------
def prime_settings() -> None:
    from etl_artifacts.config import get_settings

    get_settings()


def prime_secrets() -> None:
    """Powertools' Secrets Manager provider (boto3 and its client), where the function reads a
    secret (``*_SECRET_ARN``). The secret itself is fetched by each restored copy, never before
    the snapshot: a snapshot holds no secret."""
    from etl_artifacts.config import get_settings

    settings = get_settings()
    if not (settings.jwt_secret_arn or settings.db_secret_arn or settings.cursor_secret_arn):
        return
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
    from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider

    # What ``parameters.get_secret`` does on its first call, without the call.
    if "secrets" not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS["secrets"] = SecretsProvider()


def prime_tracer() -> None:
    """The X-Ray tracer, where the function traces (in Lambda, unless POWERTOOLS_TRACE_DISABLED):
    importing the X-Ray SDK was the largest part of a first request left after the rest of init
    (hundreds of milliseconds; docs/performance.md)."""
    from etl_artifacts.observability import get_tracer, tracing_enabled

    if tracing_enabled():
        get_tracer()


def prime_arrow() -> None:
    """Import pyarrow and read and render a page of an in-memory parquet file the ways a page is
    read (a dataset fragment's row groups with pre-buffering, a file with dictionary-read strings)
    and answered (the JSON models, CSV and Arrow stream writers)."""
    import pyarrow as pa
    import pyarrow.compute  # searches and filters use it
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from etl_artifacts.parquet import page_formats
    from etl_artifacts.parquet.chunkset import conform
    from etl_artifacts.phases.pages import Page

    table = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "name": pa.array(["a", None], pa.string()),
            "amount": pa.array([1.5, None], pa.float64()),
            "at": pa.array([0, 1], pa.timestamp("us", tz="UTC")),
            "ok": pa.array([True, False]),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=1)
    scan = ds.ParquetFragmentScanOptions(pre_buffer=True)
    fragment = ds.ParquetFileFormat(default_fragment_scan_options=scan).make_fragment(
        pa.py_buffer(sink.getvalue())
    )
    fragment.subset(row_group_ids=[1]).to_table(use_threads=True)
    parquet = pq.ParquetFile(
        fragment.open(), metadata=fragment.metadata, read_dictionary=["name"], pre_buffer=True
    )
    read = conform(parquet.read_row_groups([0, 1], use_threads=True), fragment.physical_schema)
    page = Page(schema=read.schema, table=read, page=0, limit=2, total_rows=read.num_rows)
    page.body().model_dump_json()
    page_formats.csv_text(page.table)
    page_formats.arrow_stream(page.table)


def imports_primer(*modules: str) -> Primer:
    """Import what a route imports on its first call (the family's service layer)."""

    def prime() -> None:
        for module in modules:
            importlib.import_module(module)

    return prime


class _CannedBody:
    """A canned answer's body, read the two ways botocore reads urllib3's."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data.read()

    def read(self, amt: int | None = None, **_: Any) -> bytes:
        return self._data.read(amt)


_LISTING = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>priming</Name>'
    b"<Prefix>priming/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
    b"<IsTruncated>false</IsTruncated></ListBucketResult>"
)
_OBJECT_HEADERS = {
    "content-length": "4",
    "etag": '"priming"',
    "last-modified": "Thu, 01 Jan 2026 00:00:00 GMT",
}
# Operation -> (status, headers, body) of the answer S3 would give.
_CANNED: dict[str, tuple[int, dict[str, str], bytes]] = {
    "ListObjectsV2": (200, {}, _LISTING),
    "HeadObject": (200, _OBJECT_HEADERS, b""),
    "GetObject": (206, {**_OBJECT_HEADERS, "content-range": "bytes 0-3/4"}, b"PAR1"),
}


@contextmanager
def _answered_offline(client: Any) -> Iterator[None]:
    """Within it, ``client``'s S3 calls get canned answers instead of being sent: everything else
    a call does (validation, serialization, endpoint rules, signing, parsing) runs for real."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    def answer(request: Any, event_name: str, **_: Any) -> AWSResponse:
        status, fields, body = _CANNED[event_name.rsplit(".", 1)[-1]]
        headers = HTTPHeaders()
        for name, value in fields.items():
            headers[name] = value
        return AWSResponse(request.url, status, headers, _CannedBody(body))

    client.meta.events.register_first("before-send.s3", answer, unique_id="snapstart-priming")
    try:
        yield
    finally:
        client.meta.events.unregister("before-send.s3", unique_id="snapstart-priming")


def prime_s3() -> None:
    """boto3's S3 client, through the calls a request makes (the LIST of an attempt's prefix, an
    object's HEAD and a range GET), answered offline; a presigned URL (built offline, never sent);
    the IDNA codec the first connection's host name goes through. No request is sent."""
    from etl_artifacts.clients import s3_client
    from etl_artifacts.config import get_settings
    from etl_artifacts.s3.listing import list_prefix

    client = s3_client()
    # The function's own bucket, so that the endpoint rules' cache holds its answer.
    bucket = get_settings().artifacts_bucket or "priming"
    with _answered_offline(client):
        list_prefix(client, bucket, "priming/")
        client.head_object(Bucket=bucket, Key="priming")
        client.get_object(Bucket=bucket, Key="priming", Range="bytes=0-3")["Body"].read()
    client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "priming"}, ExpiresIn=60)
    "priming.example".encode("idna")


def prime_arrow_s3() -> None:
    """pyarrow's S3 file system (the AWS C++ SDK's start-up) and the threads of the I/O pool its
    reads run on. No request is sent."""
    from etl_artifacts.parquet.pool import start_threads
    from etl_artifacts.s3.artifact_store import artifact_store

    artifact_store().filesystem  # noqa: B018 - built on first use: here, before the snapshot
    start_threads()


def prime_sts() -> None:
    from etl_artifacts.clients import sts_client

    sts_client()


def prime_sqs() -> None:
    from etl_artifacts.clients import sqs_client

    sqs_client()


def prime_events() -> None:
    """EventBridge, which a write's outbox publishes to after its commit."""
    from etl_artifacts.clients import events_client

    events_client()


def prime_kms() -> None:
    """KMS, which signs a sealed run's manifest. No request is sent (the public keys are fetched
    on first use, per restored copy)."""
    from etl_artifacts.clients import kms_client

    kms_client()


def prime_rate_limiter() -> None:
    """The rate limiter's DynamoDB client, when limits are on (every route's request counts). No
    request is sent."""
    from etl_artifacts.config import get_settings
    from etl_artifacts.ratelimit.tenant_gate import store_for

    store = store_for(get_settings())
    if store is not None:
        store.connect()


def prime_database() -> None:
    """The driver's import; the connection itself is opened per restored instance, never snapshotted."""
    import pg8000.native  # noqa: F401


def prime_jwt() -> None:
    """PyJWT and the cryptography backends an RS256/ES256 or HS256 check loads on first use."""
    import jwt
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm  # noqa: F401

    key = "priming-only-not-a-secret-0123456789abcdef"
    jwt.decode(jwt.encode({"sub": "priming"}, key, algorithm="HS256"), key, algorithms=["HS256"])


class _InitContext:
    """The context attributes routing reads; priming runs outside any invocation."""

    function_name = "snapstart-priming"
    aws_request_id = "snapstart-priming"
    memory_limit_in_mb = 0
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:snapstart-priming"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def _priming_event(method: str, route: str) -> dict[str, Any]:
    # Every path value is the same invalid text: each route validates its parameters and answers
    # 422 (or 401 without a tenant) before it reaches storage or the database.
    segments = route.split("/")
    params = {segment[1:-1]: "priming" for segment in segments if segment.startswith("{")}
    concrete = "/".join("priming" if segment.startswith("{") else segment for segment in segments)
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": concrete,
        "rawQueryString": "",
        "headers": {"accept-encoding": "gzip", "accept": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": concrete, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "snapstart-priming",
            "routeKey": f"{method} {route}",
            "stage": "$default",
        },
        **({"pathParameters": params} if params else {}),
        "isBase64Encoded": False,
    }


def resolver_primer(app: APIGatewayHttpResolver) -> Primer:
    """Send every route of ``app`` one request that fails validation: Powertools compiles the
    route's validators and the error path, and the answer goes through the one response path."""

    def prime() -> None:
        from etl_artifacts.api.envelope import begin_invocation, fit_result
        from etl_artifacts.api.raw_request import routing_event

        def refuse(exc: Any) -> dict[str, Any]:
            raise RuntimeError("a priming answer is never too large")

        # Powertools keeps a resolver's routes in these two lists (it has no public accessor).
        for route in list(app._static_routes) + list(app._dynamic_routes):
            event = _priming_event(route.method.upper(), route.openapi_path)
            hints = begin_invocation()
            answer = app.resolve(routing_event(event), cast("LambdaContext", _InitContext()))
            fit_result(event, answer, refuse, hints)

    return prime


# -- after restore ---------------------------------------------------------------------------------
def refresh_after_restore() -> None:
    """Drop what one snapshot would share with every copy restored from it.

    The boto3 clients are kept: priming sent no request (their pools hold no connection), and with
    SnapStart Lambda hands credentials out through its container credentials endpoint, which botocore
    refreshes by itself; rebuilding them would cost each restored copy ~50-250 ms. pyarrow's S3 file
    system is cheap to rebuild once its SDK is started, so it resolves its credentials again: the
    artifact store that holds it (and the warm caches, empty after priming) is dropped, the one reset.
    """
    from etl_artifacts.s3.artifact_store import artifact_store, reset_store

    # Only a function that reads parquet has imported pyarrow (and built pyarrow's S3 client).
    reads_parquet = "pyarrow" in sys.modules
    reset_store()
    if reads_parquet:
        # Rebuilt here, resolving its credentials again, rather than by the first request.
        artifact_store().filesystem  # noqa: B018 - built on first use
    # Only a function that uses the database has imported its module (and pg8000).
    if (db := sys.modules.get("etl_artifacts.postgres.db")) is not None:
        db.reset_database()
    random.seed()


# -- registration and the local runtime ----------------------------------------------------------
def enable(primers: Iterable[Primer]) -> None:
    """Register ``primers`` to run before the snapshot (in this order) and the refresh after restore.

    Lambda runs before-snapshot hooks in the reverse order of registration: one hook runs them all,
    in the order given.
    """
    chosen = [prime_settings, prime_tracer, prime_secrets, *primers]

    def prime_all() -> None:
        for primer in chosen:
            primer()

    register_before_snapshot(prime_all)
    register_after_restore(refresh_after_restore)


def _run(hooks: list[Any]) -> None:
    for func, args, kwargs in hooks:
        func(*args, **kwargs)


def run_init() -> None:
    """What Lambda does between a SnapStart function's init and its first request: the
    before-snapshot hooks (reverse order of registration), then, as in a restored copy, the
    after-restore hooks (in order). For local runtimes: one function per process."""
    _run(list(reversed(get_before_snapshot())))
    _run(list(get_after_restore()))
