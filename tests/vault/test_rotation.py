"""Rotation: policies, the rotation-needed list, the daily sweep, automatic rotation."""

from __future__ import annotations

from datetime import timedelta

from django.core import mail
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from compliance.models import AuditEvent
from vault import selectors, services, tasks
from vault.models import Secret


def _age(secret: Secret, days: int) -> None:
    Secret.objects.filter(pk=secret.pk).update(rotated_at=timezone.now() - timedelta(days=days))


def test_rotation_needed_lists_overdue_secrets_only(acme, alice, db):
    with tenant_context(acme):
        actor = alice.user()
        weekly = services.secret_create(actor=actor, name="app/weekly", value="v", rotation_policy="weekly")
        yearly = services.secret_create(actor=actor, name="app/yearly", value="v", rotation_policy="yearly")
        never = services.secret_create(actor=actor, name="app/never", value="v")
        for secret in (weekly, yearly, never):
            _age(secret, 8)
        assert [s.name for s in selectors.rotation_needed()] == ["app/weekly"]


def test_rotation_needed_api(api_for, alice, acme):
    api = api_for(alice)
    secret = api.create(name="app/monthly", rotation_policy="monthly")
    with tenant_context(acme):
        _age(Secret.objects.get(pk=secret["id"]), 31)
    listed = api.get("/rotation-needed/").json()["results"]
    assert [s["name"] for s in listed] == ["app/monthly"]
    assert api.get("/stats/").json()["rotation_needed"] == 1
    rotated = api.post(f"/secrets/{secret['id']}/rotate/", {"value": "fresh", "reason": "policy"})
    assert rotated.status_code == 200
    assert api.get("/rotation-needed/").json()["results"] == []


def test_sweep_reports_overdue_once_and_reminds_the_owner(acme, alice, db):
    with tenant_context(acme):
        secret = services.secret_create(
            actor=alice.user(), name="prod/db/password", value="v", rotation_policy="quarterly"
        )
        _age(secret, 100)
        assert services.rotation_sweep() == {"rotated": 0, "reported": 1}
        assert services.rotation_sweep() == {"rotated": 0, "reported": 0}  # evidence once per due date
        event = AuditEvent.objects.filter(action="vault.rotation.overdue").latest("id")
        assert event.payload["name"] == "prod/db/password"
        assert event.payload["policy"] == "quarterly"
        assert event.payload["days_overdue"] == 9
        assert event.target_id == str(secret.pk)


def test_reminder_email_names_the_secret_never_the_value(acme, alice, db, django_capture_on_commit_callbacks):
    with tenant_context(acme):
        secret = services.secret_create(
            actor=alice.user(), name="app/key", value="never-emailed", rotation_policy="weekly"
        )
        _age(secret, 10)
        with django_capture_on_commit_callbacks(execute=True):
            services.rotation_sweep()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@acme.test"]
    assert "app/key" in mail.outbox[0].subject
    assert "never-emailed" not in mail.outbox[0].body


def test_generated_secrets_rotate_themselves(acme, alice, db):
    with tenant_context(acme):
        actor = alice.user()
        secret = services.secret_create(
            actor=actor,
            name="app/generated",
            secret_type="api_key",
            generate_length=48,
            rotation_policy="weekly",
            auto_rotate=True,
        )
        before = services.secret_reveal(secret=secret, actor=actor, reason="test")
        assert len(before) == 48
        _age(secret, 8)
        assert services.rotation_sweep() == {"rotated": 1, "reported": 0}
        secret.refresh_from_db()
        assert secret.current_version == 2
        after = services.secret_reveal(secret=secret, actor=actor, reason="test")
        assert after != before
        assert len(after) == 48
        assert AuditEvent.objects.filter(action="vault.secret.rotate", actor_type="system").exists()


def test_auto_rotate_needs_a_generated_secret(api_for, alice):
    response = api_for(alice).post("/secrets/", {"name": "app/x", "value": "typed", "auto_rotate": True})
    assert response.status_code == 400
    assert "auto_rotate" in response.json()["error"]["fields"]


def test_rotate_without_value_only_for_generated(api_for, alice):
    api = api_for(alice)
    typed = api.create(name="app/typed")
    response = api.post(f"/secrets/{typed['id']}/rotate/", {"reason": "r"})
    assert response.status_code == 400
    generated = api.post("/secrets/", {"name": "app/gen", "type": "password", "generate": 24}).json()
    rotated = api.post(f"/secrets/{generated['id']}/rotate/", {"reason": "r", "version": 1})
    assert rotated.status_code == 200
    assert rotated.json()["version"] == 2
    stale = api.post(f"/secrets/{generated['id']}/rotate/", {"reason": "r", "version": 1})
    assert stale.status_code == 409


def test_daily_sweep_is_scheduled_in_celery_beat(db, platform):
    from django_celery_beat.models import PeriodicTask

    with schema_context("public"):
        task = PeriodicTask.objects.get(name="vault: daily rotation sweep")
        assert task.task == "vault.tasks.rotation_sweep_all"
        assert task.crontab.hour == "3"


def test_sweep_fans_out_to_every_tenant_inside_its_schema(db, platform, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.rotation_sweep, "delay", lambda: sent.append(schema_context_name()))
    with schema_context("public"):
        count = tasks.rotation_sweep_all.run()
    assert count == len(sent) >= 2
    assert {"t_acme", "t_globex"} <= set(sent)


def schema_context_name() -> str:
    from django.db import connection

    return connection.schema_name


def test_sweep_task_refuses_to_run_on_public(db, platform):
    import pytest

    from portal.celery import TenantContextMissing

    with schema_context("public"), pytest.raises(TenantContextMissing):
        tasks.rotation_sweep()
