"""The strict local S3 refuses, over HTTP, what AWS refuses on a presigned PUT whose signed
headers pin the length, the media type and the SHA-256 of the body (docs/local-stack.md), and
moto's server does not: the reason the upload path is tested against the strict one."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import StrictBucket
from etl_artifacts_local.services import MotoS3Server, local_aws_environment
from etl_artifacts_local.strict_s3 import StrictS3NotInstalled, StrictS3Server
from phases_helpers import data_table, new_run, phase_path, put_chunks, put_metadata, run_path

BODY = b"# Report\n\nEvery row reconciled.\n"
OTHER_BODY = BODY.replace(b"reconciled", b"discarded!")  # same length, other bytes
MEDIA_TYPE = "text/markdown"


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@dataclass(frozen=True)
class PresignedPut:
    url: str
    headers: dict[str, str]  # what the client must send: every signed header but host and length

    def put(self, body: bytes, **changed: str | None) -> requests.Response:
        headers = {**self.headers, **changed}
        sent = {name: value for name, value in headers.items() if value is not None}
        return requests.put(self.url, data=body, headers=sent, timeout=30)


def presign_put(client: Any, bucket: str, key: str, body: bytes = BODY, expires_s: int = 300) -> PresignedPut:
    checksum = sha256_b64(body)
    url = client.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": bucket,
            "Key": key,
            "ChecksumSHA256": checksum,
            "ContentLength": len(body),
            "ContentType": MEDIA_TYPE,
        },
        ExpiresIn=expires_s,
    )
    return PresignedPut(url, {"Content-Type": MEDIA_TYPE, "x-amz-checksum-sha256": checksum})


def error_code(response: requests.Response) -> str | None:
    found = re.search(r"<Code>([^<]*)</Code>", response.text)
    return found.group(1) if found else None


def stored(bucket: StrictBucket, key: str) -> bool:
    try:
        bucket.client.head_object(Bucket=bucket.name, Key=key)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "404"
        return False
    return True


def test_the_url_signs_length_media_type_and_checksum(strict_bucket: StrictBucket) -> None:
    upload = presign_put(strict_bucket.client, strict_bucket.name, "uploads/a")
    signed = parse_qs(urlsplit(upload.url).query)["X-Amz-SignedHeaders"][0].split(";")
    assert signed == ["content-length", "content-type", "host", "x-amz-checksum-sha256"]


def test_the_right_bytes_are_stored_with_their_checksum(strict_bucket: StrictBucket) -> None:
    upload = presign_put(strict_bucket.client, strict_bucket.name, "uploads/a")
    response = upload.put(BODY)
    assert response.status_code == 200, response.text
    client, name = strict_bucket.client, strict_bucket.name
    head = client.head_object(Bucket=name, Key="uploads/a", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(BODY)
    assert head["ContentLength"] == len(BODY)
    assert head["ContentType"] == MEDIA_TYPE


def test_other_bytes_of_the_same_length_are_refused_as_bad_digest(strict_bucket: StrictBucket) -> None:
    assert len(OTHER_BODY) == len(BODY) and OTHER_BODY != BODY
    upload = presign_put(strict_bucket.client, strict_bucket.name, "uploads/a")
    response = upload.put(OTHER_BODY)
    assert (response.status_code, error_code(response)) == (400, "BadDigest")
    assert not stored(strict_bucket, "uploads/a")


@pytest.mark.parametrize(
    ("body", "changed"),
    [
        pytest.param(BODY, {"Content-Type": "text/html"}, id="other-content-type"),
        pytest.param(BODY + b"!", {}, id="other-content-length"),
        pytest.param(BODY, {"x-amz-checksum-sha256": None}, id="checksum-missing"),
        pytest.param(
            OTHER_BODY, {"x-amz-checksum-sha256": sha256_b64(OTHER_BODY)}, id="checksum-of-other-bytes"
        ),
    ],
)
def test_a_changed_signed_header_is_refused(
    strict_bucket: StrictBucket, body: bytes, changed: dict[str, str | None]
) -> None:
    upload = presign_put(strict_bucket.client, strict_bucket.name, "uploads/a")
    response = upload.put(body, **changed)
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")
    assert not stored(strict_bucket, "uploads/a")


def test_an_expired_url_is_refused(strict_bucket: StrictBucket) -> None:
    upload = presign_put(strict_bucket.client, strict_bucket.name, "uploads/a", expires_s=1)
    time.sleep(2.1)  # S3 counts whole seconds from X-Amz-Date
    response = upload.put(BODY)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert not stored(strict_bucket, "uploads/a")


def test_a_forged_signature_is_refused(strict_bucket: StrictBucket) -> None:
    upload = presign_put(strict_bucket.client, strict_bucket.name, "uploads/a")
    scheme, netloc, path, query, _ = urlsplit(upload.url)
    params = {name: values[0] for name, values in parse_qs(query).items()}
    signature = params["X-Amz-Signature"]
    params["X-Amz-Signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
    forged = f"{scheme}://{netloc}{path}?" + urlencode(params)
    response = PresignedPut(forged, upload.headers).put(BODY)
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")


def test_a_url_signed_with_another_secret_is_refused(strict_bucket: StrictBucket) -> None:
    env = strict_bucket.environment
    intruder = boto3.client(
        "s3",
        endpoint_url=strict_bucket.endpoint,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="not-the-secret",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    response = presign_put(intruder, strict_bucket.name, "uploads/a").put(BODY)
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")


def test_moto_stores_bytes_that_do_not_match_the_signed_checksum(s3_server: MotoS3Server) -> None:
    # Why the strict S3 exists: moto's server takes what AWS refuses with BadDigest.
    env = local_aws_environment(s3_server.endpoint, "moto-lenient")
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket="moto-lenient")
    response = presign_put(client, "moto-lenient", "uploads/a").put(OTHER_BODY)
    assert response.status_code == 200
    assert client.get_object(Bucket="moto-lenient", Key="uploads/a")["Body"].read() == OTHER_BODY


def test_the_whole_stack_runs_on_the_strict_s3(api: Any, on_strict_s3: StrictBucket) -> None:
    # Given a run written through the stack's own S3 client, which now points at the strict S3
    run = new_run()
    put_metadata(run, rows=3, chunks=1)
    put_chunks(run, "data", [data_table(0, 3)])
    assert on_strict_s3.client.list_objects_v2(Bucket=on_strict_s3.name)["KeyCount"] == 2

    # When a tenant reads a page (pyarrow's S3 client) and downloads through a listed URL (presigned GET)
    page = api.get(phase_path(run, suffix="/data"))
    listed = api.get(run_path(run, "/artifacts"))

    # Then both are served from the strict S3, and the URL passes its signature check
    assert page.status_code == 200, page.text
    assert [row["id"] for row in page.json()["rows"]] == [0, 1, 2]
    assert listed.status_code == 200, listed.text
    (data,) = [item for item in listed.json()["artifacts"] if item["artifact_kind"] == "extract-data"]
    assert data["url"].startswith(on_strict_s3.endpoint + "/")
    assert requests.get(data["url"], timeout=30).status_code == 200


def test_without_its_virtualenv_start_names_the_fix(tmp_path: Path) -> None:
    server = StrictS3Server(tmp_path, python=tmp_path / "missing" / "bin" / "python")
    with pytest.raises(StrictS3NotInstalled, match="make strict-s3"):
        server.start()


def test_stop_ends_its_whole_process_group_and_keeps_the_log(tmp_path: Path) -> None:
    server = StrictS3Server(tmp_path)
    server.start()
    assert server.pid is not None
    group = os.getpgid(server.pid)
    assert group == server.pid  # a group of its own: stopping it never touches ours
    endpoint = server.endpoint

    server.stop()

    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{endpoint}/_localstack/health", timeout=5)
    assert "Ready." in server.log_path.read_text()
