"""Platform diagnostics tasks."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection

from portal.celery import app


@app.task
def tenant_probe(token: str) -> str:
    """Record which schema this task ran in, under a schema-scoped cache key.

    Operators use it to check that workers pick up tenant context; the isolation tests
    use it to prove two tenants' tasks never cross.
    """
    schema = connection.schema_name
    cache.set(f"probe:{token}", schema, 300)
    return schema
