"""Offline verification of a sealed run: the signature covers the manifest's RFC 8785 canonical
JSON, ECDSA P-256 with SHA-256 (AWS KMS ``ECDSA_SHA_256``, DER-encoded signature). Needs the
``verify`` extra (``cryptography`` and ``rfc8785``)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from etl_artifacts_client.errors import MissingExtra, VerificationError
from etl_artifacts_client.models import RunSeal

ALGORITHM = "ECDSA_SHA_256"


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of ``value``."""
    try:
        import rfc8785
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise MissingExtra(
            "verifying needs the verify extra: pip install 'etl-artifacts-client[verify]'"
        ) from None
    return rfc8785.dumps(value)


def keys_from_json(body: Any) -> dict[str, str]:
    """Key id -> PEM from the API's key list (``{"keys": [{"key_id", "public_key_pem"}]}``)."""
    items = body.get("keys", []) if isinstance(body, dict) else body
    keys: dict[str, str] = {}
    for item in items or []:
        if not isinstance(item, dict):
            continue
        key_id = item.get("key_id") or item.get("kid")
        pem = item.get("public_key_pem") or item.get("pem") or item.get("public_key")
        if key_id and pem:
            keys[str(key_id)] = str(pem)
    return keys


def verify(seal: RunSeal, keys: dict[str, str]) -> str:
    """The key id that verifies ``seal``; ``VerificationError`` when none does."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise MissingExtra(
            "verifying needs the verify extra: pip install 'etl-artifacts-client[verify]'"
        ) from None
    if seal.algorithm != ALGORITHM:
        raise VerificationError(f"unsupported signature algorithm {seal.algorithm!r} (expected {ALGORITHM})")
    pem = keys.get(seal.key_id)
    if pem is None:
        raise VerificationError(f"no public key with id {seal.key_id!r} to verify the seal with")
    try:
        public_key = serialization.load_pem_public_key(pem.encode("ascii"))
    except ValueError:
        raise VerificationError(f"the public key {seal.key_id!r} is not a PEM public key") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != "secp256r1":
        raise VerificationError(f"the public key {seal.key_id!r} is not an ECDSA P-256 key")
    try:
        signature = base64.b64decode(seal.signature, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError("the signature is not base64") from None
    try:
        public_key.verify(signature, canonical_json(seal.manifest), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VerificationError(
            "the signature does not match the manifest: it was altered or signed by another key"
        ) from None
    return seal.key_id
