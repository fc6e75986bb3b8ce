"""Billing tasks (public schema, `PlatformTask`). Thin: load by id, call a service.

Beat entries are added to `app.conf.beat_schedule`; django-celery-beat copies them into
its database schedule when beat starts.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery.schedules import crontab

from portal.celery import PlatformTask, app
from tenants.billing.stripe_client import StripeUnavailable

RETRY = {
    "autoretry_for": (StripeUnavailable, ConnectionError),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 8,
}


@app.task(base=PlatformTask, **RETRY)
def webhook_event_process(event_pk: int) -> str:
    from tenants.billing import webhooks

    return webhooks.event_process(event_pk=event_pk)


@app.task(base=PlatformTask, **RETRY)
def webhook_events_process(event_pks: list[int]) -> dict[str, int]:
    """A batch queued by the ASGI fast path (`webhook_asgi`) or the sweep."""
    from tenants.billing import webhooks

    return webhooks.events_process(event_pks=[int(pk) for pk in event_pks])


@app.task(base=PlatformTask)
def webhook_events_sweep() -> int:
    from tenants.billing import webhooks

    return webhooks.events_sweep()


@app.task(base=PlatformTask, **RETRY)
def seats_sync(tenant_id: int, key: str | None = None) -> int | None:
    from tenants.billing import metering
    from tenants.models import Tenant

    tenant = Tenant.objects.select_related("plan").get(pk=tenant_id)
    return metering.seats_sync(tenant=tenant, key=key or uuid.uuid4().hex)


@app.task(base=PlatformTask, **RETRY)
def usage_report_all() -> dict[str, Any]:
    from tenants.billing import metering

    return metering.usage_report_all()


@app.task(base=PlatformTask)
def dunning_advance() -> dict[str, int]:
    from tenants.billing import services

    return services.dunning_advance()


@app.task(base=PlatformTask, **RETRY)
def reconcile() -> dict[str, int]:
    from tenants.billing import reconciliation

    return reconciliation.reconcile()


app.conf.beat_schedule = {
    **(app.conf.beat_schedule or {}),
    "billing-dunning-advance": {"task": dunning_advance.name, "schedule": crontab(minute=7)},
    "billing-webhook-sweep": {"task": webhook_events_sweep.name, "schedule": 60.0},
    "billing-usage-report": {"task": usage_report_all.name, "schedule": crontab(minute=20, hour=23)},
    "billing-reconcile": {"task": reconcile.name, "schedule": crontab(minute=30, hour=3)},
}
