"""File storage whose paths always carry the schema name.

`report.pdf` saved while tenant `t_acme` is active is stored as `t_acme/report.pdf`; the
same name from `t_globex` is a different object. Names are resolved at call time from
the connection's schema, so a tenant can never open another tenant's file by name.
"""

from __future__ import annotations

import contextlib
import os

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage
from django.db import connection
from storages.backends.s3 import S3Storage


def tenant_prefixed(name: str) -> str:
    schema = getattr(connection, "schema_name", "") or ""
    if not schema:
        raise SuspiciousFileOperation("storage used without a schema")
    name = name.lstrip("/")
    if ".." in name.split("/"):
        raise SuspiciousFileOperation(f"path escape in {name!r}")
    return f"{schema}/{name}"


class TenantFileStorage(FileSystemStorage):
    """Local files under STORAGE_ROOT/<schema>/ (the embedded default)."""

    @property  # type: ignore[override]
    def location(self) -> str:
        return os.path.abspath(os.path.join(self.base_location, tenant_prefixed("")))

    @property  # type: ignore[override]
    def base_url(self) -> str:
        return f"{settings.MEDIA_URL}{tenant_prefixed('')}"


class TenantS3Storage(S3Storage):
    """S3 objects under <bucket>/<schema>/ (production; seaweedfs in tests)."""

    def __init__(self, **settings: object) -> None:
        from django.conf import settings as django_settings

        settings.setdefault("bucket_name", django_settings.S3_BUCKET)
        settings.setdefault("endpoint_url", django_settings.S3_ENDPOINT_URL)
        settings.setdefault("region_name", django_settings.S3_REGION)
        settings.setdefault("access_key", django_settings.AWS_ACCESS_KEY_ID)
        settings.setdefault("secret_key", django_settings.AWS_SECRET_ACCESS_KEY)
        settings.setdefault("file_overwrite", False)
        settings.setdefault("default_acl", None)
        super().__init__(**settings)

    def _normalize_name(self, name: str) -> str:
        return super()._normalize_name(tenant_prefixed(name))


# Stays under the old name: checkpoints written before stable chain ids are read back at
# `<schema they were signed in>/audit/checkpoints/…` (compliance.checkpoints.storage_key), and
# on S3 their versions are under Object Lock.
STAYS_AFTER_RENAME = ("audit/checkpoints/",)


def schema_prefix_move(old: str, new: str, storage: object | None = None) -> int:
    """Move the files stored under schema `old` to schema `new` (after a schema rename, so the
    tenant's exports, backups, recordings and release artifacts are found under its new name),
    except `STAYS_AFTER_RENAME`. Returns how many moved; running it again moves what is left."""
    from django.core.files.storage import default_storage

    from tenants.services import SCHEMA_NAME_RE

    for name in (old, new):
        if not SCHEMA_NAME_RE.match(name):
            raise SuspiciousFileOperation(f"not a schema name: {name!r}")
    storage = storage or default_storage
    if isinstance(storage, TenantS3Storage):
        return _s3_prefix_move(storage, old, new)
    if isinstance(storage, TenantFileStorage):
        return _file_prefix_move(storage, old, new)
    raise TypeError(f"{type(storage).__name__} has no schema prefix to move")


def _file_prefix_move(storage: TenantFileStorage, old: str, new: str) -> int:
    base = os.path.abspath(storage.base_location)
    source, target = os.path.join(base, old), os.path.join(base, new)
    moved = 0
    for folder, _dirs, files in os.walk(source, topdown=False):
        relative = os.path.relpath(folder, source)
        destination = os.path.normpath(os.path.join(target, relative))
        for name in files:
            if _stays(os.path.normpath(os.path.join(relative, name)).replace(os.sep, "/")):
                continue
            os.makedirs(destination, exist_ok=True)
            os.replace(os.path.join(folder, name), os.path.join(destination, name))
            moved += 1
        with contextlib.suppress(OSError):  # not empty: some files stay
            os.rmdir(folder)  # its files moved, and its folders were visited first
    return moved


def _stays(relative: str) -> bool:
    return relative.startswith(STAYS_AFTER_RENAME)


def _s3_prefix_move(storage: TenantS3Storage, old: str, new: str) -> int:
    client = storage.connection.meta.client
    root = storage.location.strip("/")
    source = f"{root}/{old}/" if root else f"{old}/"
    target = f"{root}/{new}/" if root else f"{new}/"
    moved = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket_name, Prefix=source):
        keys = [item["Key"] for item in page.get("Contents", []) if not _stays(item["Key"][len(source) :])]
        for key in keys:
            client.copy_object(
                Bucket=storage.bucket_name,
                Key=target + key[len(source) :],
                CopySource={"Bucket": storage.bucket_name, "Key": key},
            )
        if keys:  # deleted only once copied; a failed copy raises first and nothing is lost
            client.delete_objects(Bucket=storage.bucket_name, Delete={"Objects": [{"Key": k} for k in keys]})
            moved += len(keys)
    return moved
