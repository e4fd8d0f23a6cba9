"""The artifacts listing a page at a time (docs/api.md: ``limit``, ``cursor``, ``next_cursor``) and
the download redirect, end to end: local gateway with real JWTs -> ArtifactsFunction -> moto's
S3 server over HTTP; redirect targets are fetched with a real HTTP GET."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import pytest
import requests
from artifacts_helpers import ALL_KINDS, amz_date, md5_hex, new_run, parse_iso, query_params
from conftest import ApiClient

FILENAME_RE = re.compile(r'^attachment; filename="([A-Za-z0-9._-]+\.parquet)"$')


def list_all(api: ApiClient, path: str, limit: int | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following ``next_cursor`` until it is null."""
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {} if limit is None else {"limit": limit}
    while True:
        response = api.get(path, params=params, **kwargs)
        assert response.status_code == 200, response.text[:300]
        body = response.json()
        assert body["count"] == len(body["artifacts"])
        pages.append(body)
        if body["next_cursor"] is None:
            return pages
        params = {**params, "cursor": body["next_cursor"]}


def assert_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.json()["code"] == code


# -- pages -----------------------------------------------------------------------------------------------


# Three default pages (1,000 items, one S3 LIST page each), the last one partial: every page
# boundary case of a larger run, at a fraction of its uploads.
BULK_OBJECTS = 2_500


@pytest.mark.slow
def test_a_run_of_several_pages_lists_in_pages_covering_every_key_once_in_order(api):
    # Given a run holding 2,500 parquet objects over two kinds (and one that is not parquet)
    stored = new_run(run_id="bulk.pages")
    keys = [f"extract/attempt=1/data_{chunk:04d}.parquet" for chunk in range(BULK_OBJECTS - 10)]
    keys += [f"load/attempt=1/logs_{chunk:03d}.parquet" for chunk in range(10)]
    stored.put_many(keys, workers=24)
    stored.put("extract/attempt=1/_SUCCESS", b"")

    # When the listing is followed page by page with the default limit
    pages = list_all(api, stored.path())

    # Then it takes at least 3 pages of at most 1,000 items, and every key comes exactly once, in order
    assert len(pages) >= -(-BULK_OBJECTS // 1_000)
    assert all(page["count"] <= 1_000 for page in pages)
    listed = [item["key"] for page in pages for item in page["artifacts"]]
    assert listed == sorted(keys)
    # and each page's URLs download their own object
    for page in (pages[0], pages[-1]):
        item = page["artifacts"][-1]
        assert requests.get(item["url"], timeout=30).content == stored.objects[item["key"]]


def test_small_limit_pages_through_every_kind(api):
    stored = new_run()
    stored.put_many(list(ALL_KINDS.values()))

    pages = list_all(api, stored.path(), limit=4)

    assert [page["count"] for page in pages[:-1]] == [4] * (len(pages) - 1)
    assert len(pages) == -(-len(ALL_KINDS) // 4)
    assert [item["key"] for page in pages for item in page["artifacts"]] == sorted(ALL_KINDS.values())
    assert pages[-1]["next_cursor"] is None


def test_one_page_is_one_s3_list_of_at_most_limit_keys(api, monkeypatch):
    # Given a run of 30 objects, and a spy on the ArtifactsFunction's S3 LIST calls (in-process gateway)
    stored = new_run()
    stored.put_many([f"extract/attempt=1/data_{chunk:03d}.parquet" for chunk in range(30)])
    from etl_artifacts.artifacts import service

    calls: list[dict[str, Any]] = []
    real = service._list_page

    def spy(bucket: str, prefix: str, limit: int, start_after: str | None) -> dict[str, Any]:
        calls.append({"limit": limit, "start_after": start_after})
        return real(bucket, prefix, limit, start_after)

    monkeypatch.setattr(service, "_list_page", spy)

    # When two pages of 10 are asked
    first = api.get(stored.path(), params={"limit": 10}).json()
    second = api.get(stored.path(), params={"limit": 10, "cursor": first["next_cursor"]}).json()

    # Then each response made exactly one LIST, the second starting after the first page's last key
    assert len(calls) == 2, "the test gateway runs functions in this process"
    assert calls[0] == {"limit": 10, "start_after": None}
    assert calls[1]["start_after"] == stored.prefix + first["artifacts"][-1]["key"]
    assert [item["chunk"] for item in second["artifacts"]] == list(range(10, 20))


def test_empty_and_foreign_runs_are_one_empty_page(api):
    stored = new_run(company="acme")
    stored.put("extract/attempt=1/data_000.parquet")

    foreign = api.get(stored.path(), company="globex").json()
    empty = api.get(new_run().path()).json()

    for body in (foreign, empty):
        assert (body["count"], body["artifacts"], body["next_cursor"]) == (0, [], None)


def test_a_cursor_is_bound_to_tenant_run_and_limit(api):
    # Given acme's run with more objects than one page of 2, and a cursor into it
    stored = new_run(company="acme")
    stored.put_many([f"extract/attempt=1/data_{chunk:03d}.parquet" for chunk in range(5)])
    other_run = new_run(company="acme")
    other_run.put_many([f"extract/attempt=1/data_{chunk:03d}.parquet" for chunk in range(5)])
    cursor = api.get(stored.path(), params={"limit": 2}).json()["next_cursor"]
    assert cursor
    assert api.get(stored.path(), params={"limit": 2, "cursor": cursor}).status_code == 200

    # Then the same cursor with another limit, run or tenant is 422 invalid_cursor
    assert_error(api.get(stored.path(), params={"limit": 3, "cursor": cursor}), 422, "invalid_cursor")
    assert_error(api.get(stored.path(), params={"cursor": cursor}), 422, "invalid_cursor")
    assert_error(api.get(other_run.path(), params={"limit": 2, "cursor": cursor}), 422, "invalid_cursor")
    foreign = api.get(stored.path(), params={"limit": 2, "cursor": cursor}, company="globex")
    assert_error(foreign, 422, "invalid_cursor")


def _altered(cursor: str) -> list[str]:
    payload, mac = cursor.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    forged_payload = base64.urlsafe_b64encode(raw.replace(b"data_001", b"data_000")).rstrip(b"=").decode()
    return [
        f"{forged_payload}.{mac}",  # another position, old MAC
        f"{payload}.{mac[:-1]}",  # truncated MAC
        f"{payload}.{mac}=",  # padding: another spelling
        f"{payload}={mac}",
        f"{payload}.{mac}.x",
        payload,
        "." + mac,
        f"{payload}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        "not a cursor",
        "%00",
    ]


def test_forged_or_malformed_cursors_are_422_invalid_cursor(api):
    stored = new_run()
    stored.put_many([f"extract/attempt=1/data_{chunk:03d}.parquet" for chunk in range(4)])
    cursor = api.get(stored.path(), params={"limit": 2}).json()["next_cursor"]

    for forged in _altered(cursor):
        assert_error(api.get(stored.path(), params={"limit": 2, "cursor": forged}), 422, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc"])
def test_limit_out_of_bounds_is_422_validation_shape(api, limit):
    response = api.get(new_run().path(), params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_cursor_length_is_bounded(api):
    response = api.get(new_run().path(), params={"cursor": "A" * 9_000})
    assert response.status_code == 422


# -- download redirect ---------------------------------------------------------------------------------


def test_download_redirects_to_a_fresh_url_that_downloads_byte_for_byte(api):
    # Given an artifact of a run
    stored = new_run()
    data = stored.put("extract/attempt=2/data_007.parquet")

    # When its download link is asked (without following the redirect)
    response = api.get(
        stored.path("/artifacts/extract-data/download"),
        params={"attempt": 2, "chunk": 7},
        allow_redirects=False,
    )

    # Then it is a 302 to a presigned URL valid 60 s, not to be cached
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    location = response.headers["Location"]
    assert query_params(location)["X-Amz-Expires"] == "60"
    body = response.json()
    assert body["url"] == location
    assert body["key"] == "extract/attempt=2/data_007.parquet"
    assert parse_iso(body["expires_at"]) == amz_date(location) + dt.timedelta(seconds=60)
    # and the target downloads exactly the stored bytes, as an attachment with a readable name
    downloaded = requests.get(location, timeout=30)
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert md5_hex(downloaded.content) == body["etag"]
    match = FILENAME_RE.match(downloaded.headers["Content-Disposition"])
    assert match is not None
    assert match.group(1).endswith("_extract-data_attempt2_007.parquet")


def test_following_the_redirect_downloads_the_file(api):
    stored = new_run()
    data = stored.put("event/queue_data.parquet")

    # A client that follows redirects (requests drops the Authorization header on the other host)
    response = api.get(stored.path("/artifacts/event-queue-data/download"))

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")


def test_each_download_request_presigns_anew(api):
    stored = new_run()
    stored.put("load/attempt=1/metadata.parquet")
    path = stored.path("/artifacts/load-metadata/download")

    first = api.get(path, params={"expires_in": 30}, allow_redirects=False)
    second = api.get(path, params={"expires_in": 31}, allow_redirects=False)

    assert query_params(first.headers["Location"])["X-Amz-Expires"] == "30"
    assert query_params(second.headers["Location"])["X-Amz-Expires"] == "31"


def test_download_errors_are_those_of_presigning(api):
    stored = new_run(company="acme")
    stored.put("extract/attempt=1/data_000.parquet")
    path = stored.path("/artifacts/extract-data/download")

    # Another tenant's run is exactly as absent as a missing object
    assert_error(api.get(path, company="globex", allow_redirects=False), 404, "artifact_not_found")
    assert_error(api.get(path, params={"chunk": 1}, allow_redirects=False), 404, "artifact_not_found")
    assert_error(api.get(stored.path("/artifacts/extract-nope/download")), 422, "unknown_artifact_kind")
    assert_error(api.get(path, company=None), 401, "unauthorized")
    too_long = api.get(path, params={"expires_in": 3601})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["query", "expires_in"]
    assert "Location" not in too_long.headers


def test_download_default_lifetime_never_exceeds_the_configured_maximum(api, monkeypatch):
    monkeypatch.setenv("PRESIGN_MAX_TTL", "45")
    monkeypatch.setenv("PRESIGN_DEFAULT_TTL", "30")
    stored = new_run()
    stored.put("extract/attempt=1/index.parquet")

    response = api.get(stored.path("/artifacts/extract-index/download"), allow_redirects=False)

    assert response.status_code == 302
    assert query_params(response.headers["Location"])["X-Amz-Expires"] == "45"
