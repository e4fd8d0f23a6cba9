"""Uploaded artifacts end to end through the local gateway (the template's routes, the real
authorizer), the embedded Postgres and moto's S3 server over HTTP: create inline or through the
presigned PUT, complete, read the record, the bytes and the download, list, and the write scope."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from etl_artifacts.clients import s3_client
from etl_artifacts.config import get_settings
from uploads_helpers import create_body, new_run, run_path, sha256_hex

WRITE = "artifacts:write"


class Uploads:
    """The uploads routes for one tenant, with a token that may write (``scope``)."""

    def __init__(self, base_url: str, make_token: Callable[..., str], company: str = "acme") -> None:
        self.base_url = base_url
        self.make_token = make_token
        self.company = company
        self.session = requests.Session()

    def headers(self, scope: str | None = WRITE, **extra: str) -> dict[str, str]:
        token = self.make_token(self.company, scope=scope)
        return {"Authorization": f"Bearer {token}", **extra}

    def post(
        self, path: str, body: Any = None, *, scope: str | None = WRITE, **headers: str
    ) -> requests.Response:
        all_headers = self.headers(scope, **headers)
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        data = None if body is None else (body if isinstance(body, bytes | str) else json.dumps(body))
        return self.session.post(self.base_url + path, data=data, headers=all_headers, timeout=60)

    def get(self, path: str, *, scope: str | None = None, **kwargs: Any) -> requests.Response:
        return self.session.get(
            self.base_url + path, headers=self.headers(scope), timeout=60, allow_redirects=False, **kwargs
        )


@pytest.fixture
def uploads(gateway_url: str, make_token: Callable[..., str]) -> Uploads:
    return Uploads(gateway_url, make_token)


def put_upload(upload: dict[str, Any], data: bytes, **header_changes: str) -> requests.Response:
    headers = {**upload["headers"], **header_changes}
    return requests.put(upload["url"], data=data, headers=headers, timeout=60)


def test_inline_create_is_active_at_once_and_reads_back_byte_for_byte(uploads: Uploads) -> None:
    run = new_run("acme")
    data = "# Quality\n\nAll rows checked ✓\n".encode()
    created = uploads.post(
        run_path(run), create_body(data, content=data.decode(), phase="transform", attempt=1)
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["status"] == "active" and record["artifact_id"].startswith("art_")
    assert created.headers["Location"] == f"/api/v1/artifacts/{record['artifact_id']}"
    assert record["digest"] == "sha256:" + sha256_hex(data) and record["created_by"] == "tester"
    assert record["expires_at"] is not None and "upload" not in record

    got = uploads.get(f"/api/v1/artifacts/{record['artifact_id']}")
    assert got.status_code == 200
    assert requests.get(got.json()["url"], timeout=30).content == data
    content = uploads.get(f"/api/v1/artifacts/{record['artifact_id']}/content")
    assert content.status_code == 200 and content.content == data
    assert content.headers["Content-Type"].startswith("text/markdown")
    assert (
        content.headers["Repr-Digest"]
        == f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"
    )
    download = uploads.get(f"/api/v1/artifacts/{record['artifact_id']}/download")
    assert download.status_code == 302 and download.headers["Cache-Control"] == "no-store"
    fetched = requests.get(download.headers["Location"], timeout=30)
    assert fetched.content == data
    assert fetched.headers["Content-Type"] == "text/markdown"
    assert (
        "attachment" in fetched.headers["Content-Disposition"]
        and "report.md" in fetched.headers["Content-Disposition"]
    )
    # The bytes are at the server's key, under the run prefix
    key = f"{run.prefix()}uploads/{record['artifact_id']}"
    assert s3_client().get_object(Bucket=get_settings().artifacts_bucket, Key=key)["Body"].read() == data


def test_presigned_upload_then_complete_makes_it_active(uploads: Uploads) -> None:
    run = new_run("acme")
    data = bytes(range(256)) * 40
    created = uploads.post(
        run_path(run), create_body(data, name="blob.bin", content_type="application/octet-stream")
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["status"] == "pending"
    upload = record["upload"]
    assert upload["method"] == "PUT"
    assert upload["headers"] == {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(data)),
        "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }
    signed = upload["url"].split("X-Amz-SignedHeaders=", 1)[1].split("&", 1)[0]
    assert signed == "content-length%3Bcontent-type%3Bhost%3Bx-amz-checksum-sha256"
    artifact = f"/api/v1/artifacts/{record['artifact_id']}"
    # Before the bytes: complete is 409, content is 409, the default list does not show it
    assert uploads.post(artifact + "/complete").json()["code"] == "upload_incomplete"
    assert uploads.get(artifact + "/content").json()["code"] == "upload_incomplete"
    assert uploads.get(f"/api/v1/dags/{run.dag_id}/artifacts").json()["items"] == []
    # moto takes the presigned PUT but keeps no checksum of it: "no SHA-256 held by S3" is refused
    # (the strict S3 keeps it: tests/test_uploads_strict_s3.py); the object is removed.
    assert put_upload(upload, data).status_code == 200
    refused = uploads.post(artifact + "/complete")
    assert refused.status_code == 422 and refused.json()["code"] == "checksum_mismatch"
    assert uploads.post(artifact + "/complete").json()["code"] == "upload_incomplete"
    # The same bytes stored with their SHA-256, as S3 stores a checked upload
    key = f"{run.prefix()}uploads/{record['artifact_id']}"
    s3_client().put_object(
        Bucket=get_settings().artifacts_bucket,
        Key=key,
        Body=data,
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=upload["headers"]["x-amz-checksum-sha256"],
    )
    completed = uploads.post(artifact + "/complete")
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "active"
    # Read-after-write: the list shows it at once; complete again returns it unchanged
    listed = uploads.get(f"/api/v1/dags/{run.dag_id}/artifacts").json()["items"]
    assert [item["artifact_id"] for item in listed] == [record["artifact_id"]]
    again = uploads.post(artifact + "/complete")
    assert again.status_code == 200 and again.json()["status"] == "active"
    assert uploads.get(artifact + "/content").content == data


def test_complete_refuses_other_bytes_and_removes_them(uploads: Uploads) -> None:
    run = new_run("acme")
    data = b"the right bytes!"
    record = uploads.post(run_path(run), create_body(data, name="x.txt", content_type="text/plain")).json()
    # Bytes of the same length put around the presigned URL (moto does not check the checksum)
    key = f"{run.prefix()}uploads/{record['artifact_id']}"
    wrong = b"the wrong bytes!"
    s3_client().put_object(
        Bucket=get_settings().artifacts_bucket,
        Key=key,
        Body=wrong,
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=base64.b64encode(hashlib.sha256(wrong).digest()).decode(),
    )
    answer = uploads.post(f"/api/v1/artifacts/{record['artifact_id']}/complete")
    assert answer.status_code == 422 and answer.json()["code"] == "checksum_mismatch"
    with pytest.raises(Exception, match=r"404|Not Found"):
        s3_client().head_object(Bucket=get_settings().artifacts_bucket, Key=key)
    got = uploads.get(f"/api/v1/artifacts/{record['artifact_id']}").json()
    assert got["status"] == "pending" and "upload" in got


def test_writes_need_the_write_scope_before_anything_else(uploads: Uploads) -> None:
    run = new_run("acme")
    for scope in (None, "artifacts:read", "artifacts:writer other"):
        # Even with a malformed path value and body: authorization comes first
        answer = uploads.post("/api/v1/dags/not-a-uuid/runs/2026-11-20/r/artifacts", {"bad": 1}, scope=scope)
        assert answer.status_code == 403, answer.text
        assert answer.json()["code"] == "insufficient_scope"
        assert (
            answer.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="artifacts:write"'
        )
    ok = uploads.post(run_path(run), create_body(b"x", content="x"), scope="openid artifacts:write")
    assert ok.status_code == 201
    # Reads need no scope
    assert uploads.get(f"/api/v1/artifacts/{ok.json()['artifact_id']}", scope=None).status_code == 200


def test_another_tenants_a_malformed_and_an_unknown_id_are_the_same_404(
    uploads: Uploads, gateway_url: str, make_token: Callable[..., str]
) -> None:
    run = new_run("acme")
    record = uploads.post(run_path(run), create_body(b"x", content="x")).json()
    other = Uploads(gateway_url, make_token, company="globex")
    bodies = []
    for artifact_id in (record["artifact_id"], "art_bad", "art_01JEXAMPLE0000000000000000", "%2e%2e"):
        for suffix in ("", "/content", "/download"):
            answer = other.get(f"/api/v1/artifacts/{artifact_id}{suffix}")
            assert answer.status_code == 404, (artifact_id, suffix)
            body = answer.json()
            body.pop("request_id")
            bodies.append(body)
        answer = other.post(f"/api/v1/artifacts/{artifact_id}/complete")
        body = answer.json()
        body.pop("request_id")
        bodies.append(body)
    assert all(
        body == {"detail": "Artifact not found.", "code": "artifact_not_found", "status": 404}
        for body in bodies
    )


def test_create_needs_the_tenants_run(uploads: Uploads) -> None:
    run = new_run("globex")
    answer = uploads.post(run_path(run), create_body(b"x", content="x"))
    assert answer.status_code == 404 and answer.json()["code"] == "run_not_found"


def test_the_authorizer_passes_the_tokens_scopes(
    base_env: dict[str, str], make_token: Callable[..., str]
) -> None:
    from etl_artifacts.auth import authorizer_response

    def context(**claims: Any) -> Any:
        token = make_token("acme", **claims)
        answer = authorizer_response({"headers": {"authorization": f"Bearer {token}"}})
        assert answer["isAuthorized"] is True
        return answer["context"]["scopes"]

    assert context(scope="openid  artifacts:write") == "openid artifacts:write"
    assert context() == ""
    # A scope claim that is not a space-separated string grants nothing (the token still reads)
    assert context(scope=["artifacts:write"]) == ""
