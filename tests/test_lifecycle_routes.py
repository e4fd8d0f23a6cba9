"""The lifecycle routes end to end through the local gateway (the template's routes, the real
authorizer; the share link route without one), embedded Postgres and moto's S3 and KMS over HTTP:
soft delete and restore, expiry and extend-ttl, share links, seal and manifest."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from etl_artifacts.errors import ManifestInvalid
from etl_artifacts.lifecycle.manifest_signature import verify_seal
from etl_artifacts.postgres.db import get_database
from etl_artifacts.s3.layout import RunRef
from etl_artifacts_client.cli import main as client_main
from lifecycle_helpers import create_signing_key, put_parquet, use_env
from uploads_helpers import create_body, new_run, run_path

WRITE = "artifacts:write"


class Api:
    """Requests of one tenant through the gateway; writes carry the write scope unless told."""

    def __init__(self, base_url: str, make_token: Callable[..., str], company: str) -> None:
        self.base_url, self.make_token, self.company = base_url, make_token, company
        self.session = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        scope: str | None = WRITE,
        company: str | None = None,
    ) -> requests.Response:
        token = self.make_token(company or self.company, scope=scope)
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        data = None if body is None else json.dumps(body)
        return self.session.request(
            method, self.base_url + path, data=data, headers=headers, timeout=60, allow_redirects=False
        )

    def create(
        self, run: RunRef, name: str = "report.md", data: bytes = b"hello", **fields: Any
    ) -> dict[str, Any]:
        body = {**create_body(data, name, **fields), "content_base64": base64.b64encode(data).decode()}
        answer = self.call("POST", run_path(run), body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())


@pytest.fixture
def api_of(gateway_url: str, make_token: Callable[..., str]) -> Callable[[], Api]:
    return lambda: Api(gateway_url, make_token, f"lc-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def signing_key(s3_server, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    key_id = create_signing_key(s3_server.endpoint)
    use_env(monkeypatch, AWS_ENDPOINT_URL_KMS=s3_server.endpoint, MANIFEST_SIGNING_KEY_ID=key_id)
    return key_id


def _set(artifact_id: str, **columns: Any) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    get_database().run(
        f"UPDATE etl.uploaded_artifacts SET {assignments} WHERE artifact_id = :artifact_id",  # noqa: S608
        artifact_id=artifact_id,
        **columns,
    )


def _ago(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


# --- soft delete and restore ---------------------------------------------------------------------


def test_delete_is_idempotent_and_reads_answer_410_with_restorable_until(api_of: Callable[[], Api]) -> None:
    api = api_of()
    run = new_run(api.company)
    artifact = api.create(run)
    path = f"/api/v1/artifacts/{artifact['artifact_id']}"
    first, again = api.call("DELETE", path), api.call("DELETE", path)
    assert (first.status_code, again.status_code) == (204, 204)
    assert first.headers["Cache-Control"] == "no-store"
    gone = api.call("GET", path, scope=None)
    assert gone.status_code == 410
    body = gone.json()
    assert body["code"] == "artifact_deleted"
    until = dt.datetime.fromisoformat(body["restorable_until"].replace("Z", "+00:00"))
    assert dt.timedelta(days=29) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    for suffix in ("/content", "/download"):
        assert api.call("GET", path + suffix, scope=None).json()["code"] == "artifact_deleted"
    # Lists leave it out unless asked for status=deleted
    listed = api.call("GET", f"/api/v1/dags/{run.dag_id}/artifacts", scope=None).json()["items"]
    assert artifact["artifact_id"] not in [i["artifact_id"] for i in listed]
    deleted = api.call("GET", f"/api/v1/dags/{run.dag_id}/artifacts?status=deleted", scope=None).json()[
        "items"
    ]
    assert [i["artifact_id"] for i in deleted] == [artifact["artifact_id"]]
    # The bytes stay until the window ends (restore brings them back)
    restored = api.call("POST", path + "/restore")
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    assert api.call("GET", path + "/content", scope=None).content == b"hello"


def test_restore_after_the_window_is_410(api_of: Callable[[], Api]) -> None:
    api = api_of()
    artifact = api.create(new_run(api.company))
    path = f"/api/v1/artifacts/{artifact['artifact_id']}"
    assert api.call("DELETE", path).status_code == 204
    _set(artifact["artifact_id"], deleted_at=_ago(31), restorable_until=_ago(1))
    late = api.call("POST", path + "/restore")
    assert late.status_code == 410
    assert late.json()["code"] == "artifact_deleted" and late.json()["restorable_until"]


def test_writes_need_the_scope_and_ids_of_others_are_404(api_of: Callable[[], Api]) -> None:
    api = api_of()
    artifact = api.create(new_run(api.company))
    path = f"/api/v1/artifacts/{artifact['artifact_id']}"
    refused = api.call("DELETE", path, scope=None)
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    answers = [
        api.call("DELETE", path, company="someone-else"),
        api.call("DELETE", "/api/v1/artifacts/art_not-an-id"),
        api.call("DELETE", "/api/v1/artifacts/art_01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        api.call("POST", path + "/restore", company="someone-else"),
        api.call("POST", path + "/extend-ttl", {"ttl_days": 1}, company="someone-else"),
        api.call("GET", path + "/links", scope=None, company="someone-else"),
    ]
    for answer in answers:
        assert answer.status_code == 404 and answer.json()["code"] == "artifact_not_found"
    bodies = {json.dumps({k: v for k, v in a.json().items() if k != "request_id"}) for a in answers}
    assert len(bodies) == 1


# --- expiry and extend-ttl -----------------------------------------------------------------------


def test_extend_ttl_never_shortens_and_refuses_past_the_limit(api_of: Callable[[], Api]) -> None:
    api = api_of()
    artifact = api.create(new_run(api.company), ttl_days=30)
    path = f"/api/v1/artifacts/{artifact['artifact_id']}/extend-ttl"
    before = dt.datetime.fromisoformat(artifact["expires_at"].replace("Z", "+00:00"))
    shorter = api.call("POST", path, {"ttl_days": 1})
    assert shorter.status_code == 200
    assert dt.datetime.fromisoformat(shorter.json()["expires_at"].replace("Z", "+00:00")) == before
    longer = api.call("POST", path, {"ttl_days": 200}).json()
    after = dt.datetime.fromisoformat(longer["expires_at"].replace("Z", "+00:00"))
    assert dt.timedelta(days=199) < after - dt.datetime.now(dt.UTC) <= dt.timedelta(days=200)
    too_long = api.call("POST", path, {"ttl_days": 401})
    assert too_long.status_code == 422 and too_long.json()["code"] == "ttl_exceeds_limit"
    for bad in ({"ttl_days": 0}, {"ttl_days": "x"}, {}, {"ttl_days": 5, "other": 1}):
        invalid = api.call("POST", path, bad)
        assert invalid.status_code == 422 and isinstance(invalid.json()["detail"], list), bad


def test_an_expired_artifact_answers_410_and_cannot_be_extended(api_of: Callable[[], Api]) -> None:
    api = api_of()
    artifact = api.create(new_run(api.company))
    path = f"/api/v1/artifacts/{artifact['artifact_id']}"
    _set(artifact["artifact_id"], expires_at=_ago(0.01))
    for answer in (
        api.call("GET", path, scope=None),
        api.call("GET", path + "/download", scope=None),
        api.call("POST", path + "/extend-ttl", {"ttl_days": 10}),
        api.call("POST", path + "/restore"),
    ):
        assert answer.status_code == 410 and answer.json()["code"] == "artifact_expired"
    # Deleting what has expired changes nothing and is still 204
    assert api.call("DELETE", path).status_code == 204
    assert api.call("GET", path, scope=None).json()["code"] == "artifact_expired"


# --- share links ---------------------------------------------------------------------------------


def _token(link: dict[str, Any]) -> str:
    return str(link["url"].rsplit("/", 1)[1])


def test_a_link_redirects_without_a_token_and_is_listed_without_one(api_of: Callable[[], Api]) -> None:
    api = api_of()
    artifact = api.create(new_run(api.company), data=b"shared bytes")
    links = f"/api/v1/artifacts/{artifact['artifact_id']}/links"
    created = api.call("POST", links, {"max_downloads": 3})
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["link_id"].startswith("lnk_") and link["downloads"] == 0 and link["max_downloads"] == 3
    assert link["url"].startswith(api.base_url + "/api/v1/links/")
    expires = dt.datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00")) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < expires <= dt.timedelta(days=7)
    # Anyone holding the URL is redirected to a short-lived presigned GET of the bytes
    followed = requests.get(link["url"], allow_redirects=False, timeout=60)
    assert followed.status_code == 302, followed.text
    assert followed.headers["Cache-Control"] == "no-store"
    location = followed.headers["Location"]
    assert "X-Amz-Expires=60" in location
    assert requests.get(location, timeout=60).content == b"shared bytes"
    # The token is stored only as a hash and never listed
    listed = api.call("GET", links, scope=None).json()["items"]
    assert [(i["link_id"], i["downloads"], i["status"]) for i in listed] == [(link["link_id"], 1, "active")]
    assert _token(link) not in json.dumps(listed)
    rows, _ = get_database().run(
        "SELECT token_sha256 FROM etl.artifact_links WHERE link_id = :l", l=link["link_id"]
    )
    assert bytes(rows[0][0]) != _token(link).encode() and len(bytes(rows[0][0])) == 32


def test_one_uniform_404_for_every_dead_link(api_of: Callable[[], Api]) -> None:
    api = api_of()
    run = new_run(api.company)
    revoked_art, deleted_art, expired_art, used_art = (api.create(run, f"{n}.md") for n in "abcd")

    def make(artifact: dict[str, Any], body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = api.call("POST", f"/api/v1/artifacts/{artifact['artifact_id']}/links", body or {})
        return dict(answer.json())

    revoked, deleted, expired, used = (
        make(revoked_art),
        make(deleted_art),
        make(expired_art),
        make(used_art, {"max_downloads": 1}),
    )
    assert api.call("DELETE", f"/api/v1/links/{revoked['link_id']}").status_code == 204
    assert api.call("DELETE", f"/api/v1/links/{revoked['link_id']}").status_code == 204
    assert api.call("DELETE", f"/api/v1/artifacts/{deleted_art['artifact_id']}").status_code == 204
    _set(expired_art["artifact_id"], expires_at=_ago(0.01))
    assert requests.get(used["url"], allow_redirects=False, timeout=60).status_code == 302
    # A restored artifact does not bring its links back
    assert api.call("POST", f"/api/v1/artifacts/{deleted_art['artifact_id']}/restore").status_code == 200
    dead = [revoked["url"], deleted["url"], expired["url"], used["url"]]
    dead += [f"{api.base_url}/api/v1/links/{'A' * 43}", f"{api.base_url}/api/v1/links/nonsense"]
    bodies = set()
    for url in dead:
        answer = requests.get(url, allow_redirects=False, timeout=60)
        assert answer.status_code == 404 and answer.json()["code"] == "link_not_found", url
        bodies.add(json.dumps({k: v for k, v in answer.json().items() if k != "request_id"}))
    assert len(bodies) == 1
    # Revoking another tenant's or an unknown link is the same 404
    for link_id in (used["link_id"], "lnk_01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope"):
        other = api.call("DELETE", f"/api/v1/links/{link_id}", company="someone-else")
        assert other.status_code == 404 and other.json()["code"] == "link_not_found"


def test_two_concurrent_uses_of_a_one_download_link_give_exactly_one_redirect(
    api_of: Callable[[], Api],
) -> None:
    api = api_of()
    artifact = api.create(new_run(api.company))
    for _ in range(3):
        link = api.call(
            "POST", f"/api/v1/artifacts/{artifact['artifact_id']}/links", {"max_downloads": 1}
        ).json()
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def follow(
            url: str = link["url"], gate: threading.Barrier = barrier, out: list[int] = statuses
        ) -> None:
            gate.wait()
            out.append(requests.get(url, allow_redirects=False, timeout=60).status_code)

        threads = [threading.Thread(target=follow) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [302, 404]


def test_link_requests_are_checked_and_the_tenant_quota_holds(
    api_of: Callable[[], Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = api_of()
    run = new_run(api.company)
    artifact = api.create(run)
    links = f"/api/v1/artifacts/{artifact['artifact_id']}/links"
    for bad in ({"expires_in": 0}, {"expires_in": 30 * 86400 + 1}, {"max_downloads": 0}, {"token": "x"}):
        answer = api.call("POST", links, bad)
        assert answer.status_code == 422 and isinstance(answer.json()["detail"], list), bad
    pending = api.call("POST", run_path(run), create_body(b"later", "pending.bin")).json()
    refused = api.call("POST", f"/api/v1/artifacts/{pending['artifact_id']}/links", {})
    assert refused.status_code == 409 and refused.json()["code"] == "upload_incomplete"
    use_env(monkeypatch, LINK_MAX_ACTIVE="2")
    assert api.call("POST", links, {}).status_code == 201
    second = api.call("POST", links, {}).json()
    full = api.call("POST", links, {})
    assert full.status_code == 409 and full.json()["code"] == "link_limit"
    # A revoked link frees its place
    assert api.call("DELETE", f"/api/v1/links/{second['link_id']}").status_code == 204
    assert api.call("POST", links, {}).status_code == 201


# --- seal and manifest ---------------------------------------------------------------------------


def test_seal_then_create_delete_restore_are_409_and_the_manifest_verifies(
    api_of: Callable[[], Api], signing_key: str, tmp_path: Path
) -> None:
    api = api_of()
    run = new_run(api.company)
    put_parquet(run, "extract/attempt=1/data_000.parquet")
    kept = api.create(run, "kept.md")
    deleted = api.create(run, "deleted.md")
    assert api.call("DELETE", f"/api/v1/artifacts/{deleted['artifact_id']}").status_code == 204
    assert api.call("GET", run_path(run, "/manifest"), scope=None).json()["code"] == "run_not_sealed"
    assert api.call("POST", run_path(run, "/seal"), scope=None).status_code == 403
    sealed = api.call("POST", run_path(run, "/seal"))
    assert sealed.status_code == 200, sealed.text
    seal = sealed.json()
    assert [a["artifact_id"] for a in seal["manifest"]["artifacts"]] == [kept["artifact_id"]]
    assert [p["key"] for p in seal["manifest"]["parquet"]] == ["extract/attempt=1/data_000.parquet"]
    assert seal["manifest"]["sealed_by"] == "tester"
    assert api.call("POST", run_path(run, "/seal")).json() == seal
    assert api.call("GET", run_path(run, "/manifest"), scope=None).json() == seal
    # Afterwards: no create, delete or restore; reads, links and extend-ttl go on
    body = {**create_body(b"x", "late.md"), "content": "x"}
    for answer in (
        api.call("POST", run_path(run), body),
        api.call("DELETE", f"/api/v1/artifacts/{kept['artifact_id']}"),
        api.call("POST", f"/api/v1/artifacts/{deleted['artifact_id']}/restore"),
    ):
        assert answer.status_code == 409 and answer.json()["code"] == "run_sealed"
    assert (
        api.call("POST", f"/api/v1/artifacts/{kept['artifact_id']}/extend-ttl", {"ttl_days": 5}).status_code
        == 200
    )
    assert api.call("POST", f"/api/v1/artifacts/{kept['artifact_id']}/links", {}).status_code == 201
    # The published key verifies the manifest; one changed byte does not
    keys = api.call("GET", "/api/v1/manifest-keys", scope=None).json()["keys"]
    [key] = [k for k in keys if k["key_id"] == seal["signature"]["key_id"]]
    assert key["algorithm"] == "ECDSA_SHA_256" and key["public_key_pem"].startswith(
        "-----BEGIN PUBLIC KEY-----"
    )
    verify_seal(seal, key["public_key_pem"].encode())
    tampered = json.loads(json.dumps(seal))
    tampered["manifest"]["artifacts"][0]["size_bytes"] += 1
    with pytest.raises(ManifestInvalid):
        verify_seal(tampered, key["public_key_pem"].encode())
    (tmp_path / "seal.json").write_text(sealed.text)
    (tmp_path / "key.pem").write_text(key["public_key_pem"])
    assert (
        client_main(["verify-manifest", str(tmp_path / "seal.json"), "--key", str(tmp_path / "key.pem")]) == 0
    )


def test_sealing_a_run_of_another_tenant_is_404(api_of: Callable[[], Api], signing_key: str) -> None:
    api = api_of()
    run = new_run(api.company)
    answer = api.call("POST", run_path(run, "/seal"), company="someone-else")
    assert answer.status_code == 404 and answer.json()["code"] == "run_not_found"
