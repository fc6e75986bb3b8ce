"""Vault tasks. Thin: the fan-out runs on public, the sweep inside each tenant."""

from __future__ import annotations

from portal.celery import PlatformTask, TenantTask, app


@app.task(base=PlatformTask)
def rotation_sweep_all() -> int:
    """Daily (beat): one `rotation_sweep` per serving tenant."""
    from tenants.tasks import fan_out

    return fan_out(rotation_sweep)


@app.task(
    base=TenantTask, autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=True, max_retries=3
)
def rotation_sweep() -> dict[str, int]:
    from vault import services

    return services.rotation_sweep()
