"""Sealed runs: the manifest lists what the run delivered, KMS signs its RFC 8785 form, and the
published key verifies it offline (moto's KMS, real ECDSA P-256 keys)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from etl_artifacts.errors import ManifestInvalid, RunNotFound, RunNotSealed, RunSealed
from etl_artifacts.lifecycle import seal as seal_logic
from etl_artifacts.lifecycle.kms_signer import published_keys
from etl_artifacts.lifecycle.manifest_signature import canonical_bytes, verify_seal
from etl_artifacts_client.cli import main as client_main
from lifecycle_helpers import create_signing_key, run_with_parquet, uploaded, use_env
from uploads_helpers import new_run

pytestmark = pytest.mark.usefixtures("base_env")


@pytest.fixture
def signing_key(s3_server, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    key_id = create_signing_key(s3_server.endpoint)
    use_env(monkeypatch, AWS_ENDPOINT_URL_KMS=s3_server.endpoint, MANIFEST_SIGNING_KEY_ID=key_id)
    return key_id


def test_a_seal_lists_parquet_and_active_artifacts_and_verifies_with_the_published_key(
    signing_key: str,
) -> None:
    # Given a run with two parquet objects, an active and a pending artifact
    run, keys = run_with_parquet()
    active = uploaded(run, "report.md")
    uploaded(run, "pending.bin", status="pending", put=False)
    # When it is sealed
    seal = seal_logic.seal_run(run, "alice")
    manifest = seal.manifest
    # Then the manifest names the run, every parquet object and only the active artifact
    assert (manifest["dag_id"], manifest["date"], manifest["run_id"]) == (
        str(run.dag_id),
        run.run_date.isoformat(),
        run.run_id,
    )
    assert manifest["sealed_by"] == "alice"
    assert sorted(o["key"] for o in manifest["parquet"]) == sorted(k[len(run.prefix()) :] for k in keys)
    assert all(o["size_bytes"] > 0 and o["etag"] for o in manifest["parquet"])
    assert manifest["artifacts"] == [
        {
            "artifact_id": active.artifact_id,
            "name": "report.md",
            "size_bytes": 3,
            "sha256": active.record.sha256,
        }
    ]
    # And the published key verifies the signature over the canonical form
    [key] = published_keys()
    assert key.key_id == signing_key == seal.signature.key_id
    verify_seal(seal.model_dump(), key.pem.encode())


def test_sealing_again_answers_the_same_seal_and_the_manifest_route_reads_it(signing_key: str) -> None:
    run, _ = run_with_parquet()
    with pytest.raises(RunNotSealed):
        seal_logic.get_manifest(run)
    first = seal_logic.seal_run(run, "alice")
    again = seal_logic.seal_run(run, "bob")
    assert again == first
    assert seal_logic.get_manifest(run) == first


def test_a_run_that_is_not_the_tenants_cannot_be_sealed(signing_key: str) -> None:
    run = new_run("seal-owner")
    other = type(run)("seal-intruder", run.dag_id, run.run_date, run.run_id)
    with pytest.raises(RunNotFound):
        seal_logic.seal_run(other, "mallory")
    with pytest.raises(RunNotSealed):
        seal_logic.get_manifest(other)


def test_after_a_seal_the_run_refuses_changes(signing_key: str) -> None:
    from etl_artifacts.postgres.db import get_database

    run, _ = run_with_parquet()
    seal_logic.seal_run(run, "alice")
    db = get_database()
    with pytest.raises(RunSealed), db.transaction():
        seal_logic.ensure_not_sealed(db, run)


def _value_positions(text: str, manifest: dict) -> list[int]:  # type: ignore[type-arg]
    """Offsets of bytes inside the manifest's values (names, keys, sizes, hashes)."""
    positions = []
    for needle in (
        manifest["run_id"],
        manifest["artifacts"][0]["sha256"],
        str(manifest["parquet"][0]["size_bytes"]),
    ):
        start = text.index(needle)
        positions += [start, start + len(needle) // 2, start + len(needle) - 1]
    return positions


def test_verify_manifest_command_passes_the_seal_and_fails_after_one_byte_changes(
    signing_key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = run_with_parquet()
    uploaded(run, "report.md")
    seal = seal_logic.seal_run(run, "alice").model_dump()
    seal_file, key_file = tmp_path / "seal.json", tmp_path / "key.pem"
    text = json.dumps(seal, indent=2)
    seal_file.write_text(text)
    key_file.write_text(published_keys()[0].pem)
    assert client_main(["verify-manifest", str(seal_file), "--key", str(key_file)]) == 0
    assert "signature verified" in capsys.readouterr().err  # the client reports on stderr
    # Each single-byte change inside a value makes it fail (exit 1)
    for position in _value_positions(text, seal["manifest"]):
        original = text[position]
        changed = text[:position] + ("1" if original != "1" else "2") + text[position + 1 :]
        seal_file.write_text(changed)
        assert client_main(["verify-manifest", str(seal_file), "--key", str(key_file)]) == 1, position
    # And another key does not verify it either
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    key_file.write_bytes(
        other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    seal_file.write_text(text)
    assert client_main(["verify-manifest", str(seal_file), "--key", str(key_file)]) == 1


def test_a_manifest_larger_than_kms_raw_limit_is_signed_as_a_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit: past 4,096 bytes KMS is sent the SHA-256 (MessageType DIGEST); the signature is the
    same ECDSA_SHA_256 over the canonical bytes (a local key stands in for KMS here)."""
    import hashlib

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from etl_artifacts.lifecycle import kms_signer

    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    calls: list[dict] = []  # type: ignore[type-arg]

    class FakeKms:
        def sign(self, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(kwargs)
            assert kwargs["MessageType"] == "DIGEST"
            signature = private.sign(kwargs["Message"], ec.ECDSA(utils.Prehashed(hashes.SHA256())))
            return {"KeyId": "arn:aws:kms:us-east-1:1:key/k1", "Signature": signature}

        def get_public_key(self, KeyId: str):  # type: ignore[no-untyped-def]
            return {"KeyId": "arn:aws:kms:us-east-1:1:key/k1", "PublicKey": der}

    manifest = {
        "parquet": [{"key": f"extract/attempt=1/data_{i:03}.parquet", "size_bytes": i} for i in range(200)]
    }
    assert len(canonical_bytes(manifest)) > kms_signer.KMS_RAW_MAX_BYTES
    # As in AWS (the test session raises the RAW limit for moto, which lacks DIGEST)
    use_env(
        monkeypatch,
        MANIFEST_SIGN_RAW_MAX_BYTES=str(kms_signer.KMS_RAW_MAX_BYTES),
        MANIFEST_SIGNING_KEY_ID="k1",
    )
    monkeypatch.setattr(kms_signer, "kms_client", lambda: FakeKms())
    signature = kms_signer.sign_manifest(manifest)
    assert calls[0]["Message"] == hashlib.sha256(canonical_bytes(manifest)).digest()
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    verify_seal({"manifest": manifest, "signature": signature}, pem)
    tampered = {**manifest, "parquet": manifest["parquet"][1:]}
    with pytest.raises(ManifestInvalid):
        verify_seal({"manifest": tampered, "signature": signature}, pem)
    assert base64.b64decode(signature["value"])


def test_the_local_stack_creates_a_signing_key_and_an_event_bus(
    s3_server, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from etl_artifacts_local.lifecycle_services import configure_lifecycle_services
    from lifecycle_helpers import aws

    names = (
        "MANIFEST_SIGNING_KEY_ID",
        "EVENT_BUS_NAME",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ENDPOINT_URL_EVENTBRIDGE",
    )
    for name in (*names, "MANIFEST_SIGN_RAW_MAX_BYTES"):
        monkeypatch.setenv(name, "")  # restored afterwards, whatever the function sets
    variables = configure_lifecycle_services(s3_server.endpoint)
    assert set(names) <= set(variables)
    [key] = published_keys()
    assert key.key_id == variables["MANIFEST_SIGNING_KEY_ID"]
    buses = aws("events", s3_server.endpoint).list_event_buses()["EventBuses"]
    assert variables["EVENT_BUS_NAME"] in [bus["Name"] for bus in buses]
    # A manifest far past KMS's RAW limit still signs and verifies locally
    run = new_run("seal-big")
    for chunk in range(120):
        from lifecycle_helpers import put_parquet

        put_parquet(run, f"extract/attempt=1/data_{chunk:03}.parquet")
    seal = seal_logic.seal_run(run, "alice")
    assert len(canonical_bytes(seal.manifest)) > 4096
    verify_seal(seal.model_dump(), key.pem.encode())
