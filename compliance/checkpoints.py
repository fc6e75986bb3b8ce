"""Ed25519-signed checkpoints of a chain head: (chain, seq, hash, time).

The signing key is `AUDIT_SIGNING_KEY` (base64 of a 32-byte Ed25519 seed, or a PEM private
key). Outside production, an unset key is derived from SECRET_KEY so development and tests
work; production refuses to sign without one. Old public keys stay trusted through
`AUDIT_TRUSTED_PUBLIC_KEYS` (base64, comma-separated) after a rotation.

A checkpoint signs the chain's stable id (`chain_id`): `tenant-<Tenant.pk>` for a tenant,
`public` for the operators' chain, so it survives a rename of the tenant's schema. It is stored
in the database and, write-once (S3 Object Lock where the bucket has it), in object storage
under `audit-chains/<chain id>/checkpoints/<seq>-<kind>-<time>.json` (see
`compliance.archive`). Checkpoints from before stable ids signed the schema name and live
under `<schema>/audit/checkpoints/…`; they stay trusted after a rename because the schema
keeps its former names (`AuditChainName`, written by `tenants.services.tenant_schema_rename`).
The JSON document is exactly what `python -m compliance.verify` takes as `checkpoint.json`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from compliance import archive
from compliance.canonical import checkpoint_message
from compliance.chain import _head, chain_pending, current_schema
from compliance.models import AuditCheckpoint


@lru_cache(maxsize=4)
def _private_key(raw: str, secret_key: str, production: bool) -> Ed25519PrivateKey:
    if raw.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(raw.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ImproperlyConfigured("AUDIT_SIGNING_KEY must be an Ed25519 key")
        return key
    if raw:
        seed = base64.b64decode(raw)
        if len(seed) != 32:
            raise ImproperlyConfigured("AUDIT_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed")
        return Ed25519PrivateKey.from_private_bytes(seed)
    if production:
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY is required in production to sign audit checkpoints")
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"audit:{secret_key}".encode()).digest())


def signing_key() -> Ed25519PrivateKey:
    return _private_key(settings.AUDIT_SIGNING_KEY, settings.SECRET_KEY, settings.PRODUCTION)


def public_key_bytes(key: Ed25519PublicKey | None = None) -> bytes:
    key = key or signing_key().public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64() -> str:
    return base64.b64encode(public_key_bytes()).decode()


def key_id(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()[:16]


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    """key_id → public key, for the current key and every key still trusted."""
    keys = {key_id(public_key_bytes()): signing_key().public_key()}
    for item in getattr(settings, "AUDIT_TRUSTED_PUBLIC_KEYS", []) or []:
        raw = base64.b64decode(item)
        keys[key_id(raw)] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


CHAINS_PREFIX = "audit-chains/"  # no schema this portal creates has a "-": no clash with schema prefixes


def chain_id(schema: str | None = None) -> str:
    """The stable name checkpoints of a schema's chain sign (see the module docstring).

    A schema without a tenant row (a spare, a benchmark schema) signs its schema name.
    """
    from django_tenants.utils import get_tenant_model

    schema = schema or current_schema()
    if schema == "public":
        return "public"
    pk = get_tenant_model().objects.filter(schema_name=schema).values_list("pk", flat=True).first()
    return f"tenant-{pk}" if pk is not None else schema


def chain_names() -> set[str]:
    """Every chain name this schema's checkpoints may carry: its stable id, its schema name,
    and the schema names it had before a rename."""
    from compliance.models import AuditChainName

    return {chain_id(), current_schema(), *AuditChainName.objects.values_list("name", flat=True)}


def storage_key(checkpoint: AuditCheckpoint) -> str:
    """The full object key of a checkpoint's write-once copy."""
    if checkpoint.storage_name.startswith(CHAINS_PREFIX):
        return checkpoint.storage_name
    # Before stable chain ids: under the schema prefix it was signed in (its `chain`).
    return f"{checkpoint.chain}/{checkpoint.storage_name}"


def time_text(value: Any) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def document(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The portable JSON form (what goes to storage and to the offline verifier)."""
    return {
        "type": "tenantry.audit.checkpoint",
        "chain": checkpoint.chain,
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "time": time_text(checkpoint.signed_at),
        "kind": checkpoint.kind,
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def signature_valid(checkpoint: AuditCheckpoint, *, keys: dict[str, Ed25519PublicKey] | None = None) -> bool:
    keys = keys if keys is not None else trusted_keys()
    key = keys.get(checkpoint.key_id)
    if key is None:
        return False
    message = checkpoint_message(
        chain=checkpoint.chain, seq=checkpoint.seq, hash=checkpoint.hash, time=time_text(checkpoint.signed_at)
    )
    try:
        key.verify(base64.b64decode(checkpoint.signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def stored_copy_matches(checkpoint: AuditCheckpoint) -> bool:
    """The write-once copy in storage says the same as the database row."""
    if not checkpoint.storage_name:
        return False
    try:
        stored = json.loads(archive.read_original_key(storage_key(checkpoint)))
    except (OSError, ValueError, FileNotFoundError):
        return False
    except Exception:  # botocore errors: missing object, unreachable storage
        return False
    return stored == document(checkpoint)


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


def chain_head() -> Head:
    with connection.cursor() as cursor:
        seq, digest = _head(cursor, current_schema())
    return Head(seq=seq, hash=digest)


@transaction.atomic
def checkpoint_create(
    *, kind: str = AuditCheckpoint.Kind.ON_DEMAND, at: Head | None = None
) -> AuditCheckpoint:
    """Sign the chain head (or `at`), store it in the database and write-once in storage."""
    if at is None:
        chain_pending()
        at = chain_head()
    chain = chain_id()
    signed_at = timezone.now()
    message = checkpoint_message(chain=chain, seq=at.seq, hash=at.hash, time=time_text(signed_at))
    key = signing_key()
    checkpoint = AuditCheckpoint(
        chain=chain,
        seq=at.seq,
        hash=at.hash,
        signed_at=signed_at,
        kind=kind,
        key_id=key_id(public_key_bytes(key.public_key())),
        signature=base64.b64encode(key.sign(message)).decode(),
    )
    checkpoint.storage_name = (
        f"{CHAINS_PREFIX}{chain}/checkpoints/{at.seq:012d}-{kind}-{signed_at:%Y%m%dT%H%M%S%f}.json"
    )
    archive.put_once_key(
        checkpoint.storage_name, json.dumps(document(checkpoint), indent=2).encode(), retain=True
    )
    checkpoint.save()
    return checkpoint


def checkpoint_periodic() -> AuditCheckpoint | None:
    """The hourly beat job: sign the head unless nothing happened since the last checkpoint."""
    chain_pending()
    head = chain_head()
    last = AuditCheckpoint.objects.order_by("-seq", "-id").first()
    if head.seq == 0 or (last is not None and last.seq == head.seq and last.hash == head.hash):
        return None
    return checkpoint_create(kind=AuditCheckpoint.Kind.PERIODIC, at=head)
