"""Helpers of the lifecycle tests: a KMS signing key and an EventBridge bus on moto's server
(the session's S3 server: it serves every service on one endpoint), uploaded artifacts with their
bytes in S3, and a queue that receives what the bus was sent."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from etl_artifacts.clients import reset_clients, s3_client
from etl_artifacts.config import get_settings
from etl_artifacts.s3.layout import RunRef
from etl_artifacts.uploads.dal import InsertOutcome, StoredArtifact, UploadRecords
from uploads_helpers import new_run, stored

BUCKET = "test-artifacts"


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local-secret",
    )


def create_signing_key(endpoint: str) -> str:
    kms = aws("kms", endpoint)
    return str(kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"])


@dataclass
class Bus:
    name: str
    queue_url: str
    endpoint: str

    def received(self, wait_s: int = 1) -> list[dict[str, Any]]:
        """Every event the bus delivered to the test queue since the last call."""
        sqs = aws("sqs", self.endpoint)
        events: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
            )
            messages = answer.get("Messages") or []
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def create_bus(endpoint: str, name: str) -> Bus:
    """A bus whose every ``etl-artifacts`` event lands in an SQS queue the test reads."""
    events, sqs = aws("events", endpoint), aws("sqs", endpoint)
    events.create_event_bus(Name=name)
    queue_url = sqs.create_queue(QueueName=f"{name}-q")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name=f"{name}-all", EventBusName=name, EventPattern=json.dumps({"source": ["etl-artifacts"]})
    )
    events.put_targets(Rule=f"{name}-all", EventBusName=name, Targets=[{"Id": "q", "Arn": queue_arn}])
    return Bus(name, queue_url, endpoint)


def use_env(monkeypatch: pytest.MonkeyPatch, **values: str | None) -> None:
    for key, value in values.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    reset_clients()


def uploaded(
    run: RunRef, name: str = "report.md", *, data: bytes = b"abc", put: bool = True, **fields: Any
) -> StoredArtifact:
    """An artifact row as a create writes it, with its bytes at its key when ``put``."""
    artifact = stored(run, name, **fields)
    result = UploadRecords().insert(artifact, run_max=1000)
    assert result.outcome is InsertOutcome.CREATED, result
    if put:
        s3_client().put_object(Bucket=BUCKET, Key=artifact.s3_key, Body=data, ContentType="text/plain")
    return artifact


def object_exists(key: str) -> bool:
    listed = s3_client().list_objects_v2(Bucket=BUCKET, Prefix=key)
    return any(item["Key"] == key for item in listed.get("Contents", []))


def put_parquet(run: RunRef, relative: str, data: bytes = b"PAR1-not-really") -> str:
    key = run.prefix() + relative
    s3_client().put_object(Bucket=BUCKET, Key=key, Body=data)
    return key


def run_with_parquet(company: str = "acme") -> tuple[RunRef, list[str]]:
    run = new_run(company)
    keys = [
        put_parquet(run, "extract/attempt=1/data_000.parquet"),
        put_parquet(run, "extract/attempt=1/metadata.parquet"),
    ]
    return run, keys


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)
