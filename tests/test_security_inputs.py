"""Input attacks on path and query of every route (docs/api.md parameters).

Requests are sent byte for byte with ``http.client`` (``requests``/urllib3 would normalise dot
segments and re-encode). Every answer is a 422 (or 404, or the empty page a valid but absent
run gets), never a 5xx; and every S3 request made on the caller's behalf, seen on the wire by a
recording proxy (boto3 and pyarrow alike), stays under the caller's own tenant prefix, while
every SQL statement on ``etl.logs`` has the caller's company bound.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from conftest import TEST_BUCKET
from etl_artifacts.s3.layout import RunRef
from marked_runs import MarkedRun, delete_marked_run, write_marked_run
from route_helpers import Route, authorized_routes, encode_run_id
from security_helpers import S3Proxy, outside_prefix

RUN_ID = "scheduled__2026-03-14T00:00:00+00:00"
RUN_DATE = dt.date(2026, 3, 14)
# The read routes of a run: these cases are sent as GETs to an unsealed run (the write routes and
# the manifest, 404 until a seal, have their own suites: tests/test_uploads_validation.py,
# tests/test_lifecycle_routes.py, tests/test_lifecycle_seal.py).
RUN_ROUTES: list[Route] = [
    r for r in authorized_routes() if r.is_run_scoped and r.method == "GET" and r.function != "SealFunction"
]
SEARCH_ROUTE: Route = next(r for r in authorized_routes() if r.path.endswith("/runs"))


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class RawClient:
    """GET exactly the bytes given as path (no normalisation, no re-encoding)."""

    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token = token

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.putrequest("GET", path, skip_accept_encoding=True)
            conn.putheader("Authorization", f"Bearer {self.token}")
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()


@dataclass
class Target:
    run: MarkedRun
    other: MarkedRun  # the same run id in another tenant: it must never be touched
    client: RawClient

    @property
    def company(self) -> str:
        return self.run.ref.id_company


@pytest.fixture(scope="module")
def target(base_env: dict[str, str], gateway_url: str, make_token: Any) -> Iterator[Target]:
    suffix = uuid.uuid4().hex[:8]
    dag_id = uuid.uuid4()
    run = write_marked_run(RunRef(f"inputs-{suffix}", dag_id, RUN_DATE, RUN_ID))
    other = write_marked_run(RunRef(f"victim-{suffix}", dag_id, RUN_DATE, RUN_ID))
    yield Target(run, other, RawClient(gateway_url, make_token(run.ref.id_company)))
    delete_marked_run(run.ref)
    delete_marked_run(other.ref)


def _path(
    route: Route,
    target: Target,
    *,
    dag_id: str | None = None,
    date: str | None = None,
    run_id: str | None = None,
    phase: str = "extract",
    kind: str = "extract-data",
) -> str:
    return (
        route.path.replace("{dag_id}", dag_id if dag_id is not None else str(target.run.ref.dag_id))
        .replace("{date}", date if date is not None else RUN_DATE.isoformat())
        .replace("{run_id}", run_id if run_id is not None else encode_run_id(RUN_ID))
        .replace("{phase}", phase)
        .replace("{artifact_kind}", kind)
    )


def assert_safe(
    answer: Answer, proxy: S3Proxy, target: Target, allowed: tuple[int, ...] = (404, 422)
) -> None:
    """Refused or absent, never a server error; JSON; S3 touched only under the caller's prefix."""
    assert answer.status < 500, answer.text
    assert answer.status in allowed, (answer.status, answer.text)
    assert answer.headers.get("content-type", "").startswith("application/json")
    body = answer.json()
    if answer.status == 422 and isinstance(body.get("detail"), list):
        assert all({"loc", "msg", "type"} <= set(item) for item in body["detail"])
    elif answer.status >= 400:
        assert set(body) == {"detail", "code", "status", "request_id"}
        assert body["status"] == answer.status
    assert target.other.marker not in answer.text
    assert outside_prefix(proxy.targets(), TEST_BUCKET, f"{target.company}/") == []


# -- run_id -----------------------------------------------------------------------------------------

# Raw path segments (already as they travel on the wire).
BAD_RUN_IDS: dict[str, str] = {
    "slash-encoded": "a%2Fb",
    "slash-encoded-lower": "a%2fb",
    "dotdot-slash-encoded": "..%2F..%2Fvictim",
    "dotdot-encoded-twice": "%252E%252E%252F",
    "nul": "run%00",
    "nul-only": "%00",
    "space-encoded": "a%20b",
    "plus-as-space-form": "a+b%20",
    "tab": "a%09b",
    "newline": "a%0Ab",
    "crlf-header-injection": "a%0D%0AX-Injected:%201",
    "double-encoded-plus": "scheduled__2026%252B00",
    "percent-alone": "100%",
    "percent-garbage": "%zz",
    "invalid-utf8": "%ff%fe",
    "overlong-utf8-slash": "%C0%AF",
    "unicode": "r%C3%A9sum%C3%A9",
    "fullwidth-slash": "a%EF%BC%8Fb",
    "too-long-251": "a" * 251,
    "too-long-encoded": "%41" * 251,
    "backslash": "a%5Cb",
    "question-encoded": "a%3Fb",
    "hash-encoded": "a%23b",
    "star": "a*b",
    "quote": "a%27b",
    "trailing-newline": "abc%0A",
    "trailing-newline-raw-cr": "abc%0D",
    # '.' and '..' match the API's pattern but are dot segments: refused (see common.check_run_id).
    "dot": ".",
    "dotdot": "..",
    "dot-encoded": "%2e",
    "dotdot-encoded": "%2E%2E",
}


@pytest.mark.parametrize("case", sorted(BAD_RUN_IDS))
def test_bad_run_id_is_422(target, via_proxy, sql_spy, case):
    for route in RUN_ROUTES:
        answer = target.client.get(_path(route, target, run_id=BAD_RUN_IDS[case]))
        assert answer.status == 422, (route.path, answer.text)
        assert_safe(answer, via_proxy, target, allowed=(422,))
    # Refused before any storage or database access.
    assert via_proxy.targets() == []
    assert sql_spy.statements == []


# Segments that change the route's shape (a literal '/' or a dot segment): no route, or another
# route of the SAME tenant's run; never a server error, never outside the tenant.
ROUTE_CHANGING_RUN_IDS = {
    "literal-slash": "a/b",
    "dotdot-then-victim": "../../../../victim",
    "dot-then-run": f"./{encode_run_id(RUN_ID)}",
    "empty": "",
    "trailing-slash": "x/",
}


@pytest.mark.parametrize("case", sorted(ROUTE_CHANGING_RUN_IDS))
def test_route_changing_run_id_never_escapes(target, via_proxy, case):
    for route in RUN_ROUTES:
        answer = target.client.get(_path(route, target, run_id=ROUTE_CHANGING_RUN_IDS[case]))
        # The artifacts list of an absent run is an empty 200.
        assert_safe(answer, via_proxy, target, allowed=(200, 404, 422))
        if answer.status == 200:
            assert target.run.marker not in answer.text, "a dot segment must not reach the real run"


def test_longest_valid_run_id_is_accepted(target, via_proxy):
    route = next(r for r in RUN_ROUTES if r.path.endswith("{run_id}"))
    answer = target.client.get(_path(route, target, run_id="a" * 250))
    assert_safe(answer, via_proxy, target, allowed=(404,))
    assert answer.json()["code"] == "run_not_found"


def test_run_id_is_decoded_exactly_once(target, via_proxy):
    route = next(r for r in RUN_ROUTES if r.path.endswith("/phases/{phase}"))
    # Once-encoded: the run itself.
    once = target.client.get(_path(route, target, run_id=quote(RUN_ID, safe="")))
    assert once.status == 200, once.text
    # Twice-encoded: "%2B" after one decoding, which is not a valid run id.
    twice = target.client.get(_path(route, target, run_id=quote(quote(RUN_ID, safe=""), safe="")))
    assert twice.status == 422
    assert_safe(twice, via_proxy, target, allowed=(422,))


# -- dag_id, date, phase, artifact kind ----------------------------------------------------------------

BAD_DAG_IDS = {
    "not-uuid": "not-a-uuid",
    "dotdot": "..%2F..",
    "sql": "1%27%20OR%20%271%27=%271",
    "short": "7d0c2a9e-3b1f-4e7a-9c55",
    "braces": "%7B7d0c2a9e-3b1f-4e7a-9c55-2f8e1d6b4a10%7D",
    "nul": "7d0c2a9e-3b1f-4e7a-9c55-2f8e1d6b4a10%00",
    "too-long": "7d0c2a9e-3b1f-4e7a-9c55-2f8e1d6b4a10" * 30,
    "integer": "12345",
}


@pytest.mark.parametrize("case", sorted(BAD_DAG_IDS))
def test_bad_dag_id_is_422(target, via_proxy, sql_spy, case):
    for route in [*RUN_ROUTES, SEARCH_ROUTE]:
        path = _path(route, target, dag_id=BAD_DAG_IDS[case])
        if route is SEARCH_ROUTE:
            path += f"?date_from={RUN_DATE}&date_to={RUN_DATE}"
        assert_safe(target.client.get(path), via_proxy, target, allowed=(404, 422))
    assert sql_spy.statements == []
    assert via_proxy.targets() == []


BAD_DATES = [
    "2026-02-30",
    "2026-13-01",
    "2026-00-10",
    "20260314",
    "2026-3-14",
    "14-03-2026",
    "2026-03-14%2F..",
    "2026-03-14%00",
    "..",
    "0000-01-01",
    "2026-02-29",
    "+2026-03-14",
]


@pytest.mark.parametrize("route", RUN_ROUTES, ids=lambda r: r.path[-28:])
def test_impossible_dates_are_422(target, via_proxy, route):
    for date in BAD_DATES:
        via_proxy.clear()
        answer = target.client.get(_path(route, target, date=date))
        assert_safe(answer, via_proxy, target, allowed=(404, 422))
        assert answer.status == 422 or date == "..", (date, answer.status)


@pytest.mark.parametrize(
    "phase",
    [
        "EXTRACT",
        "event",
        "extract%00",
        "extract%2F..",
        "..",
        "%2E%2E",
        "load%20",
        "",
        "transform%20",
        "extract;load",
    ],
)
def test_bad_phase_is_422(target, via_proxy, phase):
    for route in (r for r in RUN_ROUTES if "{phase}" in r.path):
        answer = target.client.get(_path(route, target, phase=phase))
        assert_safe(answer, via_proxy, target, allowed=(404, 422))
    assert via_proxy.targets() == []


@pytest.mark.parametrize(
    "kind",
    [
        "extract-data%2F..%2F..%2Fvictim",
        "..%2F..%2Fvictim",
        "extract-nope",
        "event-event%00",
        "extract-data.",
        "EXTRACT-DATA",
        "extract--data",
        "index",
        "event-queue_data",
        "x" * 300,
        "extract-data%0D%0AX-Evil:%201",
    ],
)
def test_bad_artifact_kind_is_422(target, via_proxy, kind):
    route = next(r for r in RUN_ROUTES if "{artifact_kind}" in r.path)
    answer = target.client.get(_path(route, target, kind=kind))
    assert_safe(answer, via_proxy, target, allowed=(422,))
    body = answer.json()
    assert isinstance(body["detail"], list) or body["code"] == "unknown_artifact_kind"
    assert via_proxy.targets() == []


# -- query ----------------------------------------------------------------------------------------------

HUGE = str(10**30)
BAD_PAGE_QUERIES = [
    f"page={HUGE}",
    "page=-1",
    "page=1e3",
    "page=NaN",
    "page=",
    "page=0x10",
    "page=1.5",
    "page=%00",
    f"limit={HUGE}",
    "limit=0",
    "limit=-5",
    "limit=1001",
    "limit=",
    "limit=99999999999999999999",
    f"attempt={HUGE}",
    "attempt=0",
    "attempt=-1",
    "attempt=2147483648",
    "page=1&page=2",  # a repeated parameter is a comma-joined value at API Gateway: not an int
]


@pytest.mark.parametrize("route", [r for r in RUN_ROUTES if "/phases/" in r.path], ids=lambda r: r.path[-24:])
def test_out_of_bounds_page_queries_are_422(target, via_proxy, route):
    for query in BAD_PAGE_QUERIES:
        answer = target.client.get(_path(route, target) + "?" + query)
        assert_safe(answer, via_proxy, target, allowed=(422,))
        assert isinstance(answer.json()["detail"], list), query


def test_a_page_far_past_the_end_is_an_empty_page(target, via_proxy):
    route = next(r for r in RUN_ROUTES if r.path.endswith("/data"))
    answer = target.client.get(_path(route, target) + "?page=2147483647&limit=1000")
    assert answer.status == 200, answer.text
    body = answer.json()
    assert body["rows"] == [] and body["has_more"] is False and body["total_rows"] == 60
    assert outside_prefix(via_proxy.targets(), TEST_BUCKET, f"{target.company}/") == []


def _search(target: Target, query: str) -> str:
    return f"/api/v1/dags/{target.run.ref.dag_id}/runs?date_from={RUN_DATE}&date_to={RUN_DATE}&{query}"


SEARCH_BAD_QUERIES = [
    "page=-1",
    "page=" + "9" * 5000,
    "page=1e3",
    f"limit={HUGE}",
    "limit=0",
    "limit=101",
    "extract_status=SUCCESS",
    "extract_status=success%27--",
    "load_status=",
    "extract_keyword=",
    "extract_keyword=" + "k" * 201,
    "event_keyword=a%00b",
    "run_ids=" + ",".join(f"r{i}" for i in range(101)),
    "run_ids=a%2Fb",
    "run_ids=..%2F",
    "run_ids=%25",
    "run_ids=" + "a" * 251,
]


@pytest.mark.parametrize("query", SEARCH_BAD_QUERIES)
def test_search_query_attacks_are_422(target, via_proxy, sql_spy, query):
    answer = target.client.get(_search(target, query))
    assert_safe(answer, via_proxy, target, allowed=(422,))
    assert sql_spy.statements == []


def test_search_page_far_past_the_end_is_an_empty_page(target, via_proxy, sql_spy):
    # The API gives `page` no upper bound: a page past the end is empty, never an error.
    for page in ("2147483647", "9223372036854775807", HUGE):
        answer = target.client.get(_search(target, f"page={page}"))
        assert answer.status == 200, (page, answer.text)
        assert answer.json()["items"] == []
    assert sql_spy.unscoped(target.company) == []


@pytest.mark.parametrize(
    "dates",
    [
        "date_from=2026-03-15&date_to=2026-03-14",
        "date_from=2024-01-01&date_to=2026-03-14",
        "date_from=0001-01-01&date_to=9999-12-31",
    ],
)
def test_invalid_date_ranges_are_422_invalid_date_range(target, via_proxy, sql_spy, dates):
    path = f"/api/v1/dags/{target.run.ref.dag_id}/runs?{dates}"
    answer = target.client.get(path)
    assert_safe(answer, via_proxy, target, allowed=(422,))
    assert answer.json()["code"] == "invalid_date_range"
    assert sql_spy.statements == []


# Keywords that mean something to SQL LIKE, regular expressions, JSON or shells: all literal.
META_KEYWORDS = [
    "'; DROP TABLE etl.logs; --",
    "' OR '1'='1",
    "%",
    "_",
    "\\",
    "%%",
    "\\%",
    "[a-z]",
    ".*",
    "(a+)+$",
    "^",
    "$",
    "|",
    "a|b",
    "*",
    "?",
    "{1,3}",
    "\\d+",
    "${jndi:ldap://x}",
    "$(id)",
    "`id`",
    '"',
    "'",
    "\u202e",
    "😀",
    "null",
    "true",
    "{}",
    "[]",
    "ÄÖÜ",
    "ǅ",
    "İ",
]


def test_search_keywords_are_literal_and_tenant_scoped(target, via_proxy, sql_spy):
    for keyword in META_KEYWORDS:
        sql_spy.clear()
        answer = target.client.get(_search(target, f"extract_keyword={quote(keyword, safe='')}"))
        assert answer.status == 200, (keyword, answer.text)
        body = answer.json()
        # Only the caller's one run can ever match, whatever the pattern.
        assert body["total"] <= 1
        assert {item["run_id"] for item in body["items"]} <= {RUN_ID}
        assert target.other.marker not in answer.text
        assert sql_spy.statements and sql_spy.unscoped(target.company) == []
    assert via_proxy.targets() == []
    # Literal semantics: '%' and '.*' are not wildcards (the caller's extract JSON has neither).
    for keyword, expected in (("%", 0), (".*", 0), ("(a+)+$", 0), ("_data_path", 1), ("extract done", 1)):
        body = target.client.get(_search(target, f"extract_keyword={quote(keyword, safe='')}")).json()
        assert body["total"] == expected, keyword


def test_data_and_log_keywords_are_literal(target, via_proxy):
    data = next(r for r in RUN_ROUTES if r.path.endswith("/data"))
    logs = next(r for r in RUN_ROUTES if r.path.endswith("/logs"))
    for keyword in META_KEYWORDS[::2]:
        for route in (data, logs):
            answer = target.client.get(_path(route, target) + f"?keyword={quote(keyword, safe='')}")
            assert answer.status == 200, (route.path, keyword, answer.text)
            assert target.other.marker not in answer.text
    # Every data row's note holds "100% _under\score": literal '%', '_' and '\' match all 60 rows,
    # regex-looking keywords match none.
    expected = {"100%": 60, "%": 60, "_under\\score": 60, "\\": 60, "%%": 0, ".*": 0, "[a-z]": 0, "(a+)+$": 0}
    for keyword, total in expected.items():
        body = target.client.get(_path(data, target) + f"?keyword={quote(keyword, safe='')}").json()
        assert body["total_rows"] == total, keyword
    assert outside_prefix(via_proxy.targets(), TEST_BUCKET, f"{target.company}/") == []


@pytest.mark.parametrize("keyword", ["a%00b", "a%1Fb", "%0A", "a%0D%0Ab", "%7F", "%C2%85"])
def test_data_keyword_with_control_characters_is_422(target, via_proxy, keyword):
    data = next(r for r in RUN_ROUTES if r.path.endswith("/data"))
    assert_safe(
        target.client.get(_path(data, target) + f"?keyword={keyword}"), via_proxy, target, allowed=(422,)
    )


@pytest.mark.parametrize(
    "query",
    [
        "chunk=-1",
        f"chunk={HUGE}",
        "expires_in=0",
        "expires_in=3601",
        f"expires_in={HUGE}",
        "attempt=0",
        "expires_in=1e3",
    ],
)
def test_presign_query_attacks_are_422(target, via_proxy, query):
    route = next(r for r in RUN_ROUTES if "{artifact_kind}" in r.path)
    # A chunk beyond any written one names no object: 404 (the API bounds chunk below only).
    allowed = (404, 422) if query.startswith("chunk=1") else (422,)
    assert_safe(target.client.get(_path(route, target) + "?" + query), via_proxy, target, allowed=allowed)


def test_forged_continuation_tokens_are_422(target, via_proxy):
    logs = next(r for r in RUN_ROUTES if r.path.endswith("/logs"))
    for token in ["x", "a" * 2048, "..%2F..", "eyJhbGciOiJub25lIn0.e30.", "%00", "{}", "0" * 64]:
        answer = target.client.get(
            _path(logs, target) + f"?continuation_token={token}", headers={"Accept": "application/x-ndjson"}
        )
        assert_safe(answer, via_proxy, target, allowed=(422,))


# -- headers ----------------------------------------------------------------------------------------

ACCEPT_ATTACKS = [
    "application/x-ndjson%0D%0AX-Injected: 1",
    "application/x-ndjson\tX-Injected: 1",
    "application/x-ndjson, text/html;q=0.9",
    "application/x-ndjson;q=0",
    "text/html",
    "*/*",
    'application/x-ndjson; charset="utf-8\\""',
    "application/" + "x" * 6000,
    "application/x-ndjson,application/x-ndjson,application/x-ndjson",
    "",
]


@pytest.mark.parametrize("accept", ACCEPT_ATTACKS)
def test_accept_header_attacks(target, via_proxy, accept):
    for route in RUN_ROUTES:
        answer = target.client.get(_path(route, target), headers={"Accept": accept})
        assert answer.status < 500, (route.path, answer.text)
        expected = 302 if route.path.endswith("/download") else 200  # the redirect to a presigned URL
        assert answer.status == expected, (route.path, answer.status, answer.text)
        assert "x-injected" not in answer.headers
        content_type = answer.headers.get("content-type", "")
        assert content_type.split(";")[0] in ("application/json", "application/x-ndjson")
        assert "\r" not in content_type and "\n" not in content_type
        assert target.other.marker not in answer.text
    assert outside_prefix(via_proxy.targets(), TEST_BUCKET, f"{target.company}/") == []


def test_header_injection_with_raw_crlf_is_not_reflected(target, via_proxy, gateway_url):
    # A raw CR LF inside a header value (http.client refuses to send one: use a socket).
    import socket

    route = next(r for r in RUN_ROUTES if r.path.endswith("/logs"))
    request = (
        f"GET {_path(route, target)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {target.client.token}\r\n"
        "Accept: application/x-ndjson\r\n X-Injected: folded\r\nConnection: close\r\n\r\n"
    ).encode()
    parts = urlsplit(gateway_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, _ = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert status < 500
    assert b"x-injected" not in head.lower()


# -- strict forms: one way to write each value ------------------------------------

# Each was read leniently before (1_0 as 10, +1 / " 1" / 1.0 as 1): now 422 everywhere.
LENIENT_INTS = ["1_0", "%2B1", "%201", "1%20", "1.0", "1e0", "%D9%A1", "0x1", "1,"]
INT_QUERIES: dict[str, tuple[str, ...]] = {
    "/phases/{phase}": ("attempt", "page", "limit"),
    "/data": ("attempt", "page", "limit"),
    "/errors": ("attempt", "page", "limit"),
    "/logs": ("attempt", "page", "limit"),
    "/artifacts/{artifact_kind}": ("attempt", "chunk", "expires_in"),
    "/download": ("attempt", "chunk", "expires_in"),
    "/artifacts": ("limit",),
}


def _int_routes() -> list[tuple[Route, str]]:
    return [
        (route, name)
        for route in RUN_ROUTES
        for suffix, names in INT_QUERIES.items()
        if route.path.endswith(suffix)
        for name in names
    ]


@pytest.mark.parametrize(
    ("route", "name"), _int_routes(), ids=lambda v: v if isinstance(v, str) else v.path[-26:]
)
def test_integers_are_plain_decimal_digits(target, via_proxy, route, name):
    for value in LENIENT_INTS:
        answer = target.client.get(_path(route, target) + f"?{name}={value}")
        assert answer.status == 422, (name, value, answer.text)
        assert_safe(answer, via_proxy, target, allowed=(422,))
        assert answer.json()["detail"][0]["loc"] == ["query", name]
    # The control: the same parameter written plainly (leading zeros are still decimal digits).
    answer = target.client.get(_path(route, target) + f"?{name}=01")
    assert answer.status in (200, 302, 404), (name, answer.text)
    assert (
        via_proxy.targets() == []
        or outside_prefix(via_proxy.targets(), TEST_BUCKET, f"{target.company}/") == []
    )


@pytest.mark.parametrize("name", ["page", "limit"])
def test_search_integers_are_plain_decimal_digits(target, via_proxy, sql_spy, name):
    for value in LENIENT_INTS:
        answer = target.client.get(_search(target, f"{name}={value}"))
        assert answer.status == 422, (name, value, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["query", name]
    assert sql_spy.statements == []
    assert target.client.get(_search(target, f"{name}=01")).status == 200


# Each was read as a date before: a datetime, a unix time, ISO week or ordinal forms.
LENIENT_DATES = [
    "2026-03-14T00:00:00Z",
    "2026-03-14T00:00:00",
    "2026-03-14%2000:00",
    "1773446400",
    "1773446400.0",
    "2026-W11-6",
    "%202026-03-14",
    "2026-03-14%20",
]


@pytest.mark.parametrize("route", RUN_ROUTES, ids=lambda r: r.path[-28:])
def test_path_dates_are_exactly_yyyy_mm_dd(target, via_proxy, route):
    for date in LENIENT_DATES:
        answer = target.client.get(_path(route, target, date=date))
        assert answer.status == 422, (date, answer.text)
        assert_safe(answer, via_proxy, target, allowed=(422,))
    assert via_proxy.targets() == []


@pytest.mark.parametrize("name", ["date_from", "date_to"])
def test_search_dates_are_exactly_yyyy_mm_dd(target, via_proxy, sql_spy, name):
    for date in LENIENT_DATES:
        dates = {"date_from": RUN_DATE.isoformat(), "date_to": RUN_DATE.isoformat(), name: date}
        query = "&".join(f"{key}={value}" for key, value in dates.items())
        answer = target.client.get(f"/api/v1/dags/{target.run.ref.dag_id}/runs?{query}")
        assert answer.status == 422, (name, date, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["query", name]
    assert sql_spy.statements == []


def _lenient_uuids(dag_id: uuid.UUID) -> dict[str, str]:
    return {
        "urn": f"urn:uuid:{dag_id}",
        "urn-encoded": f"urn%3Auuid%3A{dag_id}",
        "unhyphenated": dag_id.hex,
        "braces": f"%7B{dag_id}%7D",
        "hyphens-moved": dag_id.hex[:4] + "-" + dag_id.hex[4:8] + str(dag_id)[8:],
        "leading-space": f"%20{dag_id}",
        "trailing-space": f"{dag_id}%20",
    }


def test_dag_id_is_the_hyphenated_uuid(target, via_proxy, sql_spy):
    dag_id = target.run.ref.dag_id
    for route in [*RUN_ROUTES, SEARCH_ROUTE]:
        suffix = f"?date_from={RUN_DATE}&date_to={RUN_DATE}" if route is SEARCH_ROUTE else ""
        for case, value in _lenient_uuids(dag_id).items():
            answer = target.client.get(_path(route, target, dag_id=value) + suffix)
            assert answer.status == 422, (route.path, case, answer.text)
            assert_safe(answer, via_proxy, target, allowed=(422,))
        # Either case is the same UUID (and so the same run).
        upper = target.client.get(_path(route, target, dag_id=str(dag_id).upper()) + suffix)
        assert upper.status in (200, 302), (route.path, upper.text)  # 302: the download redirect
    assert sql_spy.unscoped(target.company) == []


@pytest.mark.parametrize(
    "query", ["attempt=2147483648", "chunk=2147483648", f"chunk={HUGE}", f"attempt={HUGE}"]
)
def test_artifact_attempt_and_chunk_have_the_phases_bounds(target, via_proxy, query):
    route = next(r for r in RUN_ROUTES if r.path.endswith("{artifact_kind}"))
    answer = target.client.get(_path(route, target) + "?" + query)
    assert_safe(answer, via_proxy, target, allowed=(422,))
    assert answer.json()["detail"][0]["type"] == "less_than_equal"
    assert via_proxy.targets() == []
