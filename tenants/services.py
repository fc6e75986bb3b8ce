"""Tenant writes: signup/provisioning, status changes, the public tenant."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from compliance import audit
from tenants import pool
from tenants.models import Domain, Plan, Tenant

log = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
RESERVED_SLUGS = frozenset(
    {
        "www",
        "admin",
        "api",
        "app",
        "public",
        "static",
        "media",
        "mail",
        "smtp",
        "billing",
        "status",
        "help",
        "support",
        "docs",
        "login",
        "signup",
        "auth",
        "sso",
        "ws",
        "tenant",
        "template",
        "spare",
    }
)


def tenant_schema_name(slug: str) -> str:
    return "t_" + slug.replace("-", "_")


def tenant_primary_hostname(slug: str) -> str:
    return f"{slug}.{settings.PORTAL_DOMAIN}"


def slug_validate(slug: str) -> None:
    if not SLUG_RE.match(slug):
        raise ValidationError(
            {"slug": "Use 3–40 lower-case letters, digits and hyphens, starting with a letter."}
        )
    if slug in RESERVED_SLUGS or slug.startswith(("spare", "tenant-template")):
        raise ValidationError({"slug": "That address is reserved. Please choose another."})
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": "That address is already taken."})


def _admin_create(tenant: Tenant, *, email: str, password_hash: str, name: str = "") -> None:
    from tenants.members.services import member_create

    with tenant_context(tenant):
        member_create(email=email, role="owner", name=name, password_hash=password_hash)


@transaction.atomic
def tenant_create(
    *,
    slug: str,
    name: str,
    admin_email: str | None = None,
    admin_password: str | None = None,
    admin_password_hash: str | None = None,
    plan: Plan | None = None,
    status: str = Tenant.Status.TRIAL,
    actor: Any = None,
    allow_inline_migrate: bool = False,
) -> Tenant:
    """Create a tenant, from a spare schema when one is ready.

    With a spare, the tenant is usable when this returns (~ms). Without one, the tenant is
    `pending` and a Celery task builds its schema (clone, else migrate); the caller shows
    progress. `allow_inline_migrate` is for management commands only, never web requests.
    """
    slug = slug.strip().lower()
    slug_validate(slug)
    password_hash = admin_password_hash or (make_password(admin_password) if admin_password else None)
    tenant = Tenant(
        slug=slug,
        name=name.strip() or slug,
        schema_name=tenant_schema_name(slug),
        plan=plan or Plan.objects.filter(slug="free").first(),
        status=status,
        status_changed_at=timezone.now(),
        provisioning=Tenant.Provisioning.PENDING,
    )
    spare = pool.spare_claim()
    if spare is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"ALTER SCHEMA {connection.ops.quote_name(spare.schema_name)} "
                f"RENAME TO {connection.ops.quote_name(tenant.schema_name)}"
            )
        spare.delete()
        tenant.provisioning, tenant.provisioning_path = Tenant.Provisioning.READY, "pool"
    elif allow_inline_migrate:
        _schema_build(tenant)
    else:
        tenant.pending_admin = {"email": admin_email, "password_hash": password_hash} if admin_email else None
    try:
        with transaction.atomic():
            tenant.save()
    except IntegrityError as exc:
        raise ValidationError({"slug": "That address is already taken."}) from exc
    Domain.objects.create(domain=tenant_primary_hostname(slug), tenant=tenant, is_primary=True)
    if tenant.is_ready and admin_email and password_hash:
        _admin_create(tenant, email=admin_email, password_hash=password_hash)
    audit.record(
        action="tenant.create",
        actor=actor,
        target=tenant,
        payload={"path": tenant.provisioning_path or "queued"},
    )

    from tenants import tasks

    if not tenant.is_ready:
        transaction.on_commit(lambda: tasks.tenant_build_schema.delay(tenant.pk))
    transaction.on_commit(lambda: tasks.pool_refill.delay())
    return tenant


def _schema_build(tenant: Tenant) -> None:
    """Clone from the template when it matches the migrations on disk, else migrate."""
    if pool.template_is_fresh():
        pool.schema_create_by_clone(tenant.schema_name)
        tenant.provisioning_path = "clone"
    else:
        pool.schema_create_by_migrate(tenant.schema_name)
        tenant.provisioning_path = "migrate"
    tenant.provisioning = Tenant.Provisioning.READY


def tenant_build_schema(*, tenant: Tenant) -> Tenant:
    """Finish a pending tenant (runs in a Celery worker, never in a request)."""
    if tenant.is_ready:
        return tenant
    try:
        with transaction.atomic():
            _schema_build(tenant)
            admin = tenant.pending_admin or {}
            tenant.pending_admin = None
            tenant.save(update_fields=["provisioning", "provisioning_path", "pending_admin", "updated_at"])
            if admin.get("email") and admin.get("password_hash"):
                _admin_create(tenant, email=admin["email"], password_hash=admin["password_hash"])
    except Exception as exc:
        log.exception("provisioning failed for %s", tenant.slug)
        Tenant.objects.filter(pk=tenant.pk).update(
            provisioning=Tenant.Provisioning.FAILED, provisioning_error=str(exc)[:2000]
        )
        raise
    return tenant


@transaction.atomic
def tenant_set_status(*, tenant: Tenant, status: str, actor: Any = None, reason: str = "") -> Tenant:
    """Change a tenant's status; the change is audited in the operator's and the tenant's chain."""
    if status not in Tenant.Status.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    previous = tenant.status
    if previous == status:
        return tenant
    tenant.status, tenant.status_changed_at, tenant.status_reason = status, timezone.now(), reason[:200]
    tenant.save(update_fields=["status", "status_changed_at", "status_reason", "updated_at"])
    payload = {"from": previous, "to": status, "reason": reason}
    with schema_context("public"):
        audit.record(action="tenant.status", actor=actor, target=tenant, payload=payload)
    if tenant.is_ready:
        with schema_context(tenant.schema_name):
            audit.record(action="tenant.status", actor=actor, target=tenant, payload=payload)
    return tenant


def public_tenant_ensure() -> Tenant:
    """The public tenant and its domain(s); idempotent, run by bootstrap and tests."""
    tenant, _ = Tenant.objects.get_or_create(
        schema_name="public",
        defaults={"slug": "public", "name": "Tenantry platform", "status": Tenant.Status.ACTIVE},
    )
    Domain.objects.get_or_create(
        domain=settings.PORTAL_DOMAIN, defaults={"tenant": tenant, "is_primary": True}
    )
    return tenant


def plans_ensure_defaults() -> None:
    """Free, Team and Business with sensible limits, unless the operator already has plans."""
    defaults = [
        dict(
            slug="free",
            name="Free",
            sort_order=0,
            max_members=5,
            max_agents=2,
            max_environments=2,
            max_secrets=50,
            max_deploys_per_month=100,
            audit_retention_days=30,
            features=[],
        ),
        dict(
            slug="team",
            name="Team",
            sort_order=1,
            monthly_price_cents=4900,
            yearly_price_cents=49000,
            seat_price_cents=900,
            max_members=50,
            max_agents=20,
            max_environments=10,
            max_secrets=1000,
            max_deploys_per_month=2000,
            audit_retention_days=180,
            features=["terminal", "reports"],
        ),
        dict(
            slug="business",
            name="Business",
            sort_order=2,
            monthly_price_cents=19900,
            yearly_price_cents=199000,
            seat_price_cents=1900,
            audit_retention_days=365,
            features=["sso", "terminal", "reports"],
        ),
    ]
    for values in defaults:
        Plan.objects.get_or_create(slug=values["slug"], defaults=values)


SCHEMA_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{2,62}$")


@transaction.atomic
def tenant_schema_rename(*, tenant: Tenant, new_schema: str, actor: Any = None, reason: str = "") -> Tenant:
    """Rename a tenant's schema as an operator would: `ALTER SCHEMA … RENAME` plus the tenant row.

    django-tenants has no rename of its own (the pool's claim does the same ALTER on a spare).
    The audit chain survives it: events keep the schema name they were written under (it is
    hashed), new checkpoints sign the stable tenant id, and the old name is recorded in the
    schema's own `compliance.AuditChainName` so checkpoints signed under it stay trusted. The
    tenant's stored files (exports, backups, recordings, release artifacts; their names carry
    the schema, `portal.storage`) are moved to the new prefix by a task once this commits.
    Cached sessions are keyed by schema: the old name's copies are dropped, so a session ended
    under the new name cannot come back from the cache if the schema is ever renamed back.
    """
    from django.contrib.sessions.models import Session
    from django_tenants.utils import schema_exists

    from compliance.models import AuditChainName
    from tenants.members.services import sessions_uncache

    new_schema = new_schema.strip()
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    old = tenant.schema_name
    if old == "public" or not tenant.is_ready:
        raise ValidationError({"schema_name": "Only a provisioned tenant's schema can be renamed."})
    if new_schema == old:
        return tenant
    if (
        not SCHEMA_NAME_RE.match(new_schema)
        or new_schema.startswith(("pg_", "spare", pool.TEMPLATE_SCHEMA))
        or new_schema in ("public", "information_schema")
    ):
        raise ValidationError(
            {"schema_name": "Use 3–63 lower-case letters, digits and underscores; not a reserved name."}
        )
    if schema_exists(new_schema) or Tenant.objects.filter(schema_name=new_schema).exists():
        raise ValidationError({"schema_name": f"A schema named {new_schema!r} already exists."})
    with schema_context(old):
        sessions_uncache(list(Session.objects.values_list("session_key", flat=True)))
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER SCHEMA {connection.ops.quote_name(old)} RENAME TO {connection.ops.quote_name(new_schema)}"
        )
    tenant.schema_name = new_schema
    tenant.save(update_fields=["schema_name", "updated_at"])
    payload = {"from": old, "to": new_schema, "reason": reason[:200]}
    with schema_context(new_schema):
        AuditChainName.objects.update_or_create(name=old, defaults={"renamed_to": new_schema})
        audit.record(action="tenant.schema_rename", actor=actor, target=tenant, payload=payload)
    with schema_context("public"):
        audit.record(action="tenant.schema_rename", actor=actor, target=tenant, payload=payload)
    from tenants.tasks import tenant_files_move

    transaction.on_commit(lambda: tenant_files_move.delay(old, new_schema))
    return tenant
