"""Provisioning: 20 tenants by each path — django-tenants' migrate, clone, and our pool.

    python -m portal.up exec -- .venv/bin/python benchmarks/provisioning.py

Each path is timed from "create this tenant" to "its schema is migrated and the Tenant +
Domain rows exist". Building the spares for the pool is background work (a Celery task)
and is not timed; claiming one is. Target: pool p95 < 50 ms and ≥ 10× faster than migrate.
"""

from __future__ import annotations

import time

from _setup import django_setup, drop_database, emit, percentile, summary, throwaway_database

N = 20


def main() -> None:
    url = throwaway_database("tenantry_bench_provisioning")
    django_setup("provisioning")
    from django.core.management import call_command
    from django.db import connection, transaction

    from portal.celery import app
    from tenants import pool, services
    from tenants.models import Domain, SpareSchema, Tenant

    try:
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        services.public_tenant_ensure()
        services.plans_ensure_defaults()
        pool.template_ensure()

        def timed_create(prefix: str, index: int, build) -> float:
            slug = f"{prefix}-{index:03d}"
            started = time.perf_counter()
            with transaction.atomic():
                tenant = Tenant(slug=slug, name=slug, schema_name=services.tenant_schema_name(slug))
                build(tenant.schema_name)
                tenant.provisioning, tenant.provisioning_path = Tenant.Provisioning.READY, prefix
                tenant.save()
                Domain.objects.create(
                    domain=services.tenant_primary_hostname(slug), tenant=tenant, is_primary=True
                )
            return (time.perf_counter() - started) * 1000

        # One untimed warm-up per path (imports, first broker connection, plan cache), then N timed.
        timed_create("migrate-warm", 0, pool.schema_create_by_migrate)
        migrate_ms = [timed_create("migrate", i, pool.schema_create_by_migrate) for i in range(N)]
        print(f"migrate path  {summary(migrate_ms)} ms")
        timed_create("clone-warm", 0, pool.schema_create_by_clone)
        clone_ms = [timed_create("clone", i, pool.schema_create_by_clone) for i in range(N)]
        print(f"clone path    {summary(clone_ms)} ms")

        SpareSchema.objects.filter(state=SpareSchema.State.READY).delete()
        pool.pool_refill(N + 1)  # background work in production: a Celery task keeps the pool full
        services.tenant_create(slug="pool-warm", name="Pool warm-up")
        pool_ms = []
        for i in range(N):
            started = time.perf_counter()
            tenant = services.tenant_create(slug=f"pool-{i:03d}", name=f"Pool {i}")
            pool_ms.append((time.perf_counter() - started) * 1000)
            assert tenant.provisioning_path == "pool", tenant.provisioning_path
        print(f"pool (claim)  {summary(pool_ms)} ms")

        result = {
            "pool_p95_ms": round(percentile(pool_ms, 95), 2),
            "clone_p95_ms": round(percentile(clone_ms, 95), 2),
            "migrate_p95_ms": round(percentile(migrate_ms, 95), 2),
            "speedup_vs_migrate": round(percentile(migrate_ms, 95) / percentile(pool_ms, 95), 1),
        }
        print(
            f"target: pool p95 < 50 ms ({'met' if result['pool_p95_ms'] < 50 else 'MISSED'}), "
            f"≥10× migrate ({'met' if result['speedup_vs_migrate'] >= 10 else 'MISSED'})"
        )
        emit(result)
    finally:
        app.control.purge()
        connection.close()
        drop_database(url)


if __name__ == "__main__":
    main()
