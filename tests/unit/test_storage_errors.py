"""The one wrapping point of storage failures (``storage_errors``): an S3 call's failure becomes
the API's ``StorageError``, logged once by type and action, never with its text; API errors raised
inside pass through. Over HTTP against moto's S3: test_artifacts.py, test_phases_pages.py."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from etl_artifacts import storage_errors as module
from etl_artifacts.errors import ArtifactNotFound, StorageError
from etl_artifacts.storage_errors import storage_errors

SECRET = "s3://tenant-bucket/acme/key.parquet"


class _Logger:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def warning(self, message: str, extra: dict[str, Any]) -> None:
        self.calls.append((message, extra))


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> _Logger:
    spy = _Logger()
    monkeypatch.setattr(module, "logger", spy)
    return spy


@pytest.mark.parametrize(
    "failure",
    [
        ClientError({"Error": {"Code": "AccessDenied", "Message": SECRET}}, "GetObject"),
        EndpointConnectionError(endpoint_url=SECRET),
        OSError(f"When reading {SECRET}: connection reset"),
    ],
)
def test_a_driver_failure_is_a_storage_error_logged_once_by_type(
    failure: BaseException, logged: _Logger
) -> None:
    with pytest.raises(StorageError) as raised, storage_errors("read chunk"):
        raise failure
    assert raised.value.__cause__ is failure
    assert logged.calls == [
        ("storage call failed", {"action": "read chunk", "error_type": type(failure).__name__})
    ]
    assert SECRET not in str(raised.value) and SECRET not in repr(logged.calls)


def test_api_errors_and_other_bugs_pass_through_unlogged(logged: _Logger) -> None:
    with pytest.raises(ArtifactNotFound), storage_errors("HEAD"):
        raise ArtifactNotFound()
    with pytest.raises(KeyError), storage_errors("HEAD"):
        raise KeyError("not a storage failure")
    assert logged.calls == []
