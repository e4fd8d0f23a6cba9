"""Signing seals with the KMS key ``MANIFEST_SIGNING_KEY_ID`` and publishing its public keys.

KMS signs a message of at most 4,096 bytes as it is (``MessageType=RAW``); a larger canonical
manifest is hashed here and sent as ``MessageType=DIGEST``. Both give the same ECDSA_SHA_256
signature over the canonical bytes. moto's KMS does not implement DIGEST (it hashes the digest
again), so the local stack raises ``MANIFEST_SIGN_RAW_MAX_BYTES``; in AWS it stays 4,096.
Every signature is checked against the key's public key before it is stored.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from etl_artifacts.clients import kms_client
from etl_artifacts.config import get_settings
from etl_artifacts.errors import ConfigurationError, ManifestInvalid, SigningFailed
from etl_artifacts.lifecycle.manifest_signature import ALGORITHM, canonical_bytes, public_key_pem, verify_seal
from etl_artifacts.observability import logger

KMS_RAW_MAX_BYTES = 4096


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    pem: str


def short_key_id(key_id: str) -> str:
    """The key's id without its ARN (``arn:...:key/<id>`` -> ``<id>``): no account number published."""
    return key_id.rsplit("/", 1)[-1]


def _raw_max_bytes() -> int:
    value = os.environ.get("MANIFEST_SIGN_RAW_MAX_BYTES", "")
    return int(value) if value.isdigit() else KMS_RAW_MAX_BYTES


@lru_cache(maxsize=16)
def public_key(key_id: str) -> PublicKey:
    """The public key of a KMS key (GetPublicKey, cached: a key's public half never changes)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = kms_client().get_public_key(KeyId=key_id)
    except (BotoCoreError, ClientError) as exc:
        logger.error("kms GetPublicKey failed", extra={"error_type": type(exc).__name__})
        raise SigningFailed("The manifest keys could not be read; retry later.") from exc
    return PublicKey(short_key_id(str(answer["KeyId"])), public_key_pem(answer["PublicKey"]))


def signing_key_id() -> str:
    key_id = get_settings().manifest_signing_key_id
    if not key_id:
        raise ConfigurationError("MANIFEST_SIGNING_KEY_ID is not set")
    return key_id


def published_keys() -> list[PublicKey]:
    """The signing key first, then the keys of earlier seals (``MANIFEST_PREVIOUS_KEY_IDS``)."""
    settings = get_settings()
    ids = [signing_key_id()]
    ids += [k.strip() for k in (settings.manifest_previous_key_ids or "").split(",") if k.strip()]
    keys: dict[str, PublicKey] = {}
    for key_id in ids:
        key = public_key(key_id)
        keys.setdefault(key.key_id, key)
    return list(keys.values())


def sign_manifest(manifest: dict[str, Any]) -> dict[str, str]:
    """The RunSeal ``signature`` of ``manifest``: KMS signs its canonical bytes."""
    from botocore.exceptions import BotoCoreError, ClientError

    key_id = signing_key_id()
    message = canonical_bytes(manifest)
    if len(message) <= _raw_max_bytes():
        request = {"Message": message, "MessageType": "RAW"}
    else:
        request = {"Message": hashlib.sha256(message).digest(), "MessageType": "DIGEST"}
    try:
        answer = kms_client().sign(KeyId=key_id, SigningAlgorithm=ALGORITHM, **request)
    except (BotoCoreError, ClientError) as exc:
        logger.error("kms Sign failed", extra={"error_type": type(exc).__name__})
        raise SigningFailed() from exc
    signature = {
        "algorithm": ALGORITHM,
        "key_id": short_key_id(str(answer["KeyId"])),
        "value": base64.b64encode(answer["Signature"]).decode("ascii"),
    }
    # A seal is irreversible: never store one that its published key would not verify.
    try:
        verify_seal({"manifest": manifest, "signature": signature}, public_key(key_id).pem.encode())
    except ManifestInvalid as exc:
        logger.error("kms signature does not verify", extra={"message_type": request["MessageType"]})
        raise SigningFailed() from exc
    return signature
