"""The Celery app. Tasks carry the tenant schema in their headers (tenant-schemas-celery).

Two base classes, chosen per task on the decorator:

- `TenantTask` (the default): runs inside the schema it was sent from, and fails closed
  when that schema is missing or `public`. It never silently runs on the public schema.
- `PlatformTask`: runs on the public schema, for platform work (pool refill, billing,
  fan-out of periodic tenant work).
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import task_prerun
from django.db import connection
from tenant_schemas_celery.app import CeleryApp
from tenant_schemas_celery.task import TenantTask as _TenantTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


class TenantContextMissing(RuntimeError):
    """A tenant task arrived without a tenant schema."""


class TenantTask(_TenantTask):
    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        schema = connection.schema_name
        if not schema or schema == "public":
            raise TenantContextMissing(
                f"task {self.name} needs a tenant schema; it was sent without one (fail closed)"
            )
        return super().__call__(*args, **kwargs)


class PlatformTask(_TenantTask):
    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        connection.set_schema_to_public()
        return super().__call__(*args, **kwargs)


@task_prerun.connect
def _task_request_id(task_id: str | None = None, **_: Any) -> None:
    """Log lines and audit events from a task carry the task id as their request id."""
    from portal.context import set_request_meta

    set_request_meta({"request_id": task_id or ""})


app = CeleryApp("portal", task_cls=TenantTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    [
        "portal",
        "tenants",
        "tenants.members",
        "tenants.billing",
        "compliance",
        "compliance.governance",
        "vault",
        "deployments",
        "deployments.alerts",
    ]
)
