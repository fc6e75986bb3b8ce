"""Celery tasks of deployments: thin, JSON arguments, retry policy on the decorator."""

from __future__ import annotations

from portal.celery import PlatformTask, app


@app.task(autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def deploy_run_execute(run_id: int) -> str:
    from deployments import pipeline

    return pipeline.run_execute(run_id=run_id).status


@app.task(autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def agents_mark_offline() -> int:
    from deployments import services

    return services.agents_mark_offline()


@app.task(autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def logs_purge() -> int:
    from deployments import logstore

    return logstore.logs_purge()


@app.task(base=PlatformTask)
def agents_sweep() -> int:
    """Beat: every tenant marks its silent agents offline."""
    from tenants.tasks import fan_out

    return fan_out(agents_mark_offline)


@app.task(base=PlatformTask)
def logs_retention_sweep() -> int:
    from tenants.tasks import fan_out

    return fan_out(logs_purge)


def _schedule() -> None:
    """Register the beat jobs (django-celery-beat copies `beat_schedule` into its tables)."""
    from deployments import conf

    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "deployments.agents_sweep": {
            "task": agents_sweep.name,
            "schedule": conf.get("DEPLOY_HEARTBEAT_SECONDS"),
        },
        "deployments.logs_retention_sweep": {"task": logs_retention_sweep.name, "schedule": 3600.0},
    }


_schedule()
