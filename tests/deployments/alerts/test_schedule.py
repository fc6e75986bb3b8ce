"""Beat evaluates the rules every 30 s: one platform task that fans out to each tenant."""

from __future__ import annotations

from django.db import connection
from django_celery_beat.models import PeriodicTask
from django_tenants.utils import schema_context, tenant_context

from deployments.alerts import tasks
from portal.celery import TenantContextMissing


def test_beat_has_the_30_second_schedule(db):
    with schema_context("public"):
        task = PeriodicTask.objects.select_related("interval").get(task=tasks.EVALUATE_ALL)
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (30, "seconds")


def test_the_platform_task_fans_out_to_every_serving_tenant(db, acme, globex, monkeypatch):
    schemas: list[str] = []
    monkeypatch.setattr(tasks.alerts_evaluate, "delay", lambda: schemas.append(connection.schema_name))
    result = tasks.alerts_evaluate_all.apply()
    assert result.result == len(schemas)
    assert {acme.schema_name, globex.schema_name} <= set(schemas)
    assert "public" not in schemas


def test_evaluation_without_a_tenant_fails_closed(db, platform):
    result = tasks.alerts_evaluate.apply()
    assert isinstance(result.result, TenantContextMissing)


def test_evaluation_runs_in_the_tenant_schema(db, acme):
    with tenant_context(acme):
        assert tasks.alerts_evaluate.apply().result == 0
