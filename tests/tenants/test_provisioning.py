"""Provisioning: the pool, its fallbacks, staleness, and concurrent signups."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django_tenants.utils import schema_context, schema_exists

from portal.accounts.models import User
from tenants import pool, services, tasks
from tenants.models import SpareSchema, Tenant, TenantEmail


def test_signup_takes_a_spare_and_renames_it(db, platform):
    spare = pool.spare_build()
    tenant = services.tenant_create(
        slug="initech", name="Initech", admin_email="peter@initech.test", admin_password="x" * 16
    )
    assert tenant.provisioning == Tenant.Provisioning.READY
    assert tenant.provisioning_path == "pool"
    assert schema_exists("t_initech")
    assert not schema_exists(spare.schema_name)
    assert not SpareSchema.objects.filter(pk=spare.pk).exists()
    with schema_context("t_initech"):
        owner = User.objects.get(email="peter@initech.test")
        assert owner.role == "owner"
    assert TenantEmail.objects.filter(email="peter@initech.test", tenant=tenant).exists()
    assert tenant.domains.get(is_primary=True).domain == "initech.localhost"


def test_without_a_spare_the_tenant_waits_for_the_worker(db, platform):
    SpareSchema.objects.filter(state=SpareSchema.State.READY).delete()
    tenant = services.tenant_create(
        slug="hooli", name="Hooli", admin_email="gavin@hooli.test", admin_password="y" * 16
    )
    assert tenant.provisioning == Tenant.Provisioning.PENDING
    assert not schema_exists("t_hooli")  # nothing migrated inside the request
    assert "password_hash" in tenant.pending_admin
    assert "y" * 16 not in str(tenant.pending_admin)

    tasks.tenant_build_schema.apply(args=[tenant.pk])

    tenant.refresh_from_db()
    assert tenant.provisioning == Tenant.Provisioning.READY
    assert tenant.provisioning_path == "clone"  # the template matches the migrations on disk
    assert tenant.pending_admin is None
    with schema_context("t_hooli"):
        assert User.objects.get(email="gavin@hooli.test").check_password("y" * 16)


def test_stale_template_falls_back_to_migrate(db, platform):
    SpareSchema.objects.filter(state=SpareSchema.State.READY).delete()
    SpareSchema.objects.filter(schema_name=pool.TEMPLATE_SCHEMA).update(fingerprint="old")
    tenant = services.tenant_create(slug="umbrella", name="Umbrella")
    services.tenant_build_schema(tenant=tenant)
    assert tenant.provisioning_path == "migrate"
    with schema_context("t_umbrella"):
        assert User.objects.count() == 0  # migrated, empty, usable


def test_stale_spares_are_never_handed_out_and_get_rebuilt(db, platform):
    SpareSchema.objects.filter(state=SpareSchema.State.READY).delete()
    stale = pool.spare_build()
    SpareSchema.objects.filter(pk=stale.pk).update(fingerprint="migrations-of-last-week")
    assert pool.spare_claim() is None
    result = pool.pool_refill(1)
    assert result["dropped"] == 1
    assert result["built"] == 1
    assert not schema_exists(stale.schema_name)
    assert pool.pool_level() == 1


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("ab", "3–40"),
        ("1acme", "3–40"),
        ("acme-", "3–40"),
        ("admin", "reserved"),
        ("acme", "already taken"),
        ("x--;drop", "3–40"),
    ],
)
def test_bad_slugs_are_refused_clearly(db, platform, slug, message):
    with pytest.raises(ValidationError) as excinfo:
        services.tenant_create(slug=slug, name="Bad")
    assert message in str(excinfo.value)


def test_concurrent_signups_never_share_a_spare(committed_db):
    """Six signups race for three spares: three get one each, three wait for the worker."""
    SpareSchema.objects.filter(state=SpareSchema.State.READY).delete()
    for _ in range(3):
        pool.spare_build()
    slugs = [f"race-{n}" for n in range(6)]
    barrier = threading.Barrier(len(slugs))
    results: dict[str, str] = {}

    def signup(slug: str) -> None:
        try:
            barrier.wait()
            results[slug] = services.tenant_create(slug=slug, name=slug).provisioning_path or "queued"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=signup, args=(slug,)) for slug in slugs]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results.values()) == ["pool", "pool", "pool", "queued", "queued", "queued"]
        assert pool.pool_level() == 0
    finally:
        for tenant in Tenant.objects.filter(slug__in=slugs):
            pool.schema_drop(tenant.schema_name)
            tenant.delete()
        connection.set_schema_to_public()
