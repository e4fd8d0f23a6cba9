"""Manifest signatures: RFC 8785 canonical JSON signed with ECDSA P-256 / SHA-256.

Signing happens in KMS (``kms:Sign`` on an asymmetric ``ECC_NIST_P256`` key); verifying needs only
the public key (``verify_seal``), so anyone holding it checks a manifest offline. This module
imports neither boto3 nor the database: the verify command runs on a consumer's machine.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from etl_artifacts.errors import ManifestInvalid

ALGORITHM = "ECDSA_SHA_256"


def canonical_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as RFC 8785 (JCS) canonical JSON: the exact bytes the signature covers."""
    return rfc8785.dumps(manifest)


def public_key_pem(der: bytes) -> str:
    """A SubjectPublicKeyInfo (DER, as KMS GetPublicKey returns it) as PEM text."""
    key = serialization.load_der_public_key(der)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem: bytes) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ManifestInvalid("the key is not a PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ManifestInvalid("the key is not an ECDSA P-256 public key")
    return key


def verify_seal(seal: Any, pem: bytes) -> None:
    """Raise ``ManifestInvalid`` unless ``seal`` (a RunSeal document) verifies with the PEM key."""
    if not isinstance(seal, dict) or not isinstance(seal.get("manifest"), dict):
        raise ManifestInvalid("not a RunSeal: no manifest object")
    signature = seal.get("signature")
    if not isinstance(signature, dict) or signature.get("algorithm") != ALGORITHM:
        raise ManifestInvalid(f"not a RunSeal: the signature's algorithm must be {ALGORITHM}")
    try:
        value = base64.b64decode(str(signature.get("value", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ManifestInvalid("the signature value is not base64") from exc
    key = load_public_key(pem)
    try:
        key.verify(value, canonical_bytes(seal["manifest"]), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise ManifestInvalid("the signature does not match the manifest") from exc
