"""Bad input on the uploads routes gets the API's answer, and nothing is lost or leaked: every
field is validated (422 in the validation shape naming the field, or the uploads codes), keys are
idempotent, names unique per run, runs bounded, and a create that fails leaves no visible orphan."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from etl_artifacts.config import get_settings
from etl_artifacts.errors import StorageError
from etl_artifacts.uploads.storage import UploadStorage
from test_uploads import Uploads
from uploads_helpers import create_body, new_run, run_path


@pytest.fixture
def uploads(gateway_url: str, make_token: Callable[..., str]) -> Uploads:
    return Uploads(gateway_url, make_token)


def _loc(answer: Any) -> list[list[Any]]:
    assert answer.status_code == 422, answer.text
    return [item["loc"] for item in answer.json()["detail"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "a/b.txt"),
        ("name", "a\\b.txt"),
        ("name", "tab\there"),
        ("name", "bell\x07"),
        ("name", "del\x7f"),
        ("name", ""),
        ("name", "n" * 256),
        ("artifact_type", "Report"),
        ("artifact_type", "-report"),
        ("artifact_type", "r" * 65),
        ("content_type", "text"),
        ("content_type", "text/"),
        ("content_type", "text/plain; charset"),
        ("content_type", "te xt/plain"),
        ("content_type", "text/plain\r\nX-Injected: 1"),
        ("sha256", "a" * 63),
        ("sha256", "g" * 64),
        ("size_bytes", -1),
        ("size_bytes", "12"),
        ("size_bytes", 1.5),
        ("phase", "event"),
        ("attempt", 0),
        ("is_primary_deliverable", "yes"),
        ("metadata", ["not", "an", "object"]),
        ("metadata", {"blob": "x" * 8200}),
        ("derived_from", ["../../other-tenant/secret.parquet"]),
        ("derived_from", ["/absolute.parquet"]),
        ("derived_from", ["extract//double.parquet"]),
        ("derived_from", ["k"] * 101),
        ("ttl_days", 0),
        ("status", "active"),
    ],
)
def test_each_bad_field_is_a_422_naming_it(uploads: Uploads, field: str, value: Any) -> None:
    run = new_run("acme")
    body = create_body(b"abc", content="abc")
    body[field] = value
    locs = _loc(uploads.post(run_path(run), body))
    assert any(loc[:2] == ["body", field] for loc in locs), locs


def test_inline_content_over_4_mib_is_refused_before_anything_is_stored(uploads: Uploads) -> None:
    run = new_run("acme")
    data = b"x" * (4 * 1024 * 1024 + 1)
    locs = _loc(uploads.post(run_path(run), create_body(data, content=data.decode())))
    assert ["body", "content"] in [loc[:2] for loc in locs]
    encoded = base64.b64encode(data[:-1] + b"yz").decode()
    locs = _loc(uploads.post(run_path(run), create_body(b"", content_base64=encoded)))
    assert ["body", "content_base64"] in [loc[:2] for loc in locs]
    assert uploads.get(f"/api/v1/dags/{run.dag_id}/artifacts?status=pending").json()["items"] == []


@pytest.mark.parametrize("mismatch", ["size", "sha256"])
def test_inline_content_must_match_size_and_sha256(uploads: Uploads, mismatch: str) -> None:
    run = new_run("acme")
    body = create_body(b"abc", content_base64=base64.b64encode(b"abc").decode())
    if mismatch == "size":
        body["size_bytes"] = 4
    else:
        body["sha256"] = hashlib.sha256(b"abd").hexdigest()
    answer = uploads.post(run_path(run), body)
    assert answer.status_code == 422 and answer.json()["code"] == "checksum_mismatch"
    assert uploads.get(f"/api/v1/dags/{run.dag_id}/artifacts?status=pending").json()["items"] == []


def test_content_and_content_base64_together_or_bad_base64_are_refused(uploads: Uploads) -> None:
    run = new_run("acme")
    _loc(uploads.post(run_path(run), create_body(b"abc", content="abc", content_base64="YWJj")))
    locs = _loc(uploads.post(run_path(run), create_body(b"abc", content_base64="YW Jj")))
    assert ["body", "content_base64"] in [loc[:2] for loc in locs]


def test_derived_from_another_tenants_id_is_refused_like_an_unknown_one(
    uploads: Uploads, gateway_url: str, make_token: Callable[..., str]
) -> None:
    theirs = Uploads(gateway_url, make_token, company="globex")
    their_id = theirs.post(run_path(new_run("globex")), create_body(b"x", content="x")).json()["artifact_id"]
    run = new_run("acme")
    mine = uploads.post(run_path(run), create_body(b"x", content="x")).json()["artifact_id"]
    derived = ["extract/attempt=1/data_000.parquet", mine, their_id, "art_01JEXAMPLE0000000000000000"]
    answer = uploads.post(
        run_path(run), create_body(b"y", name="derived.md", content="y", derived_from=derived)
    )
    assert [loc for loc in _loc(answer)] == [["body", "derived_from", 2], ["body", "derived_from", 3]]
    ok = uploads.post(
        run_path(run), create_body(b"y", name="derived.md", content="y", derived_from=derived[:2])
    )
    assert ok.status_code == 201 and ok.json()["derived_from"] == derived[:2]


def test_limits_come_from_the_configuration(uploads: Uploads, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLOAD_MAX_BYTES", "10")
    monkeypatch.setenv("ARTIFACT_MAX_TTL_DAYS", "100")
    run = new_run("acme")
    assert ["body", "size_bytes"] in _loc(uploads.post(run_path(run), create_body(b"x" * 11)))
    answer = uploads.post(run_path(run), create_body(b"x", ttl_days=101))
    assert answer.status_code == 422 and answer.json()["code"] == "ttl_exceeds_limit"


def test_expiry_follows_ttl_days_and_primary_deliverables_keep(uploads: Uploads) -> None:
    run = new_run("acme")

    def created(name: str, **fields: Any) -> dict[str, Any]:
        answer = uploads.post(run_path(run), create_body(b"x", name=name, content="x", **fields))
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def days(record: dict[str, Any]) -> float:
        expires = dt.datetime.fromisoformat(record["expires_at"])
        return (expires - dt.datetime.fromisoformat(record["created_at"])).total_seconds() / 86_400

    assert days(created("default.txt")) == 90
    assert days(created("short.txt", ttl_days=3)) == 3
    assert created("primary.txt", is_primary_deliverable=True)["expires_at"] is None
    assert days(created("primary-ttl.txt", is_primary_deliverable=True, ttl_days=7)) == 7


def test_idempotency_key_replays_the_same_artifact_and_refuses_another_body(uploads: Uploads) -> None:
    run = new_run("acme")
    body = create_body(b"abc", name="once.txt")
    first = uploads.post(run_path(run), body, **{"Idempotency-Key": "key-1"})
    again = uploads.post(run_path(run), body, **{"Idempotency-Key": "key-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["artifact_id"] == again.json()["artifact_id"]
    assert again.headers["Location"] == first.headers["Location"]
    other = uploads.post(run_path(run), {**body, "name": "twice.txt"}, **{"Idempotency-Key": "key-1"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    for bad in ("has space", "k" * 256, "caf\u00e9"):
        answer = uploads.post(run_path(run), body, **{"Idempotency-Key": bad})
        assert answer.status_code == 422, bad


def test_a_name_is_unique_in_the_run_and_the_run_is_bounded(
    uploads: Uploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = new_run("acme")
    assert uploads.post(run_path(run), create_body(b"x", name="a.txt", content="x")).status_code == 201
    duplicate = uploads.post(run_path(run), create_body(b"y", name="a.txt", content="y"))
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "artifact_already_exists"
    monkeypatch.setenv("RUN_MAX_ARTIFACTS", "2")
    get_settings.cache_clear()
    assert uploads.post(run_path(run), create_body(b"x", name="b.txt")).status_code == 201
    full = uploads.post(run_path(run), create_body(b"x", name="c.txt"))
    assert full.status_code == 409 and full.json()["code"] == "run_artifact_limit"


def test_a_create_that_fails_after_its_row_was_written_leaves_no_orphan(
    uploads: Uploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = new_run("acme")

    def failing_put(self: UploadStorage, *args: Any, **kwargs: Any) -> None:
        raise StorageError()

    monkeypatch.setattr(UploadStorage, "put", failing_put)
    answer = uploads.post(run_path(run), create_body(b"abc", name="lost.txt", content="abc"))
    assert answer.status_code == 502 and answer.json()["code"] == "storage_error"
    for status in ("active", "pending"):
        listed = uploads.get(f"/api/v1/dags/{run.dag_id}/artifacts?status={status}").json()["items"]
        assert listed == [], status
    monkeypatch.undo()
    # The name is free: nothing half-made holds it
    assert uploads.post(run_path(run), create_body(b"abc", name="lost.txt", content="abc")).status_code == 201


def test_no_answer_echoes_the_input_or_a_url(uploads: Uploads) -> None:
    run = new_run("acme")
    secret = "s3cr3t-value-\u202e"
    answer = uploads.post(run_path(run), {**create_body(b"x"), "name": "a/" + secret})
    assert answer.status_code == 422 and secret not in answer.text and "input" not in answer.text


def test_a_body_that_is_not_utf8_json_is_a_422(uploads: Uploads) -> None:
    run = new_run("acme")
    for body in (b"\x81\x01\x08\xd8", b"{not json", b"[1, 2]"):
        answer = uploads.post(run_path(run), body)
        assert answer.status_code == 422, (body, answer.text)
        assert isinstance(answer.json()["detail"], list)


def test_json_numbers_without_a_fraction_are_integers(uploads: Uploads) -> None:
    run = new_run("acme")
    answer = uploads.post(
        run_path(run), {**create_body(b"abc", content="abc"), "size_bytes": 3.0, "ttl_days": 2.0}
    )
    assert answer.status_code == 201 and answer.json()["size_bytes"] == 3
