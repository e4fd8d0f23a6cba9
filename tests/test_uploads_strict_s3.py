"""The upload path on the strict local S3 (LocalStack, docs/local-stack.md), which checks a
presigned PUT as AWS does: the declared bytes go through and complete makes them active; other
bytes of the same length, another length, another type or a missing checksum are refused by S3
itself, and complete then finds nothing to activate."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
import requests
from conftest import StrictBucket
from test_uploads import Uploads
from uploads_helpers import create_body, new_run, run_path

BODY = b"# Report\n\nEvery row reconciled.\n" * 1000
OTHER_BODY = BODY.replace(b"reconciled", b"discarded!")  # same length, other bytes


@pytest.fixture
def uploads(on_strict_s3: StrictBucket, gateway_url: str, make_token: Callable[..., str]) -> Uploads:
    return Uploads(gateway_url, make_token)


def _pending(uploads: Uploads, name: str) -> dict[str, Any]:
    answer = uploads.post(
        run_path(new_run("acme")), create_body(BODY, name=name, content_type="text/markdown")
    )
    assert answer.status_code == 201, answer.text
    record = dict(answer.json())
    assert record["status"] == "pending"
    return record


def _put(upload: dict[str, Any], body: bytes, **changes: str | None) -> requests.Response:
    headers = {**upload["headers"], **changes}
    sent = {name: value for name, value in headers.items() if value is not None}
    # requests sets Content-Length from the body (the header in `upload` says the same).
    sent.pop("Content-Length", None)
    return requests.put(upload["url"], data=body, headers=sent, timeout=60)


def test_the_declared_bytes_upload_and_complete_to_active(uploads: Uploads) -> None:
    record = _pending(uploads, "right.md")
    assert _put(record["upload"], BODY).status_code == 200
    artifact = f"/api/v1/artifacts/{record['artifact_id']}"
    completed = uploads.post(artifact + "/complete")
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "active"
    content = uploads.get(artifact + "/content")
    assert content.content == BODY
    digest = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert content.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    location = uploads.get(artifact + "/download").headers["Location"]
    downloaded = requests.get(location, timeout=60)
    assert downloaded.content == BODY and downloaded.headers["Content-Type"] == "text/markdown"
    assert 'filename="right.md"' in downloaded.headers["Content-Disposition"]


def test_other_bytes_of_the_same_length_are_refused_by_s3(uploads: Uploads) -> None:
    record = _pending(uploads, "forged.md")
    refused = _put(record["upload"], OTHER_BODY)
    assert refused.status_code == 400 and "BadDigest" in refused.text
    answer = uploads.post(f"/api/v1/artifacts/{record['artifact_id']}/complete")
    assert answer.status_code == 409 and answer.json()["code"] == "upload_incomplete"


@pytest.mark.parametrize(
    ("body", "changes"),
    [
        (BODY + b"more", {}),  # another length than the signed one
        (BODY[:-1], {}),
        (BODY, {"Content-Type": "text/html"}),  # another type
        (BODY, {"x-amz-checksum-sha256": None}),  # no checksum
        (
            OTHER_BODY,
            {"x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(OTHER_BODY).digest()).decode()},
        ),
    ],
    ids=["longer", "shorter", "content-type", "no-checksum", "other-checksum"],
)
def test_a_tampered_request_is_refused_and_nothing_completes(
    uploads: Uploads, body: bytes, changes: dict[str, str | None]
) -> None:
    record = _pending(uploads, "tampered.md")
    refused = _put(record["upload"], body, **changes)
    assert refused.status_code == 403, refused.text
    answer = uploads.post(f"/api/v1/artifacts/{record['artifact_id']}/complete")
    assert answer.status_code == 409 and answer.json()["code"] == "upload_incomplete"
    # The declared bytes still go through the same URL afterwards
    assert _put(record["upload"], BODY).status_code == 200
    assert uploads.post(f"/api/v1/artifacts/{record['artifact_id']}/complete").json()["status"] == "active"


def test_a_fresh_upload_url_after_a_refused_complete(uploads: Uploads, on_strict_s3: StrictBucket) -> None:
    run = new_run("acme")
    answer = uploads.post(run_path(run), create_body(BODY, name="again.md", content_type="text/markdown"))
    record = answer.json()
    # The bytes put around the URL, without a checksum: S3 holds no SHA-256 to compare
    key = f"{run.prefix()}uploads/{record['artifact_id']}"
    on_strict_s3.client.put_object(Bucket=on_strict_s3.name, Key=key, Body=BODY)
    refused = uploads.post(f"/api/v1/artifacts/{record['artifact_id']}/complete")
    assert refused.status_code == 422 and refused.json()["code"] == "checksum_mismatch"
    assert "Contents" not in on_strict_s3.client.list_objects_v2(Bucket=on_strict_s3.name, Prefix=key)
    # Still pending, with a fresh upload URL that takes the declared bytes
    again = uploads.get(f"/api/v1/artifacts/{record['artifact_id']}").json()
    assert again["status"] == "pending"
    assert _put(again["upload"], BODY).status_code == 200
    assert uploads.post(f"/api/v1/artifacts/{record['artifact_id']}/complete").json()["status"] == "active"


def test_the_client_uploads_and_downloads_through_the_stack(
    uploads: Uploads, gateway_url: str, make_token: Callable[..., str], tmp_path: Any
) -> None:
    from etl_artifacts_client import Client

    run = new_run("acme")
    client = Client(gateway_url, make_token("acme", scope="artifacts:write"))
    ref = (str(run.dag_id), run.run_date.isoformat(), run.run_id)
    data = bytes(range(256)) * 4100  # past the client's inline size: the presigned PUT
    (tmp_path / "big.bin").write_bytes(data)
    record = client.upload(*ref, tmp_path / "big.bin", inline=False)
    assert record.status == "active"
    client.download_artifact(record.artifact_id, tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert [item.artifact_id for item in client.uploaded_artifacts(str(run.dag_id))] == [record.artifact_id]
