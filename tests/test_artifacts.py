"""Artifacts routes end to end: local gateway with real JWTs -> ArtifactsFunction -> moto's S3
server over HTTP; every presigned URL is fetched with a real HTTP GET and compared byte for byte."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from artifacts_helpers import (
    ALL_KINDS,
    SPECIAL_RUN_ID,
    StoredRun,
    amz_date,
    md5_hex,
    new_run,
    parse_iso,
    query_params,
)
from conftest import reset_caches
from etl_artifacts_local.services import free_port

FILENAME_RE = re.compile(r'^attachment; filename="([A-Za-z0-9._-]+\.parquet)"$')


def download(url: str) -> requests.Response:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text[:200]
    return response


def assert_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"]
    assert set(body) == {"detail", "code", "status", "request_id"}


# -- list -----------------------------------------------------------------------------------------------


def test_list_parses_every_kind_sorted_by_key(api):
    # Given a run holding every kind, two attempts, a 4-digit chunk, an acceleration file and non-parquet
    stored = new_run()
    relative_keys = [
        *ALL_KINDS.values(),
        "extract/attempt=1/data_001.parquet",
        "extract/attempt=2/data_000.parquet",
        "transform/attempt=1/data_1000.parquet",
        "extract/attempt=1/index_trigrams.parquet",
    ]
    stored.put_many(relative_keys)
    stored.put("extract/attempt=1/_SUCCESS", b"")
    stored.put("event/notes.json", b"{}")

    # When the tenant lists the run's artifacts
    response = api.get(stored.path())

    # Then every parquet object is listed once, sorted by key, classified by the layout
    assert response.status_code == 200
    body = response.json()
    assert body["dag_id"] == str(stored.run.dag_id)
    assert body["date"] == "2026-11-20"
    assert body["run_id"] == SPECIAL_RUN_ID
    keys = [item["key"] for item in body["artifacts"]]
    assert keys == sorted(relative_keys)
    assert body["count"] == len(relative_keys)
    items = {item["key"]: item for item in body["artifacts"]}
    for kind, key in ALL_KINDS.items():
        assert items[key]["artifact_kind"] == kind
    assert items["event/queue_data.parquet"] | {"url": None, "expires_at": None, "last_modified": None} == {
        "key": "event/queue_data.parquet",
        "artifact_kind": "event-queue-data",
        "phase": "event",
        "attempt": None,
        "chunk": None,
        "size_bytes": len(stored.objects["event/queue_data.parquet"]),
        "etag": md5_hex(stored.objects["event/queue_data.parquet"]),
        "url": None,
        "expires_at": None,
        "last_modified": None,
    }
    data_1000 = items["transform/attempt=1/data_1000.parquet"]
    assert (data_1000["artifact_kind"], data_1000["phase"], data_1000["attempt"], data_1000["chunk"]) == (
        "transform-data",
        "transform",
        1,
        1000,
    )
    metadata = items["load/attempt=1/metadata.parquet"]
    assert (metadata["artifact_kind"], metadata["attempt"], metadata["chunk"]) == ("load-metadata", 1, None)
    assert items["extract/attempt=2/data_000.parquet"]["attempt"] == 2
    trigrams = items["extract/attempt=1/index_trigrams.parquet"]
    assert (trigrams["artifact_kind"], trigrams["phase"], trigrams["attempt"], trigrams["chunk"]) == (
        None,
        "extract",
        1,
        None,
    )


def test_listed_urls_download_each_object_byte_for_byte(api):
    # Given objects whose keys hold '+', ':', '=' and '~' (run id and attempt=N)
    stored = new_run()
    stored.put_many([*ALL_KINDS.values(), "extract/attempt=1/index_trigrams.parquet"])

    body = api.get(stored.path()).json()

    assert body["count"] == len(stored.objects)
    filenames = set()
    for item in body["artifacts"]:
        # Then a plain GET of each URL returns exactly the stored bytes, as an attachment
        response = download(item["url"])
        assert response.content == stored.objects[item["key"]]
        match = FILENAME_RE.match(response.headers["Content-Disposition"])
        assert match is not None
        filenames.add(match.group(1))
        # and each URL is valid for the default TTL from its signing time
        params = query_params(item["url"])
        assert params["X-Amz-Expires"] == "300"
        assert parse_iso(item["expires_at"]) == amz_date(item["url"]) + dt.timedelta(seconds=300)
        assert parse_iso(item["last_modified"]).tzinfo is not None
    assert len(filenames) == len(body["artifacts"])  # readable names that tell the files apart


@pytest.mark.slow
def test_list_pages_beyond_1000_objects(api):
    # Given a run with more objects than one LIST page holds
    stored = new_run(run_id="bulk.run")
    relative_keys = [f"extract/attempt=1/data_{chunk:03d}.parquet" for chunk in range(1_005)]
    stored.put_many([*relative_keys, "event/event.parquet"], workers=24)

    first = api.get(stored.path()).json()
    second = api.get(stored.path(), params={"cursor": first["next_cursor"]}).json()

    # Then the first page holds 1,000 objects and the cursor the rest, in key order, with chunk numbers
    assert (first["count"], second["count"], second["next_cursor"]) == (1_000, 6, None)
    items = first["artifacts"] + second["artifacts"]
    assert [item["key"] for item in items] == ["event/event.parquet", *sorted(relative_keys)]
    assert items[-1]["chunk"] == 999
    assert {item["chunk"] for item in items[1:]} == set(range(1_005))
    assert all(item["url"] for item in items)
    last = items[-1]
    assert download(last["url"]).content == stored.objects[last["key"]]


def test_empty_run_is_an_empty_list(api):
    stored = new_run()
    response = api.get(stored.path())
    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert response.json()["artifacts"] == []


def test_another_tenants_run_is_as_absent_as_a_missing_one(api):
    # Given acme's run with artifacts
    stored = new_run(company="acme")
    stored.put_many(["extract/attempt=1/data_000.parquet", "extract/attempt=1/metadata.parquet"])
    assert api.get(stored.path()).json()["count"] == 2

    # When another tenant asks for the same dag/date/run
    listed = api.get(stored.path(), company="globex")
    presigned = api.get(stored.path("/artifacts/extract-data"), company="globex")

    # Then it sees what it sees of a run that does not exist
    assert listed.status_code == 200
    assert listed.json()["count"] == 0
    assert_error(presigned, 404, "artifact_not_found")


# -- presign one -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(ALL_KINDS))
def test_each_kind_presigns_and_downloads(api, kind):
    # Given every artifact of a run
    stored = new_run()
    stored.put(ALL_KINDS[kind])

    # When one kind is presigned with the default attempt and chunk
    response = api.get(stored.path(f"/artifacts/{kind}"))

    # Then the answer describes exactly that object and its URL downloads it
    assert response.status_code == 200
    body = response.json()
    data = stored.objects[ALL_KINDS[kind]]
    assert body["artifact_kind"] == kind
    assert body["key"] == ALL_KINDS[kind]
    assert body["size_bytes"] == len(data)
    assert body["etag"] == md5_hex(data)
    assert body["expires_in"] == 300
    assert parse_iso(body["expires_at"]) == amz_date(body["url"]) + dt.timedelta(seconds=300)
    assert parse_iso(body["last_modified"]).tzinfo is not None
    downloaded = download(body["url"])
    assert downloaded.content == data
    filename = FILENAME_RE.match(downloaded.headers["Content-Disposition"])
    assert filename is not None
    assert filename.group(1).startswith(
        f"{stored.run.dag_id}_2026-11-20_manual__2026-11-20T10-00-00-00-00.v-1_{kind}"
    )


def test_attempt_and_chunk_select_the_object(api):
    stored = new_run()
    stored.put_many(
        [
            "extract/attempt=1/data_000.parquet",
            "extract/attempt=2/data_000.parquet",
            "extract/attempt=2/data_017.parquet",
            "extract/attempt=2/metadata.parquet",
        ]
    )

    chunked = api.get(stored.path("/artifacts/extract-data"), params={"attempt": 2, "chunk": 17}).json()
    assert chunked["key"] == "extract/attempt=2/data_017.parquet"
    assert download(chunked["url"]).content == stored.objects["extract/attempt=2/data_017.parquet"]
    assert chunked["url"].count("_attempt2_017.parquet") == 1  # the download name carries attempt and chunk

    defaults = api.get(stored.path("/artifacts/extract-data")).json()
    assert defaults["key"] == "extract/attempt=1/data_000.parquet"

    # chunk applies to chunked kinds only
    metadata = api.get(stored.path("/artifacts/extract-metadata"), params={"attempt": 2, "chunk": 5}).json()
    assert metadata["key"] == "extract/attempt=2/metadata.parquet"


def test_attempt_is_ignored_for_event_kinds(api):
    stored = new_run()
    stored.put("event/event.parquet")
    response = api.get(stored.path("/artifacts/event-event"), params={"attempt": 3, "chunk": 2})
    assert response.status_code == 200
    assert response.json()["key"] == "event/event.parquet"


@pytest.mark.parametrize(("params", "loc"), [({"attempt": 0}, "attempt"), ({"chunk": -1}, "chunk")])
def test_attempt_and_chunk_bounds(api, params, loc):
    stored = new_run()
    response = api.get(stored.path("/artifacts/extract-data"), params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", loc]


@pytest.mark.parametrize("expires_in", [1, 299, 3600])
def test_expires_in_within_bounds_sets_the_url_lifetime(api, expires_in):
    stored = new_run()
    stored.put("load/attempt=1/errors_000.parquet")
    response = api.get(stored.path("/artifacts/load-errors"), params={"expires_in": expires_in})
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == expires_in
    assert query_params(body["url"])["X-Amz-Expires"] == str(expires_in)
    assert parse_iso(body["expires_at"]) == amz_date(body["url"]) + dt.timedelta(seconds=expires_in)


@pytest.mark.parametrize("expires_in", ["0", "-5", "3601", "abc", "1.5"])
def test_expires_in_out_of_bounds_is_422_validation_shape(api, expires_in):
    stored = new_run()
    stored.put("load/attempt=1/errors_000.parquet")
    response = api.get(stored.path("/artifacts/load-errors"), params={"expires_in": expires_in})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["query", "expires_in"]
    assert set(detail[0]) == {"loc", "msg", "type"}


def test_expires_in_upper_bound_follows_configuration(api, monkeypatch):
    monkeypatch.setenv("PRESIGN_MAX_TTL", "600")
    monkeypatch.setenv("PRESIGN_DEFAULT_TTL", "120")
    stored = new_run()
    stored.put("extract/attempt=1/metadata.parquet")

    too_long = api.get(stored.path("/artifacts/extract-metadata"), params={"expires_in": 601})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["query", "expires_in"]
    assert "600" in too_long.json()["detail"][0]["msg"]

    default = api.get(stored.path("/artifacts/extract-metadata")).json()
    assert default["expires_in"] == 120
    assert query_params(default["url"])["X-Amz-Expires"] == "120"
    listed = api.get(stored.path()).json()
    assert query_params(listed["artifacts"][0]["url"])["X-Amz-Expires"] == "120"


def test_missing_object_is_404(api):
    stored = new_run()
    stored.put("extract/attempt=1/data_000.parquet")
    assert_error(
        api.get(stored.path("/artifacts/extract-data"), params={"chunk": 1}), 404, "artifact_not_found"
    )
    assert_error(api.get(stored.path("/artifacts/event-queue-data")), 404, "artifact_not_found")
    assert_error(
        api.get(stored.path("/artifacts/extract-data"), params={"attempt": 2}), 404, "artifact_not_found"
    )


@pytest.mark.parametrize(
    "kind",
    [
        "extract-foo",
        "event-data",
        "EXTRACT-data",
        "extract-data-1",
        "extract-index_trigrams",
        "event",
        "x" * 300,
    ],
)
def test_unknown_kind_is_422_unknown_artifact_kind(api, kind):
    stored = new_run()
    assert_error(api.get(stored.path(f"/artifacts/{kind}")), 422, "unknown_artifact_kind")


# -- path, auth, failures ----------------------------------------------------------------------------------


def test_run_id_outside_the_pattern_is_422(api):
    stored = StoredRun(new_run().run)
    path = f"/api/v1/dags/{stored.run.dag_id}/runs/2026-11-20/bad%20run/artifacts"
    assert api.get(path).status_code == 422
    assert api.get(path + "/extract-data").status_code == 422
    assert api.get(f"/api/v1/dags/not-a-uuid/runs/2026-11-20/{SPECIAL_RUN_ID}/artifacts").status_code == 422


def test_token_is_required(api):
    stored = new_run()
    assert_error(api.get(stored.path(), company=None), 401, "unauthorized")
    assert_error(api.get(stored.path("/artifacts/nope"), company=None), 401, "unauthorized")


def test_s3_down_is_502_storage_error(api, monkeypatch):
    stored = new_run()
    stored.put("extract/attempt=1/data_000.parquet")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("S3_CONNECT_TIMEOUT_S", "0.2")
    reset_caches()  # the put above cached settings and the client

    listed = api.get(stored.path())
    presigned = api.get(stored.path("/artifacts/extract-data"))

    for response in (listed, presigned):
        assert_error(response, 502, "storage_error")
        assert "test-artifacts" not in response.text
        assert "127.0.0.1" not in response.text


def test_presigned_urls_never_reach_the_logs(api, capfd):
    stored = new_run()
    stored.put_many(["extract/attempt=1/data_000.parquet", "event/event.parquet"])
    listed = api.get(stored.path())
    one = api.get(stored.path("/artifacts/extract-data"))
    assert listed.status_code == one.status_code == 200

    captured = capfd.readouterr()
    logs = captured.out + captured.err
    assert "X-Amz-Signature" not in logs
    assert "X-Amz-Credential" not in logs
    assert one.json()["url"] not in logs


def test_openapi_documents_the_artifacts_routes(api):
    document = api.get("/api/v1/openapi.json", company=None).json()
    presign = document["paths"]["/api/v1/dags/{dag_id}/runs/{date}/{run_id}/artifacts/{artifact_kind}"]["get"]
    params = {p["name"]: p for p in presign["parameters"]}
    assert {"attempt", "chunk", "expires_in", "artifact_kind"} <= set(params)
    assert params["attempt"]["schema"]["minimum"] == 1
    assert "/api/v1/dags/{dag_id}/runs/{date}/{run_id}/artifacts" in document["paths"]
