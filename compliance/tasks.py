"""Audit tasks: thin, retried on transient errors. Tenant tasks run inside the schema they
were sent from (`TenantTask` fails closed on public); the `*_public` variants are for the
operators' chain and the `*_all` beat jobs fan out over tenants."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab
from django.db import OperationalError

from portal.celery import PlatformTask, TenantTask, app
from tenants.tasks import fan_out

TRANSIENT = (OperationalError, ConnectionError, TimeoutError)


@app.task(base=TenantTask, autoretry_for=TRANSIENT, retry_backoff=True, retry_jitter=True, max_retries=5)
def audit_chain() -> int:
    from compliance.chain import chain_pending

    return chain_pending()


@app.task(base=PlatformTask, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def audit_chain_all() -> int:
    """Safety net (beat, every minute): chain whatever the fast path left behind."""
    from compliance.chain import chain_pending

    chain_pending()
    return fan_out(audit_chain)


@app.task(base=TenantTask, autoretry_for=TRANSIENT, retry_backoff=True, retry_jitter=True, max_retries=5)
def audit_checkpoint() -> int | None:
    from compliance.checkpoints import checkpoint_periodic

    checkpoint = checkpoint_periodic()
    return checkpoint.seq if checkpoint else None


@app.task(base=PlatformTask, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def audit_checkpoint_all() -> int:
    """Hourly beat: sign the head of the public chain and of every tenant's chain."""
    from compliance.checkpoints import checkpoint_periodic

    checkpoint_periodic()
    return fan_out(audit_checkpoint)


@app.task(base=TenantTask, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def audit_retention_prune() -> dict[str, Any]:
    from compliance.retention import retention_prune

    return retention_prune()


@app.task(base=PlatformTask, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def audit_retention_prune_all() -> int:
    from compliance.retention import retention_prune

    retention_prune()
    return fan_out(audit_retention_prune)


@app.task(base=TenantTask, autoretry_for=TRANSIENT, retry_backoff=True, retry_jitter=True, max_retries=3)
def audit_export_build(export_id: int) -> str:
    from compliance.exports import export_build
    from compliance.models import AuditExport

    export = AuditExport.objects.get(pk=export_id)
    try:
        return export_build(export=export).status
    except TRANSIENT:
        raise
    except Exception as exc:  # any failure is shown to the tenant on the export
        AuditExport.objects.filter(pk=export_id).update(
            status=AuditExport.Status.FAILED, error=str(exc)[:2000]
        )
        raise


@app.task(base=TenantTask, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def audit_forward(forwarder_id: int) -> dict[str, Any]:
    from compliance.forwarding import forward_due
    from compliance.models import AuditForwarder

    return forward_due(forwarder=AuditForwarder.objects.get(pk=forwarder_id), force=True)


@app.task(base=TenantTask, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def audit_forward_tenant() -> int:
    from compliance.forwarding import forward_all_due

    return forward_all_due()


@app.task(base=PlatformTask, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def audit_forward_all() -> int:
    """Every minute: deliver new events to every due forwarder (failures back off)."""
    from compliance.forwarding import forward_all_due

    forward_all_due()
    return fan_out(audit_forward_tenant)


# Beat entries (django-celery-beat copies them into its tables on start; operators may edit).
app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "audit: chain safety net": {"task": "compliance.tasks.audit_chain_all", "schedule": 60.0},
    "audit: hourly checkpoints": {
        "task": "compliance.tasks.audit_checkpoint_all",
        "schedule": crontab(minute=0),
    },
    "audit: daily retention prune": {
        "task": "compliance.tasks.audit_retention_prune_all",
        "schedule": crontab(minute=30, hour=3),
    },
    "audit: forwarding": {"task": "compliance.tasks.audit_forward_all", "schedule": 60.0},
}
