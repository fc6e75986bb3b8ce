"""File storage whose paths always carry the schema name.

`report.pdf` saved while tenant `t_acme` is active is stored as `t_acme/report.pdf`; the
same name from `t_globex` is a different object. Names are resolved at call time from
the connection's schema, so a tenant can never open another tenant's file by name.
"""

from __future__ import annotations

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
