"""Write-once object storage for checkpoints, exports and manifests.

`put_once(name, …)` names are prefixed with the current schema (`portal.storage.tenant_prefixed`),
so a tenant can only ever address its own objects. `put_once_key(key, …)` takes a full key the
caller built (checkpoints use a prefix bound to the tenant's stable chain id, which survives a
schema rename; see `compliance.checkpoints.storage_key`).

With S3 configured (`S3_BUCKET`), objects are written with `If-None-Match: *` (a conditional
put: the key must not exist yet) after a HEAD check for servers that ignore the condition.
Checkpoints (`retain=True`) also get S3 Object Lock when the bucket has it enabled and
`AUDIT_OBJECT_LOCK_DAYS` > 0: mode `AUDIT_OBJECT_LOCK_MODE` (COMPLIANCE by default) until now +
that many days, so the server refuses to delete or shorten that version. Object Lock protects
*versions*: an unconditional PUT to the same key still adds a newer version, so checkpoints are
read back from the key's first version (`read_original_key`). Without S3, files are created
with O_EXCL under STORAGE_ROOT.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.utils import timezone

from portal.storage import TenantFileStorage, TenantS3Storage, tenant_prefixed

log = logging.getLogger(__name__)
_MISSING = ("404", "NoSuchKey", "NotFound")
_lock_enabled: dict[tuple[str, str], bool] = {}


class AlreadyExists(FileExistsError):
    """A write-once key was written before: checkpoints are never overwritten."""


def storage() -> Any:
    if settings.S3_BUCKET:
        return TenantS3Storage()
    return TenantFileStorage(location=settings.MEDIA_ROOT)


def _clean_key(key: str) -> str:
    key = key.lstrip("/")
    if not key or ".." in key.split("/"):
        raise SuspiciousFileOperation(f"bad storage key {key!r}")
    return key


def bucket_has_object_lock(client: Any, bucket: str) -> bool:
    """Whether the bucket was created with Object Lock (asked once per process and bucket)."""
    from botocore.exceptions import ClientError

    cache_key = (str(client.meta.endpoint_url), bucket)
    if cache_key not in _lock_enabled:
        try:
            config = client.get_object_lock_configuration(Bucket=bucket)
            enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"):
                log.warning("cannot read the Object Lock configuration of %s: %s", bucket, code)
            enabled = False
        _lock_enabled[cache_key] = enabled
    return _lock_enabled[cache_key]


def _lock_args(client: Any, bucket: str, retain: bool) -> dict[str, Any]:
    days = int(getattr(settings, "AUDIT_OBJECT_LOCK_DAYS", 0) or 0)
    if not retain or days <= 0 or not bucket_has_object_lock(client, bucket):
        return {}
    return {
        "ObjectLockMode": getattr(settings, "AUDIT_OBJECT_LOCK_MODE", "COMPLIANCE") or "COMPLIANCE",
        "ObjectLockRetainUntilDate": timezone.now() + timedelta(days=days),
    }


def _put_s3(store: TenantS3Storage, key: str, data: bytes | IO[bytes], *, name: str, retain: bool) -> None:
    from botocore.exceptions import ClientError

    client = store.connection.meta.client
    try:
        client.head_object(Bucket=store.bucket_name, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _MISSING:
            raise
    else:
        raise AlreadyExists(name)
    lock = _lock_args(client, store.bucket_name, retain)
    try:
        if isinstance(data, bytes):
            client.put_object(Bucket=store.bucket_name, Key=key, Body=data, IfNoneMatch="*", **lock)
        else:
            client.upload_fileobj(data, store.bucket_name, key, ExtraArgs=lock or None)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise AlreadyExists(name) from exc
        raise


def _put_file(path: str, data: bytes | IO[bytes], *, name: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError as exc:
        raise AlreadyExists(name) from exc
    with os.fdopen(fd, "wb") as handle:
        if isinstance(data, bytes):
            handle.write(data)
        else:
            while chunk := data.read(1024 * 1024):
                handle.write(chunk)


def put_once(name: str, data: bytes | IO[bytes], *, retain: bool = False) -> str:
    """Store `data` under `name` (schema-prefixed); refuse if it exists. Returns `name`."""
    store = storage()
    if isinstance(store, TenantS3Storage):
        _put_s3(store, tenant_prefixed(name), data, name=name, retain=retain)
    else:
        _put_file(store.path(name), data, name=name)
    return name


def put_once_key(key: str, data: bytes | IO[bytes], *, retain: bool = False) -> str:
    """Store `data` under the full `key` (no schema prefix added); refuse if it exists."""
    key = _clean_key(key)
    store = storage()
    if isinstance(store, TenantS3Storage):
        _put_s3(store, key, data, name=key, retain=retain)
    else:
        _put_file(os.path.join(os.path.abspath(settings.MEDIA_ROOT), key), data, name=key)
    return key


def read_original_key(key: str) -> bytes:
    """The bytes first written under the full `key`: on a versioned bucket its oldest version
    (a later unconditional PUT or a delete marker does not change what is read)."""
    key = _clean_key(key)
    store = storage()
    if not isinstance(store, TenantS3Storage):
        with open(os.path.join(os.path.abspath(settings.MEDIA_ROOT), key), "rb") as handle:
            return handle.read()
    from botocore.exceptions import ClientError

    client = store.connection.meta.client
    version = None
    try:
        listing = client.list_object_versions(Bucket=store.bucket_name, Prefix=key)
    except ClientError:
        listing = {}
    versions = [v for v in listing.get("Versions", []) if v.get("Key") == key]
    if versions:  # newest first per key (S3 ListObjectVersions order): the last is the original
        version = versions[-1].get("VersionId")
    if version and version != "null":
        body = client.get_object(Bucket=store.bucket_name, Key=key, VersionId=version)
    else:  # not versioned: the write-once put is all there is
        body = client.get_object(Bucket=store.bucket_name, Key=key)
    return body["Body"].read()


def read(name: str) -> bytes:
    with storage().open(name, "rb") as handle:
        return handle.read()


def open_stream(name: str) -> File:
    return storage().open(name, "rb")


def exists(name: str) -> bool:
    return bool(storage().exists(name))


__all__ = [
    "AlreadyExists",
    "ContentFile",
    "bucket_has_object_lock",
    "exists",
    "open_stream",
    "put_once",
    "put_once_key",
    "read",
    "read_original_key",
    "storage",
]
