"""The pool of spare tenant schemas.

Signup must be fast, and running migrations inside a web request is never allowed. So:

- a *template* schema is built once by django-tenants' migrate path;
- *spares* are cloned from the template (django-tenants' clone path) by a Celery task,
  up to `TENANT_POOL_SIZE`;
- signup claims one spare with `SELECT … FOR UPDATE SKIP LOCKED` and renames it
  (`ALTER SCHEMA … RENAME`, ~2 ms), so two concurrent signups never get the same one.

Each spare records the *fingerprint* of the tenant migrations it was built at. When the
migrations on disk change, old spares (and the template) no longer match: they are never
handed out, and the next refill drops and rebuilds them.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.clone import CloneSchema
from django_tenants.utils import app_labels, schema_exists

from tenants.models import SpareSchema

log = logging.getLogger(__name__)
TEMPLATE_SCHEMA = "tenant_template"
_REFILL_LOCK = "tenants:pool-refill-lock"
_REFILL_LOCK_SECONDS = 900  # released at the end; expires by itself if a worker dies mid-refill


@lru_cache(maxsize=1)
def migrations_fingerprint() -> str:
    """SHA-256 of every tenant-app migration on disk (app, name)."""
    loader = MigrationLoader(None, ignore_no_migrations=True, load=True)
    tenant_labels = set(app_labels(settings.TENANT_APPS))
    keys = sorted(key for key in loader.disk_migrations if key[0] in tenant_labels)
    return hashlib.sha256(repr(keys).encode()).hexdigest()


def _quote(schema: str) -> str:
    return connection.ops.quote_name(schema)


def schema_create_by_migrate(schema_name: str) -> None:
    """django-tenants' migrate path: CREATE SCHEMA, then every tenant migration."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {_quote(schema_name)}")
    call_command("migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=0)
    connection.set_schema_to_public()


def schema_create_by_clone(schema_name: str) -> None:
    """django-tenants' clone path: copy the template schema, data included (django_migrations)."""
    CloneSchema().clone_schema(TEMPLATE_SCHEMA, schema_name, clone_mode="DATA")


def schema_drop(schema_name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {_quote(schema_name)} CASCADE")


def template_ensure() -> bool:
    """Make sure a template schema exists at the current fingerprint. True if it is usable."""
    fingerprint = migrations_fingerprint()
    row = SpareSchema.objects.filter(schema_name=TEMPLATE_SCHEMA).first()
    if row and row.fingerprint == fingerprint and row.state == SpareSchema.State.TEMPLATE:
        return schema_exists(TEMPLATE_SCHEMA)
    schema_drop(TEMPLATE_SCHEMA)
    SpareSchema.objects.filter(schema_name=TEMPLATE_SCHEMA).delete()
    schema_create_by_migrate(TEMPLATE_SCHEMA)
    SpareSchema.objects.create(
        schema_name=TEMPLATE_SCHEMA, state=SpareSchema.State.TEMPLATE, fingerprint=fingerprint
    )
    return True


def template_is_fresh() -> bool:
    return SpareSchema.objects.filter(
        schema_name=TEMPLATE_SCHEMA, state=SpareSchema.State.TEMPLATE, fingerprint=migrations_fingerprint()
    ).exists() and schema_exists(TEMPLATE_SCHEMA)


def spares_drop_stale() -> int:
    """Drop spares built at another migration state (and abandoned half-built ones)."""
    stale = SpareSchema.objects.exclude(state=SpareSchema.State.TEMPLATE).exclude(
        state=SpareSchema.State.READY, fingerprint=migrations_fingerprint()
    )
    dropped = 0
    for spare in stale:
        with transaction.atomic():
            locked = SpareSchema.objects.select_for_update(skip_locked=True).filter(pk=spare.pk).first()
            if locked is None:
                continue
            schema_drop(locked.schema_name)
            locked.delete()
            dropped += 1
    return dropped


def spare_build() -> SpareSchema:
    if not template_is_fresh():
        template_ensure()  # cloning a missing template would silently produce nothing
    name = f"spare_{secrets.token_hex(6)}"
    schema_create_by_clone(name)
    return SpareSchema.objects.create(
        schema_name=name, state=SpareSchema.State.READY, fingerprint=migrations_fingerprint()
    )


def spare_claim() -> SpareSchema | None:
    """Lock one ready spare for the caller's transaction; concurrent callers skip it."""
    return (
        SpareSchema.objects.select_for_update(skip_locked=True)
        .filter(state=SpareSchema.State.READY, fingerprint=migrations_fingerprint())
        .order_by("id")
        .first()
    )


def pool_level() -> int:
    return SpareSchema.objects.filter(
        state=SpareSchema.State.READY, fingerprint=migrations_fingerprint()
    ).count()


def pool_refill(size: int | None = None) -> dict[str, int]:
    """Bring the pool to `size` fresh spares. One refill at a time per installation.

    The guard is a Redis lock, not a PostgreSQL session lock: building the template runs
    django-tenants' migrate path, which closes the database connection midway, and a
    session lock would be lost (or, with connection pooling, leak onto a pooled connection).
    """
    target = settings.TENANT_POOL_SIZE if size is None else size
    connection.set_schema_to_public()
    if not cache.add(_REFILL_LOCK, "1", timeout=_REFILL_LOCK_SECONDS):
        return {"built": 0, "dropped": 0, "level": pool_level(), "busy": 1}
    try:
        dropped = spares_drop_stale()
        template_ensure()
        built = 0
        while pool_level() < target:
            spare_build()
            built += 1
        return {"built": built, "dropped": dropped, "level": pool_level(), "busy": 0}
    finally:
        connection.set_schema_to_public()
        cache.delete(_REFILL_LOCK)
