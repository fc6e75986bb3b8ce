"""Platform tasks for tenants. Thin: load by id, call a service."""

from __future__ import annotations

from typing import Any

from portal.celery import PlatformTask, app


@app.task(base=PlatformTask, autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=True)
def pool_refill(size: int | None = None) -> dict[str, int]:
    from tenants import pool

    return pool.pool_refill(size)


@app.task(base=PlatformTask, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def tenant_build_schema(tenant_id: int) -> str:
    from tenants import services
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_id)
    return services.tenant_build_schema(tenant=tenant).provisioning


@app.task(base=PlatformTask)
def central_login_send(email: str) -> int:
    from tenants.notifications import send_login_links
    from tenants.selectors import login_links_for_email

    links = login_links_for_email(email)
    if links:
        send_login_links(email=email, links=links)
    return len(links)


def fan_out(task: Any, *args: Any, **kwargs: Any) -> int:
    """Send `task` once per serving tenant, inside that tenant's schema (for beat jobs)."""
    from django_tenants.utils import schema_context

    from tenants.selectors import serving_tenants

    count = 0
    for tenant in serving_tenants():
        with schema_context(tenant.schema_name):
            task.delay(*args, **kwargs)
        count += 1
    return count


@app.task(base=PlatformTask, acks_late=False)
def rollout_run(batch_size: int = 25, workers: int = 2) -> str:
    """Start or resume the platform rollout (admin "resume" action). One at a time, by lock."""
    from tenants import rollout

    started, _ = rollout.rollout_start(batch_size=batch_size, workers=workers)
    try:
        return rollout.rollout_execute(rollout=started).status
    except rollout.RolloutBusy:
        return "busy"


@app.task(base=PlatformTask, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def tenant_files_move(old_schema: str, new_schema: str) -> int:
    """After a schema rename: the tenant's stored files follow it to the new prefix."""
    from portal.storage import schema_prefix_move

    return schema_prefix_move(old_schema, new_schema)
