"""Routing overhead: a tenant-routed view vs the same view without tenant middleware.

    python -m portal.up exec -- .venv/bin/python benchmarks/routing.py

Both variants are served by daphne (the production ASGI server) on this machine and loaded
with wrk (Debian package `wrk`; falls back to an aiohttp load generator when missing) at
the same concurrency, one after the other, in the same run. Target: routed ≥ 85 % of the
baseline, and at most one database round trip per request for routing (0 on a cache hit).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _setup import ROOT, django_setup, drop_database, emit, free_port, throwaway_database

DURATION = int(os.environ.get("BENCH_SECONDS", "8"))
CONNECTIONS = 32
HOST = "acme.localhost"


def start_server(routed: bool, port: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="routing_app",
        BENCH_TENANT_ROUTING="1" if routed else "0",
        PYTHONPATH=os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)]),
    )
    daphne = Path(sys.executable).parent / "daphne"
    proc = subprocess.Popen(
        [str(daphne), "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/hello/", headers={"Host": HOST})
            if urllib.request.urlopen(request, timeout=1).status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("daphne did not start")


def load_wrk(port: int) -> float:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{DURATION}s",
            "-H",
            f"Host: {HOST}",
            f"http://127.0.0.1:{port}/hello/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def load_aiohttp(port: int) -> float:
    import aiohttp

    async def run() -> int:
        done = 0
        stop = time.monotonic() + DURATION
        async with aiohttp.ClientSession(headers={"Host": HOST}) as session:

            async def worker() -> None:
                nonlocal done
                while time.monotonic() < stop:
                    async with session.get(f"http://127.0.0.1:{port}/hello/") as response:
                        await response.read()
                        assert response.status == 200
                        done += 1

            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return done

    return asyncio.run(run()) / DURATION


def measure(routed: bool) -> float:
    port = free_port()
    server = start_server(routed, port)
    try:
        load = load_wrk if shutil.which("wrk") else load_aiohttp
        load(port)  # warm-up (imports, connections, routing cache)
        rps = load(port)
        print(f"  {'routed  ' if routed else 'baseline'} {rps:8.0f} req/s", flush=True)
        return rps
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def routing_queries() -> tuple[int, int]:
    """Queries the routing middleware makes: (cold cache, warm cache)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tenants import routing

    os.environ["BENCH_TENANT_ROUTING"] = "1"
    client = Client(HTTP_HOST=HOST)
    routing.invalidate()
    with CaptureQueriesContext(connection) as cold:
        assert client.get("/hello/").status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert client.get("/hello/").status_code == 200

    # django-tenants prefixes each new cursor with `SET search_path` (TENANT_LIMIT_SET_CALLS
    # stays off, see DESIGN.md); that is schema switching, not a routing lookup.
    def lookups(ctx: CaptureQueriesContext) -> int:
        return sum(not q["sql"].startswith("SET search_path") for q in ctx.captured_queries)

    print(f"  cold request SQL: {[q['sql'][:60] for q in cold.captured_queries]}")
    return lookups(cold), lookups(warm)


def main() -> None:
    url = throwaway_database("tenantry_bench_routing")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "routing_app"
    django_setup("routing")
    from django.core.management import call_command
    from django.db import connection

    from tenants import pool, services

    try:
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        services.public_tenant_ensure()
        pool.pool_refill(1)
        services.tenant_create(slug="acme", name="Acme")
        cold, warm = routing_queries()
        connection.close()
        baseline = measure(routed=False)
        routed = measure(routed=True)
        print(f"baseline (no tenant middleware): {baseline:8.0f} req/s")
        print(f"tenant-routed                  : {routed:8.0f} req/s")
        print(f"routing lookups: {cold} on a cold cache, {warm} on a warm one (target ≤ 1)")
        ratio = routed / baseline
        print(f"ratio {ratio:.3f} (target ≥ 0.85: {'met' if ratio >= 0.85 else 'MISSED'})")
        emit(
            {
                "tenant_rps": round(routed),
                "baseline_rps": round(baseline),
                "ratio": round(ratio, 3),
                "routing_queries": cold,
            }
        )
    finally:
        from portal.celery import app

        app.control.purge()
        connection.close()
        drop_database(url)


if __name__ == "__main__":
    main()
