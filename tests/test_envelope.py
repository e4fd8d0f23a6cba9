"""The one response path (docs/api.md headers, docs/limits.md payload budget), unit level: Accept parsing,
the payload counted as Lambda counts it, gzip, Cache-Control/Vary, 413 with ``max_limit``, the
run id as API Gateway hands it over, and the deadline. Through ``serve`` see test_envelope_serve.py.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import string
from typing import Any

import pytest
from etl_artifacts.api import envelope
from etl_artifacts.api.envelope import (
    LAMBDA_PAYLOAD_MAX,
    admits_gzip,
    body_cost,
    fit_result,
    negotiate,
    payload_size,
    quality_list,
)
from etl_artifacts.api.raw_request import routing_event
from etl_artifacts.deadline import Deadline
from etl_artifacts.errors import ApiError, DeadlineExceeded

NDJSON = "application/x-ndjson"
JSON = "application/json"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        (NDJSON, NDJSON),
        (f"{NDJSON};q=0.5, {JSON};q=0.4", NDJSON),
        (f"{NDJSON};q=0", JSON),
        (f"{NDJSON};q=0.", JSON),
        (f"{NDJSON};q=0.000", JSON),
        (f"{NDJSON};q=abc", JSON),
        (f"{NDJSON};q=1.5", JSON),
        (f"{NDJSON};q=-1", JSON),
        (f"{NDJSON};q=0.0001", JSON),
        (f"{NDJSON} ; Q=0.3", NDJSON),
        (f"{JSON}, {NDJSON};q=0.9", JSON),
        ("text/html", JSON),
    ],
)
def test_one_accept_parser_decides_the_format(accept, chosen):
    assert negotiate(accept, (JSON, NDJSON)) == chosen


@pytest.mark.parametrize(
    ("header", "admitted"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZIP;q=0.1", True),
        ("gzip;q=0", False),
        ("gzip;q=0.", False),
        ("gzip;q=0.000", False),
        ("gzip;q=2", False),
        ("deflate", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("x-gzip", True),
    ],
)
def test_gzip_only_when_admitted_with_q_above_zero(header, admitted):
    assert admits_gzip(header) is admitted


def test_invalid_qvalues_count_as_zero():
    assert quality_list("a;q=1.0001, b;q=0.5, c") == [("a", 0.0), ("b", 0.5), ("c", 1.0)]


def _text(n: int, seed: int = 1) -> str:
    rnd = random.Random(seed)
    alphabet = string.ascii_letters + '"\\\n\t\x01é€😀/<>'
    return "".join(rnd.choice(alphabet) for _ in range(n))


def test_payload_is_counted_as_lambda_serializes_it():
    result = {"statusCode": 200, "headers": {"X-A": "é"}, "body": _text(5000), "isBase64Encoded": False}
    # Lambda's Python runtime serializes with json.dumps (ASCII, \uXXXX for non-ASCII).
    assert payload_size(result) == len(json.dumps(result))


def test_body_cost_is_additive_so_producers_can_count_row_by_row():
    rows = [json.dumps({"m": _text(50, seed)}, ensure_ascii=False) + "\n" for seed in range(40)]
    assert sum(body_cost(row) for row in rows) == body_cost("".join(rows))
    # Quotes, backslashes and non-ASCII cost more than their bytes: the raw length under-counts.
    assert body_cost('"\\é😀\n') == len(json.dumps('"\\é😀\n')) - 2 > len('"\\é😀\n'.encode())


def _event(accept_encoding: str | None = None, tenant: bool = True, route: str = "GET /x") -> dict[str, Any]:
    headers = {"accept-encoding": accept_encoding} if accept_encoding is not None else {}
    context: dict[str, Any] = {"authorizer": {"lambda": {"id_company": "acme"}}} if tenant else {}
    return {"routeKey": route, "headers": headers, "requestContext": context}


def _raise(exc: ApiError) -> dict[str, Any]:
    raise exc


def _ok(body: str) -> dict[str, Any]:
    return {"statusCode": 200, "headers": {"Content-Type": JSON}, "body": body, "isBase64Encoded": False}


def test_tenant_answers_are_not_cached_and_vary_on_accept_encoding():
    out = fit_result(_event(), _ok('{"a":1}'), _raise, envelope.begin_invocation())
    assert out["headers"]["Cache-Control"] == "no-store"
    assert out["headers"]["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in out["headers"]

    hints = envelope.begin_invocation()
    negotiate("application/json", (JSON, NDJSON))
    out = fit_result(_event(), _ok('{"a":1}'), _raise, hints)
    assert out["headers"]["Vary"] == "Accept, Accept-Encoding"

    public = fit_result(_event(tenant=False), _ok('{"status":"ok"}'), _raise, envelope.begin_invocation())
    assert "Cache-Control" not in public["headers"]

    hints = envelope.begin_invocation()
    envelope.never_store()
    link = fit_result(_event(tenant=False), _ok('{"url":"u"}'), _raise, hints)
    assert link["headers"]["Cache-Control"] == "no-store"


def test_gzip_is_base64_in_the_payload_and_refused_at_q0():
    hints = envelope.begin_invocation()
    body = json.dumps({"rows": [_text(100, s) for s in range(50)]})
    zipped = fit_result(_event("gzip"), _ok(body), _raise, hints)
    assert zipped["isBase64Encoded"] is True
    assert zipped["headers"]["Content-Encoding"] == "gzip"
    assert gzip.decompress(base64.b64decode(zipped["body"])).decode() == body

    plain = fit_result(_event("gzip;q=0"), _ok(body), _raise, hints)
    assert plain["body"] == body and "Content-Encoding" not in plain["headers"]


def _page(rows: list[dict[str, Any]], limit: int) -> str:
    return json.dumps(
        {
            "columns": [{"name": "id", "type": "int64"}, {"name": "blob", "type": "string"}],
            "rows": rows,
            "page": 0,
            "limit": limit,
            "total_rows": 5000,
            "has_more": True,
        },
        separators=(",", ":"),
    )


def _too_large(event: dict[str, Any], body: str, hints: envelope.Hints | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        fit_result(event, _ok(body), _raise, hints or envelope.begin_invocation())
    assert caught.value.status == 413 and caught.value.code == "response_too_large"
    return caught.value


@pytest.mark.parametrize("accept_encoding", [None, "gzip"])
def test_page_too_large_tells_the_largest_limit_that_fits(accept_encoding):
    rnd = random.Random(7)
    # Random text barely compresses: 1,000 rows x 9 KB overflow even gzipped.
    rows = [{"id": i, "blob": "".join(rnd.choices(string.printable, k=9000))} for i in range(1000)]
    error = _too_large(_event(accept_encoding), _page(rows, 1000))
    max_limit = error.body("r")["max_limit"]
    assert 0 < max_limit < 1000

    def fits(k: int) -> bool:
        try:
            out = fit_result(
                _event(accept_encoding), _ok(_page(rows[:k], k)), _raise, envelope.begin_invocation()
            )
        except ApiError:
            return False
        return payload_size(out) <= LAMBDA_PAYLOAD_MAX

    assert fits(max_limit)
    assert not fits(max_limit + 2)  # the largest, within a row of slack for the has_more flag


def test_page_whose_first_row_does_not_fit_points_at_the_download():
    rows = [{"id": 0, "blob": "x" * (LAMBDA_PAYLOAD_MAX + 10)}]
    hints = envelope.begin_invocation()
    envelope.advise_page("extract-errors")  # what the errors route says of its pages
    error = _too_large(_event(), _page(rows, 50), hints)
    body = error.body("r")
    assert "max_limit" not in body
    assert "-errors" in body["detail"] and "download" in body["detail"]


def test_event_too_large_points_at_the_event_artifacts():
    from etl_artifacts.api.phases_routes import _EVENT_TOO_LARGE

    hints = envelope.begin_invocation()
    envelope.advise_too_large(_EVENT_TOO_LARGE)  # what the event route says of its answer
    error = _too_large(_event(), json.dumps({"queue_data": ["x" * LAMBDA_PAYLOAD_MAX], "event": None}), hints)
    assert "event-queue-data" in error.detail and "event-event" in error.detail


def test_routing_never_decodes_a_second_time():
    event = {
        "routeKey": "GET /api/v1/dags/{dag_id}/runs/{date}/{run_id}",
        "rawPath": "/api/v1/dags/d/runs/2026-11-20/a%3Ab",
        "pathParameters": {"dag_id": "d", "date": "2026-11-20", "run_id": "a%3Ab"},
    }
    # The client encoded twice (%253A): API Gateway decoded once, to a run id holding '%'.
    assert routing_event(event)["rawPath"] == "/api/v1/dags/d/runs/2026-11-20/a%253Ab"
    event["pathParameters"]["run_id"] = "manual__2026-11-20T10:15:30+00:00"
    assert routing_event(event)["rawPath"].endswith("/manual__2026-11-20T10:15:30+00:00")


def test_deadline_keeps_its_margin():
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 2_500

    deadline = Deadline.from_context(Context())
    assert deadline.remaining_s() <= 0.5
    deadline.check()
    with pytest.raises(DeadlineExceeded) as caught:
        deadline.check(needed_s=1.0)
    assert caught.value.status == 503 and caught.value.retry_after > 0
    Deadline(None).check(needed_s=1e9)
