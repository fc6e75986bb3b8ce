"""Envelope encryption for the vault, built on `cryptography` only.

- Every tenant has one active data key (DEK, 32 random bytes) stored *wrapped* in its own
  schema (`vault.DataKey`). Secret values are sealed with AES-256-GCM under the DEK, with a
  random 96-bit nonce and the AAD `tenant schema | secret id | version`, so a ciphertext moved
  to another row, secret or tenant fails to open.
- The key-encryption key (KEK) wraps the DEKs. It is either local (`VAULT_KEK`: comma-separated
  base64 keys of 32 bytes; the first wraps, every one unwraps) or AWS KMS (`VAULT_KMS_KEY_ID`,
  optionally `VAULT_KMS_ENDPOINT_URL`). Each wrapped DEK records the id of the KEK that wrapped
  it, so several KEKs can be live at once while `rewrap_all()` moves every DEK to the primary
  one: reads never stop during a KEK rotation.
- Unwrapped DEKs are cached per process for `VAULT_DEK_CACHE_SECONDS` (keyed by schema and data
  key id), so the hot path is one AES-GCM call.

Stored ciphertext format: `nonce (12 bytes) || AES-GCM ciphertext and tag`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connection, transaction

NONCE_BYTES = 12
# Bound once: the hot path avoids two attribute lookups per call.
_monotonic = time.monotonic
_urandom = os.urandom
KEY_BYTES = 32


class DecryptionFailed(Exception):
    """A ciphertext did not authenticate: wrong key, wrong AAD, or tampered bytes."""


class KEK(Protocol):
    id: str

    def wrap(self, dek: bytes, *, schema: str) -> bytes: ...

    def unwrap(self, blob: bytes, *, schema: str) -> bytes: ...


def _wrap_aad(schema: str) -> bytes:
    return b"tenantry-vault-dek|" + schema.encode()


class LocalKEK:
    """A 32-byte key from `VAULT_KEK`. Its id is a fingerprint, never the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ImproperlyConfigured("VAULT_KEK keys must be base64 of exactly 32 bytes")
        self._aes = AESGCM(key)
        self.id = "local:" + hashlib.sha256(b"tenantry-kek-id|" + key).hexdigest()[:16]

    def wrap(self, dek: bytes, *, schema: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aes.encrypt(nonce, dek, _wrap_aad(schema))

    def unwrap(self, blob: bytes, *, schema: str) -> bytes:
        try:
            return self._aes.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _wrap_aad(schema))
        except InvalidTag as exc:
            raise DecryptionFailed("data key does not unwrap under this KEK") from exc


class KmsKEK:
    """AWS KMS (or a KMS-compatible endpoint). The tenant schema is the encryption context."""

    def __init__(self, key_id: str, *, endpoint_url: str | None, region: str) -> None:
        import boto3

        self.key_id = key_id
        self.id = f"kms:{key_id}"
        self._client = boto3.client("kms", endpoint_url=endpoint_url, region_name=region)

    def wrap(self, dek: bytes, *, schema: str) -> bytes:
        answer = self._client.encrypt(
            KeyId=self.key_id, Plaintext=dek, EncryptionContext={"tenantry_schema": schema}
        )
        return bytes(answer["CiphertextBlob"])

    def unwrap(self, blob: bytes, *, schema: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            answer = self._client.decrypt(CiphertextBlob=blob, EncryptionContext={"tenantry_schema": schema})
        except ClientError as exc:
            raise DecryptionFailed(f"KMS refused to unwrap: {exc}") from exc
        return bytes(answer["Plaintext"])


def parse_local_keys(raw: str) -> list[bytes]:
    keys = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            key = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured("VAULT_KEK must be base64 (e.g. `openssl rand -base64 32`)") from exc
        if len(key) != KEY_BYTES:
            raise ImproperlyConfigured("VAULT_KEK keys must be base64 of exactly 32 bytes")
        keys.append(key)
    return keys


def _development_key() -> bytes:
    # Deterministic so a developer's data survives restarts; refused in production.
    return hashlib.sha256(b"tenantry-dev-vault-kek|" + settings.SECRET_KEY.encode()).digest()


@dataclass
class KeyConfig:
    primary: KEK
    unwrappers: dict[str, KEK]
    source: str  # "kms", "env" or "development"


def _build_config() -> KeyConfig:
    local = [LocalKEK(key) for key in parse_local_keys(settings.VAULT_KEK)]
    source = "env"
    if not local:
        if getattr(settings, "PRODUCTION", False):
            if not settings.VAULT_KMS_KEY_ID:
                raise ImproperlyConfigured("Set VAULT_KEK or VAULT_KMS_KEY_ID in production")
        else:
            # Development and tests only; it still unwraps after a switch to KMS.
            local = [LocalKEK(_development_key())]
            source = "development"
    unwrappers: dict[str, KEK] = {kek.id: kek for kek in local}
    primary: KEK | None = local[0] if local else None
    if settings.VAULT_KMS_KEY_ID:
        kms = KmsKEK(
            settings.VAULT_KMS_KEY_ID,
            endpoint_url=settings.VAULT_KMS_ENDPOINT_URL,
            region=getattr(settings, "VAULT_KMS_REGION", "us-east-1"),
        )
        unwrappers[kms.id] = kms
        primary, source = kms, "kms"
    assert primary is not None
    return KeyConfig(primary=primary, unwrappers=unwrappers, source=source)


_lock = threading.Lock()
_config: KeyConfig | None = None
# (schema, data key id) → (AESGCM, expires at); ("active", schema) → (data key id, AESGCM, expires)
_dek_cache: dict[tuple[str, int], tuple[AESGCM, float]] = {}
_active_cache: dict[str, tuple[int, AESGCM, float]] = {}
# Data keys created by a transaction that has not committed yet: never cached, because a
# rollback would leave the cache pointing at a row that does not exist. (Sequences never
# reuse ids, so every other row we can see is committed.)
_uncommitted: set[tuple[str, int]] = set()


def config() -> KeyConfig:
    global _config
    if _config is None:
        with _lock:
            if _config is None:
                _config = _build_config()
    return _config


def forget_data_keys() -> None:
    """Drop the cached data keys only: the next use unwraps again (tests, after a KEK rotation)."""
    with _lock:
        _dek_cache.clear()
        _active_cache.clear()


def reset() -> None:
    """Forget the KEK configuration and every cached data key (settings changed, tests)."""
    global _config
    with _lock:
        _config = None
        _dek_cache.clear()
        _active_cache.clear()
        _uncommitted.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("VAULT_") or setting == "SECRET_KEY":
        reset()


setting_changed.connect(_on_setting_changed)


def _kek_for(kek_id: str) -> KEK:
    kek = config().unwrappers.get(kek_id)
    if kek is None:
        raise ImproperlyConfigured(f"the KEK {kek_id} that wrapped a data key is not configured")
    return kek


def _unwrap(data_key: Any, schema: str) -> AESGCM:
    return AESGCM(_kek_for(data_key.kek_id).unwrap(bytes(data_key.wrapped), schema=schema))


def _schema(schema: str | None = None) -> str:
    # Reading the connection's schema goes through asgiref's Local (microseconds): the hot
    # path lets a caller that already knows the schema pass it in.
    schema = schema or getattr(connection, "schema_name", "")
    if not schema or schema == "public":
        raise RuntimeError("the vault works inside a tenant schema only")
    return schema


_prefixes: dict[str, bytes] = {}


def _aad_prefix(schema: str) -> bytes:
    prefix = _prefixes.get(schema)
    if prefix is None:
        prefix = _prefixes[schema] = schema.encode() + b"|"
    return prefix


def aad_for(schema: str, secret_id: int, version: int) -> bytes:
    """`schema|secret id|version`: seal/open build the same bytes inline on the hot path."""
    return _aad_prefix(schema) + b"%d|%d" % (secret_id, version)


def active_key(schema: str | None = None) -> tuple[int, AESGCM]:
    """The current tenant's active data key (created on first use), from cache when fresh."""
    schema = _schema(schema)
    now = time.monotonic()
    hit = _active_cache.get(schema)
    if hit and hit[2] > now:
        return hit[0], hit[1]
    from vault.models import DataKey

    data_key = DataKey.objects.filter(is_active=True).order_by("-id").first()
    if data_key is None:
        data_key = _create_data_key()
    aes = _unwrap(data_key, schema)
    if (schema, data_key.pk) not in _uncommitted:
        expires = now + settings.VAULT_DEK_CACHE_SECONDS
        _active_cache[schema] = (data_key.pk, aes, expires)
        _dek_cache[(schema, data_key.pk)] = (aes, expires)
    return data_key.pk, aes


def _create_data_key() -> Any:
    from vault.models import DataKey

    schema = _schema()
    with transaction.atomic():
        # One creator at a time per tenant; the loser reuses the winner's key.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"vault-dek|{schema}"])
        existing = DataKey.objects.filter(is_active=True).order_by("-id").first()
        if existing is not None:
            return existing
        kek = config().primary
        data_key = DataKey.objects.create(
            wrapped=kek.wrap(AESGCM.generate_key(256), schema=schema), kek_id=kek.id
        )
        marker = (schema, data_key.pk)
        _uncommitted.add(marker)
        transaction.on_commit(lambda: _uncommitted.discard(marker))
        return data_key


def key_by_id(data_key_id: int, schema: str | None = None) -> AESGCM:
    schema = _schema(schema)
    now = time.monotonic()
    hit = _dek_cache.get((schema, data_key_id))
    if hit and hit[1] > now:
        return hit[0]
    from vault.models import DataKey

    aes = _unwrap(DataKey.objects.get(pk=data_key_id), schema)
    if (schema, data_key_id) not in _uncommitted:
        _dek_cache[(schema, data_key_id)] = (aes, now + settings.VAULT_DEK_CACHE_SECONDS)
    return aes


def seal(plaintext: bytes, *, secret_id: int, version: int, schema: str | None = None) -> tuple[int, bytes]:
    """Encrypt for the current tenant (`schema` must be the connection's, if given);
    returns (data key id, nonce || ciphertext)."""
    if schema is None or schema == "public":
        schema = _schema(schema)
    hit = _active_cache.get(schema)
    if hit is not None and hit[2] > _monotonic():
        data_key_id, aes = hit[0], hit[1]
    else:
        data_key_id, aes = active_key(schema)
    nonce = _urandom(NONCE_BYTES)
    aad = _aad_prefix(schema) + b"%d|%d" % (secret_id, version)
    return data_key_id, nonce + aes.encrypt(nonce, plaintext, aad)


def open_sealed(
    blob: bytes | memoryview, *, data_key_id: int, secret_id: int, version: int, schema: str | None = None
) -> bytes:
    if schema is None or schema == "public":
        schema = _schema(schema)
    hit = _dek_cache.get((schema, data_key_id))
    aes = hit[0] if hit is not None and hit[1] > _monotonic() else key_by_id(data_key_id, schema)
    if type(blob) is not bytes:  # psycopg gives memoryview for bytea
        blob = bytes(blob)
    try:
        return aes.decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad_prefix(schema) + b"%d|%d" % (secret_id, version)
        )
    except InvalidTag as exc:
        raise DecryptionFailed(
            "secret value does not authenticate for this tenant, secret and version"
        ) from exc


def rewrap_schema() -> int:
    """Re-wrap the current tenant's data keys under the primary KEK; each row in its own transaction."""
    from vault.models import DataKey

    schema = _schema()
    primary = config().primary
    moved = 0
    for pk in DataKey.objects.exclude(kek_id=primary.id).values_list("pk", flat=True):
        with transaction.atomic():
            data_key = DataKey.objects.select_for_update().get(pk=pk)
            if data_key.kek_id == primary.id:
                continue
            dek = _kek_for(data_key.kek_id).unwrap(bytes(data_key.wrapped), schema=schema)
            data_key.wrapped = primary.wrap(dek, schema=schema)
            data_key.kek_id = primary.id
            data_key.save(update_fields=["wrapped", "kek_id", "rewrapped_at"])
            moved += 1
    return moved


def tenant_schemas(only: list[str] | None = None) -> list[str]:
    """Tenant schemas that exist (pending tenants have none yet)."""
    from tenants.models import Tenant

    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace")
        existing = {row[0] for row in cursor.fetchall()}
    schemas = Tenant.objects.exclude(schema_name="public").values_list("schema_name", flat=True)
    return [s for s in schemas if s in existing and (only is None or s in only)]


def rewrap_all(only: list[str] | None = None) -> dict[str, int]:
    """KEK rotation: every tenant's data keys move to the primary KEK, online."""
    from django_tenants.utils import schema_context

    result = {}
    for schema in tenant_schemas(only):
        with schema_context(schema):
            result[schema] = rewrap_schema()
    return result


def status() -> dict[str, Any]:
    """What the operator admin shows: which KEK wraps, which unwrap. Never key material."""
    cfg = config()
    return {"source": cfg.source, "primary": cfg.primary.id, "unwrappers": sorted(cfg.unwrappers)}
