"""Write-once object storage for checkpoints, exports and manifests.

Names are always prefixed with the current schema (`portal.storage.tenant_prefixed`), so
a tenant can only ever address its own objects. With S3 configured (`S3_BUCKET`), objects
are written with `If-None-Match: *` (a conditional put: the key must not exist yet) after
a HEAD check for servers that ignore the condition; production buckets should also turn
on S3 Object Lock. Without S3, files are created with O_EXCL under STORAGE_ROOT.
"""

from __future__ import annotations

import os
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile, File

from portal.storage import TenantFileStorage, TenantS3Storage, tenant_prefixed


class AlreadyExists(FileExistsError):
    """A write-once key was written before: checkpoints are never overwritten."""


def storage() -> Any:
    if settings.S3_BUCKET:
        return TenantS3Storage()
    return TenantFileStorage(location=settings.MEDIA_ROOT)


def put_once(name: str, data: bytes | IO[bytes]) -> str:
    """Store `data` under `name` (schema-prefixed); refuse if it exists. Returns `name`."""
    store = storage()
    if isinstance(store, TenantS3Storage):
        from botocore.exceptions import ClientError

        client = store.connection.meta.client
        key = tenant_prefixed(name)
        try:
            client.head_object(Bucket=store.bucket_name, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        else:
            raise AlreadyExists(name)
        body = data
        try:
            if isinstance(body, bytes):
                client.put_object(Bucket=store.bucket_name, Key=key, Body=body, IfNoneMatch="*")
            else:
                client.upload_fileobj(body, store.bucket_name, key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                raise AlreadyExists(name) from exc
            raise
        return name
    path = store.path(name)
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
    return name


def read(name: str) -> bytes:
    with storage().open(name, "rb") as handle:
        return handle.read()


def open_stream(name: str) -> File:
    return storage().open(name, "rb")


def exists(name: str) -> bool:
    return bool(storage().exists(name))


__all__ = ["AlreadyExists", "ContentFile", "exists", "open_stream", "put_once", "read", "storage"]
