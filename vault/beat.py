"""Bootstrap hook: the daily rotation sweep in django-celery-beat (public schema)."""

from __future__ import annotations

from typing import Any

from django.db import connection

SWEEP_TASK_NAME = "vault: daily rotation sweep"
SWEEP_TASK = "vault.tasks.rotation_sweep_all"


def schedule_ensure(**kwargs: Any) -> None:
    """Runs after `migrate` on the public schema; idempotent. Operators may change the time."""
    if getattr(connection, "schema_name", "public") != "public":
        return
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if PeriodicTask.objects.filter(name=SWEEP_TASK_NAME).exists():
        return
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.create(name=SWEEP_TASK_NAME, task=SWEEP_TASK, crontab=schedule)
