"""Inside AWS's envelope, through ``etl-artifacts serve`` (a subprocess: worker processes, real
timeouts), moto's S3 server over HTTP and the session's Postgres (docs/limits.md).

- a page of 1,000 rows x 9 KB is 413 ``response_too_large`` with ``max_limit``, and
  ``limit=max_limit`` is a 200 inside Lambda's 6 MB payload (gzip or not); errors and event likewise;
- a keyword scan slower than ``--timeout 4`` answers 503 ``deadline_exceeded`` + Retry-After (the
  gateway would have answered a killed function with API Gateway's 500), queues an index build the
  indexer accepts, and the retry is answered from the index;
- a function overrunning its template Timeout or the 6 MB payload, or dying, gets API Gateway's
  answer; a dead worker is replaced; the access log holds no query string.

No timing is asserted: a 503 instead of the gateway's 500 is what proves the deadline held.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import string
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from etl_artifacts.api.envelope import LAMBDA_PAYLOAD_MAX, body_cost
from etl_artifacts.s3.layout import single_file
from etl_artifacts_local.gateway import AWS_FAILED_INVOCATION
from phases_helpers import errors_table, new_run, phase_path, put_chunks, put_metadata, put_table, run_path
from security_helpers import S3Proxy
from serve_helpers import serving
from text_helpers import random_text

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("etl-artifacts")
CLIENT_TIMEOUT_S = 120


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING", **extra}


def _blob(rnd: random.Random, size: int = 9000) -> str:
    # Barely compressible (like encoded payloads): the page overflows gzipped as well.
    return random_text(rnd, size, string.ascii_letters + string.digits + string.punctuation + " ")


def _payload_of(answer: requests.Response) -> int:
    """The Lambda payload's body part of an answer read raw off the wire (as the gateway passed it)."""
    if answer.headers.get("Content-Encoding") == "gzip":
        return len(base64.b64encode(answer.raw.read(decode_content=False)))
    return body_cost(answer.raw.read().decode())


@pytest.fixture(scope="module")
def api_url(base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving([], _env(), tmp_path_factory.mktemp("serve") / "stderr.log") as url:
        yield url


@pytest.fixture(scope="module")
def big_run(base_env: dict[str, str]) -> Any:
    """Data and errors of 1,000 rows x 9 KB each, and an event file of 800 x 9 KB messages."""
    rnd = random.Random(14)
    run = new_run()
    data = pa.table({"id": pa.array(range(1000), pa.int64()), "blob": [_blob(rnd) for _ in range(1000)]})
    put_chunks(run, "data", [data])
    errors = errors_table(0, 1000).set_column(4, "traceback", pa.array([_blob(rnd) for _ in range(1000)]))
    put_chunks(run, "errors", [errors])
    put_metadata(run, rows=1000, chunks=1)
    queue = pa.table(
        {
            "message_id": [str(i) for i in range(800)],
            "received_at": pa.array([0] * 800, pa.timestamp("us", tz="UTC")),
            "body": [json.dumps({"payload": _blob(rnd)}) for _ in range(800)],
        }
    )
    put_table(run, "event/queue_data.parquet", queue)
    return run


def _get(url: str, token: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return requests.get(url, headers=headers, timeout=CLIENT_TIMEOUT_S, stream=True, **kwargs)


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
@pytest.mark.parametrize("route", ["/data", "/errors"])
def test_a_page_too_large_is_413_with_max_limit_and_max_limit_fits(
    api_url, big_run, make_token, route, encoding
):
    url = api_url + phase_path(big_run, "extract", route)
    headers = {"Accept-Encoding": encoding}

    refused = _get(url, make_token(), params={"limit": 1000}, headers=headers)

    assert refused.status_code == 413, refused.text[:300]
    body = refused.json()
    assert body["code"] == "response_too_large" and body["status"] == 413
    max_limit = body["max_limit"]
    assert 0 < max_limit < 1000

    fitting = _get(url, make_token(), params={"limit": max_limit}, headers=headers)

    assert fitting.status_code == 200
    assert fitting.headers["Cache-Control"] == "no-store"
    assert "Accept-Encoding" in fitting.headers["Vary"]
    assert (fitting.headers.get("Content-Encoding") == "gzip") is (encoding == "gzip")
    assert _payload_of(fitting) <= LAMBDA_PAYLOAD_MAX
    page = _get(url, make_token(), params={"limit": max_limit}, headers=headers).json()
    assert len(page["rows"]) == max_limit and page["rows"][0]["id" if route == "/data" else "row_ref"] in (
        0,
        "0",
    )


def test_an_event_too_large_points_at_its_artifacts(api_url, big_run, make_token):
    answer = _get(api_url + run_path(big_run, "/event"), make_token())

    assert answer.status_code == 413
    body = answer.json()
    assert body["code"] == "response_too_large" and "max_limit" not in body
    assert "event-queue-data" in body["detail"] and "event-event" in body["detail"]


def test_gzip_q0_is_never_compressed(api_url, big_run, make_token):
    answer = _get(
        api_url + phase_path(big_run, "extract", "/data"),
        make_token(),
        params={"limit": 5},
        headers={"Accept-Encoding": "gzip;q=0, identity"},
    )
    assert answer.status_code == 200 and "Content-Encoding" not in answer.headers
    assert answer.headers["Cache-Control"] == "no-store"


# -- deadline ------------------------------------------------------------------------------------

SCAN_CHUNKS = 40
ROWS = 5000
SLOW_READ_S = 2.0


def _data_reads(request: Any) -> bool:
    return bool(request.method == "GET" and "/data_" in request.key)


def test_a_scan_slower_than_the_timeout_is_503_and_queues_an_index_build(
    base_env, s3_server, make_token, tmp_path
):
    import boto3
    from etl_artifacts.indexing.events import objects_in, parse_body
    from etl_artifacts.indexing.handler import index_object

    sqs = boto3.client("sqs", endpoint_url=s3_server.endpoint, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName=f"index-{tmp_path.name}")["QueueUrl"]
    run = new_run()
    rnd = random.Random(4)
    # Chunks larger than a footer read: the scan fetches their column chunks from S3.
    tables = [
        pa.table(
            {
                "id": pa.array(range(i * ROWS, (i + 1) * ROWS), pa.int64()),
                "word": [("needle " if i == 0 and j < 50 else "hay ") + _blob(rnd, 60) for j in range(ROWS)],
            }
        )
        for i in range(SCAN_CHUNKS)
    ]
    put_chunks(run, "data", tables)
    put_metadata(run, rows=ROWS * SCAN_CHUNKS, chunks=SCAN_CHUNKS)
    proxy = S3Proxy(s3_server.endpoint).start()
    try:
        env = _env(
            AWS_ENDPOINT_URL_S3=proxy.endpoint,
            AWS_ENDPOINT_URL_SQS=s3_server.endpoint,
            INDEX_QUEUE_URL=queue_url,
        )
        # One instance: the retry lands on the warm worker.
        # 10 s leaves a loaded machine room for the warm-up's cold imports; 40 x 2 s reads do not fit.
        with serving(["--timeout", "10", "--instances", "1"], env, tmp_path / "stderr.log") as url:
            search = url + phase_path(run, "extract", "/data")
            # A warm function (imports done, footers cached): the deadline, not the cold start, is tested.
            assert _get(search, make_token(), params={"limit": 1}).status_code == 200
            proxy.mode, proxy.delay_s, proxy.only = "slow", SLOW_READ_S, _data_reads

            answer = _get(search, make_token(), params={"keyword": "needle"})

            # A scan of 40 x 2 s reads (at most four at a time) cannot finish in 10 s: the function
            # stopped in time.
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "deadline_exceeded"
            assert int(answer.headers["Retry-After"]) > 0
            messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5).get("Messages", [])
            assert len(messages) == 1
            (ref,) = objects_in(parse_body(messages[0]["Body"]))
            assert ref.key.endswith(single_file("extract", 1, "metadata"))

            assert index_object(ref) is True  # what the indexer does with the message
            proxy.mode = "pass"
            retry = _get(search, make_token(), params={"keyword": "needle"})

            assert retry.status_code == 200
            assert retry.headers["X-Search-Mode"] in ("index", "trigram")
            assert retry.json()["total_rows"] == 50
    finally:
        proxy.stop()


# -- the gateway itself ----------------------------------------------------------------------------

PROBE_HANDLER = """
import json
import os
import signal
import time


def lambda_handler(event, context):
    path = event["rawPath"]
    if path == "/slow":
        time.sleep(60)
    if path == "/crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if path == "/raise":
        raise RuntimeError("boom")
    if path == "/big":
        return {"statusCode": 200, "body": "x" * 6_400_000}
    remaining = context.get_remaining_time_in_millis()
    return {"statusCode": 200, "body": json.dumps({"pid": os.getpid(), "remaining_ms": remaining})}
"""

PROBE_TEMPLATE = """
Resources:
  ProbeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: probe
      Handler: probe_handler.lambda_handler
      Timeout: 3
      Events:
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("probe")
    (root / "probe").mkdir()
    (root / "probe" / "probe_handler.py").write_text(textwrap.dedent(PROBE_HANDLER))
    events = "".join(
        f"        {name.strip('/').title()}:\n          Type: HttpApi\n          Properties:\n"
        f"            Method: GET\n            Path: {name}\n"
        "            Auth:\n              Authorizer: NONE\n"
        for name in ("/slow", "/crash", "/raise", "/big", "/pid")
    )
    (root / "template.yaml").write_text(PROBE_TEMPLATE + events)
    log = root / "stderr.log"
    with serving(["--template", str(root / "template.yaml"), "--instances", "1"], _env(), log) as url:
        yield url, log


def _probe(url: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.get(url + path, timeout=CLIENT_TIMEOUT_S, **kwargs)


@pytest.mark.parametrize("path", ["/slow", "/big", "/crash", "/raise"])
def test_a_failed_invocation_gets_api_gateways_answer(probe, path):
    url, _ = probe

    answer = _probe(url, path)

    assert (answer.status_code, answer.text) == AWS_FAILED_INVOCATION
    # The environment is replaced (or kept): the next request is served.
    assert _probe(url, "/pid").status_code == 200


def test_the_context_reports_the_template_timeout(probe):
    url, _ = probe
    remaining = _probe(url, "/pid").json()["remaining_ms"]
    assert 0 < remaining <= 3000


def test_a_killed_worker_is_replaced_and_serving_goes_on(probe):
    url, _ = probe
    before = _probe(url, "/pid").json()["pid"]

    os.kill(before, signal.SIGKILL)
    after = _probe(url, "/pid")

    assert after.status_code == 200 and after.json()["pid"] != before


def test_the_access_log_holds_no_query_string(probe):
    url, log = probe

    assert _probe(url, "/pid", params={"keyword": "hunter2-secret"}).status_code == 200
    _probe(url, "/nowhere", params={"continuation_token": "tok-secret"})

    text = log.read_text()
    assert "GET /pid 200" in text
    assert "hunter2" not in text and "tok-secret" not in text and "/nowhere" not in text
