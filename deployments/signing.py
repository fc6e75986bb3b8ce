"""Ed25519 keys: the tenant's release-signing key and agent challenge verification.

The private release key lives in the vault as the secret `deployments/release-signing/<id>`
(environment `release-signing`), created through `vault.services.secret_create` and read
back through `vault.services.resolve_references` as the system (each use is audited by the
vault). Keys stored before that (`sealed:` references: AES-256-GCM under a key derived from
`VAULT_KEK`/`SECRET_KEY`) are still readable.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import connection

from deployments.agent.protocol import release_payload
from deployments.models import Release, ReleaseKey


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    raw = unb64(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(public_key_b64: str, signature_b64: str, message: bytes) -> bool:
    try:
        public_key_from_b64(public_key_b64).verify(unb64(signature_b64), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _wrapping_key() -> bytes:
    material = (settings.VAULT_KEK or settings.SECRET_KEY).encode()
    return hashlib.sha256(b"tenantry-release-key-wrap\x00" + material).digest()


VAULT_ENVIRONMENT = "release-signing"


def _vault_put(raw_private: bytes, *, actor: Any) -> str:
    from vault.services import secret_create

    name = f"deployments/release-signing/{os.urandom(6).hex()}"
    secret_create(
        actor=actor,
        name=name,
        value=b64(raw_private),
        environment=VAULT_ENVIRONMENT,
        description="Ed25519 release-signing key of the deployments app",
    )
    return f"vault:{name}"


def _vault_get(ref: str) -> bytes:
    if ref.startswith("vault:"):
        from vault.services import resolve_references

        name = ref[len("vault:") :]
        return unb64(resolve_references(f"${{vault:{name}}}", environment=VAULT_ENVIRONMENT, actor=None))
    if not ref.startswith("sealed:"):
        raise ValueError("unknown release-key reference")
    blob = unb64(ref[len("sealed:") :])
    return AESGCM(_wrapping_key()).decrypt(blob[:12], blob[12:], connection.schema_name.encode())


class NoReleaseKey(LookupError):
    pass


def release_key_new(*, actor: Any) -> tuple[Ed25519PrivateKey, ReleaseKey]:
    """A fresh key pair: the private half goes into the vault, the row is not saved yet."""
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = ReleaseKey(public_key=b64(raw_public), private_key_ref=_vault_put(raw_private, actor=actor))
    return private, key


def release_private_key(key: ReleaseKey) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_vault_get(key.private_key_ref))


def release_key_active(*, actor: Any = None) -> ReleaseKey:
    """The tenant's signing key; created on first use when an `actor` (vault.write) is given."""
    key = ReleaseKey.objects.filter(is_active=True).order_by("-id").first()
    if key is not None:
        return key
    if actor is None:
        raise NoReleaseKey("This organisation has no release-signing key yet; create an environment first.")
    _, key = release_key_new(actor=actor)
    key.save()
    return key


def release_sign(*, release: Release, actor: Any) -> tuple[ReleaseKey, str]:
    key = release_key_active(actor=actor)
    message = release_payload(
        tenant=connection.schema_name,
        version=release.version,
        artifact_sha256=release.artifact_sha256,
        manifest=release.manifest,
    )
    return key, b64(release_private_key(key).sign(message))


def release_signature_valid(release: Release) -> bool:
    if not release.signature or release.signing_key is None:
        return False
    message = release_payload(
        tenant=connection.schema_name,
        version=release.version,
        artifact_sha256=release.artifact_sha256,
        manifest=release.manifest,
    )
    return verify(release.signing_key.public_key, release.signature, message)
