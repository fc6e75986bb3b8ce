"""API token authentication cost: the same view, with a token vs without credentials.

    python -m portal.up exec -- .venv/bin/python benchmarks/auth.py

A throwaway database with one tenant and one member holding a read token. Both variants
call `/api/v1/me/` through Django's full middleware stack (tenant routing included); the
unauthenticated one is refused (401) after routing and authentication, the authenticated
one answers 200. Target: at most one extra query (token + user + service-account profile
in one SELECT; last-use is written at most once a minute, so not on the measured path).
Last line: {"extra_queries": ..., "ratio": ..., ...}
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time

from _setup import django_setup, drop_database, emit, throwaway_database

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))
PATH = "/api/v1/me/"


def queries_of(client: object, **headers: str) -> tuple[int, list[str], int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        status = client.get(PATH, **headers).status_code  # type: ignore[attr-defined]
    sql = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
    return len(sql), sql, status


def timed(client: object, n: int, **headers: str) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        client.get(PATH, **headers)  # type: ignore[attr-defined]
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> int:
    os.environ["API_THROTTLE_USER"] = os.environ["API_THROTTLE_ANON"] = "1000000/min"
    url = throwaway_database(f"bench_auth_{random.randint(0, 1 << 30):x}")
    try:
        django_setup("auth")
        import logging

        logging.getLogger("django.request").setLevel(logging.ERROR)  # 401s are the point here
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django_tenants.utils import tenant_context

        from tenants import pool, services
        from tenants.members.services import member_create
        from tenants.members.tokens import token_create

        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        services.public_tenant_ensure()
        services.plans_ensure_defaults()
        pool.pool_refill(1)
        tenant = services.tenant_create(slug="benchauth", name="Bench Auth", status="active")
        with tenant_context(tenant):
            user = member_create(email="bench@auth.test", role="developer")
            _, token = token_create(owner=user, actor=user, name="bench", scopes=["read"])
        connection.set_schema_to_public()

        client = Client(HTTP_HOST=f"benchauth.{settings.PORTAL_DOMAIN}")
        auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        for _ in range(20):  # warm: routing cache, connection, last-use write
            client.get(PATH)
            client.get(PATH, **auth)
        anon_n, anon_sql, anon_status = queries_of(client)
        auth_n, auth_sql, auth_status = queries_of(client, **auth)
        assert (anon_status, auth_status) == (401, 200), (anon_status, auth_status)
        print(f"unauthenticated ({anon_status}): {anon_n} queries {anon_sql}")
        print(f"token ({auth_status}): {auth_n} queries")
        for sql in auth_sql:
            print(f"    {sql[:160]}")

        anon_ms, auth_ms = [], []
        for _ in range(4):  # interleave rounds so drift hits both sides
            anon_ms += timed(client, REQUESTS // 4)
            auth_ms += timed(client, REQUESTS // 4, **auth)
        anon_median, auth_median = statistics.median(anon_ms), statistics.median(auth_ms)
        ratio = auth_median / anon_median
        print(f"median per request: unauthenticated {anon_median:.3f} ms, token {auth_median:.3f} ms")
        emit(
            {
                "extra_queries": auth_n - anon_n,
                "ratio": round(ratio, 3),
                "unauthenticated_ms": round(anon_median, 3),
                "token_ms": round(auth_median, 3),
                "requests": len(anon_ms) + len(auth_ms),
            }
        )
        ok = auth_n - anon_n <= 1
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
