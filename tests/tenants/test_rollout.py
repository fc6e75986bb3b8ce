"""`migrate_tenants`: skip current schemas cheaply, back up before migrating, resume, canaries first."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.signals import schema_pre_migration
from django_tenants.utils import schema_context

from tenants import pool
from tenants import rollout as rollouts
from tenants.models import Rollout, RolloutTenant, Tenant

# A leaf migration whose operations do nothing in tenant schemas (public-only RunPython).
LEAF = "tenants.0003_alerts_schedule"


@pytest.fixture
def storage_root(tmp_path: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Backups go to a temporary storage root, in this process and in the worker processes."""
    settings.MEDIA_ROOT = str(tmp_path)
    monkeypatch.setenv("STORAGE_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def scratch(committed_db: None, unique: str) -> Iterator[Any]:
    """Make committed tenants on cloned schemas; drop them and every rollout afterwards."""
    made: list[Tenant] = []

    def make(name: str, *, canary: bool = False, forget: tuple[str, ...] = ()) -> Tenant:
        schema = f"t_roll_{name}_{unique}"
        pool.schema_create_by_clone(schema)
        tenant = Tenant(
            slug=f"roll-{name}-{unique}",
            name=name,
            schema_name=schema,
            status=Tenant.Status.ACTIVE,
            provisioning=Tenant.Provisioning.READY,
            is_canary=canary,
        )
        tenant.save()
        made.append(tenant)
        for app in forget:  # LIKE patterns on "app.name": forget recorded migrations
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM \"{schema}\".django_migrations WHERE app || '.' || name LIKE %s", [app]
                )
        return tenant

    yield make
    connection.set_schema_to_public()
    Rollout.objects.all().delete()
    for tenant in made:
        pool.schema_drop(tenant.schema_name)
        Tenant.objects.filter(pk=tenant.pk).delete()


def _applied(schema: str, app: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM \"{schema}\".django_migrations WHERE app || '.' || name LIKE %s", [app]
        )
        return cursor.fetchone()[0]


def test_session_tenants_are_at_the_target(db: Any, acme: Any, globex: Any) -> None:
    missing = rollouts.schemas_missing_counts(["public", acme.schema_name, globex.schema_name])
    assert missing == {"public": 0, acme.schema_name: 0, globex.schema_name: 0}
    assert "tenants.0002_rollout" in rollouts.target_migrations()


def test_a_schema_without_migration_table_lacks_everything(db: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute('CREATE SCHEMA "t_empty_rollout"')
    missing = rollouts.schemas_missing_counts(["t_empty_rollout"])
    assert missing["t_empty_rollout"] == len(rollouts.target_migrations())


def test_a_no_op_rollout_skips_every_schema_without_running_migrate(
    scratch: Any, storage_root: Any, acme: Any
) -> None:
    current = scratch("current")
    started: list[str] = []

    def spy(sender: Any, schema_name: str, **kwargs: Any) -> None:
        started.append(schema_name)

    schema_pre_migration.connect(spy)
    try:
        call_command("migrate_tenants", "--schema", current.schema_name, "--schema", acme.schema_name)
    finally:
        schema_pre_migration.disconnect(spy)
    rollout = Rollout.objects.get()
    assert rollout.status == Rollout.Status.DONE
    rows = dict(rollout.tenants.values_list("schema_name", "status"))
    assert rows[current.schema_name] == RolloutTenant.Status.SKIPPED
    assert rows[acme.schema_name] == RolloutTenant.Status.SKIPPED
    assert started == []
    assert not (storage_root / "public" / "rollouts").exists()


def test_a_behind_tenant_is_backed_up_then_migrated(scratch: Any, storage_root: Any) -> None:
    behind = scratch("behind", forget=(LEAF,))
    assert _applied(behind.schema_name, LEAF) == 0

    call_command("migrate_tenants", "--workers", "2", "--batch-size", "1", "--schema", behind.schema_name)

    row = RolloutTenant.objects.get(schema_name=behind.schema_name)
    assert row.status == RolloutTenant.Status.MIGRATED, row.error
    assert row.backup_path == f"rollouts/{row.rollout_id}/{behind.schema_name}.sql.gz"
    assert _applied(behind.schema_name, LEAF) > 0
    with schema_context("public"), default_storage.open(row.backup_path) as fh:
        dump = gzip.decompress(fh.read()).decode()
    assert f"CREATE TABLE {behind.schema_name}.django_migrations" in dump
    assert row.backup_bytes > 0


def test_a_failed_tenant_fails_the_rollout_and_a_rerun_resumes_it(scratch: Any, storage_root: Any) -> None:
    # Forgetting "sessions" makes migrate try to create a table that exists: a real failure.
    broken = scratch("broken", forget=("sessions.%",))
    behind = scratch("fine", forget=(LEAF,))
    wave = ("--schema", broken.schema_name, "--schema", behind.schema_name)
    with pytest.raises(CommandError, match="failed"):
        call_command("migrate_tenants", *wave)
    rollout = Rollout.objects.get()
    assert rollout.status == Rollout.Status.FAILED
    failed = rollout.tenants.get(schema_name=broken.schema_name)
    assert failed.status == RolloutTenant.Status.FAILED
    assert "already exists" in failed.error
    assert rollout.tenants.get(schema_name=behind.schema_name).status == RolloutTenant.Status.MIGRATED

    # The operator repairs the schema (here: by faking the record back); a re-run resumes.
    call_command(
        "migrate_schemas",
        tenant=True,
        schema_name=broken.schema_name,
        fake=True,
        verbosity=0,
        interactive=False,
    )
    connection.set_schema_to_public()
    call_command("migrate_tenants", *wave)
    assert Rollout.objects.count() == 1
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.DONE
    assert rollout.tenants.get(schema_name=broken.schema_name).status == RolloutTenant.Status.MIGRATED


def test_a_failed_canary_halts_before_the_rest(scratch: Any, storage_root: Any) -> None:
    canary = scratch("canary", canary=True, forget=("sessions.%",))
    rest = scratch("rest", forget=(LEAF,))
    with pytest.raises(CommandError, match="halted"):
        call_command("migrate_tenants", "--schema", canary.schema_name, "--schema", rest.schema_name)
    rollout = Rollout.objects.get()
    assert rollout.status == Rollout.Status.HALTED
    assert rollout.tenants.get(schema_name=canary.schema_name).status == RolloutTenant.Status.FAILED
    untouched = rollout.tenants.get(schema_name=rest.schema_name)
    assert untouched.status == RolloutTenant.Status.PENDING
    assert _applied(rest.schema_name, LEAF) == 0


def test_it_picks_the_pg_dump_matching_the_server(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = rollouts.pg_dump_path()
    assert rollouts._pg_dump_major(path) == rollouts.server_major()
    monkeypatch.setattr(rollouts, "server_major", lambda: 99)
    with pytest.raises(RuntimeError, match="no pg_dump for PostgreSQL 99"):
        rollouts.pg_dump_path()


def test_oscar_sees_per_tenant_status_in_the_admin(client_for: Any, oscar: Any, acme: Any) -> None:
    rollout = Rollout.objects.create(target_fingerprint="x" * 64)
    RolloutTenant.objects.create(
        rollout=rollout,
        tenant=acme,
        schema_name=acme.schema_name,
        status=RolloutTenant.Status.FAILED,
        error="boom",
    )
    client = client_for(oscar)
    listing = client.get(f"/admin/tenants/rollouttenant/?rollout__id__exact={rollout.pk}")
    assert listing.status_code == 200
    assert acme.schema_name.encode() in listing.content
    assert b"failed" in listing.content
    overview = client.get("/admin/tenants/rollout/")
    assert overview.status_code == 200
    assert b"0/1 done, 1 failed" in overview.content


def test_dry_run_lists_the_schemas_that_are_behind(scratch: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    behind = scratch("dry", forget=(LEAF,))
    call_command("migrate_tenants", "--dry-run")
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["behind"][behind.schema_name] == 1
    assert "t_acme" not in report["behind"]
    assert not Rollout.objects.exists()


def test_the_admin_resume_action_queues_the_rollout_task(
    client_for: Any, oscar: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from tenants import tasks

    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks.rollout_run, "delay", lambda **kwargs: queued.append(kwargs))
    rollout = Rollout.objects.create(target_fingerprint="y" * 64, status=Rollout.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(oscar).post(
            "/admin/tenants/rollout/", {"action": "resume", "_selected_action": [rollout.pk]}
        )
    assert response.status_code == 302
    assert queued == [{"batch_size": 25, "workers": 2}]
