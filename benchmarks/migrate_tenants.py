"""Benchmark: a no-op `migrate_tenants` across 1,000 tenant schemas (target: under 20 s).

Baseline: django-tenants' `migrate_schemas --tenant` on the same kind of schemas. It takes
roughly a second per schema, so it is timed on a sample (default 50 schemas) and
extrapolated linearly to the full count; the output says so.

Everything happens in a throwaway database on the configured server, dropped at the end:
the public schema is migrated, the tenant template is built once by the migrate path, and
each tenant schema is then created by replaying the template's DDL (pg_dump of the
template with the schema name substituted) on two connections in parallel, one transaction per schema.

    python -m portal.up exec -- .venv/bin/python benchmarks/migrate_tenants.py [--tenants 1000] [--sample 50]

Last line: {"tenants": ..., "seconds": ..., "ratio_vs_migrate_schemas": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
TEMPLATE = "tenant_template"


def say(message: str) -> None:
    print(f"[migrate_tenants bench] {message}", flush=True)


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    embedded = BASE_DIR / "var" / "embedded.env"
    if not url and embedded.is_file():
        for line in embedded.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "DATABASE_URL":
                url = value.strip()
    if not url:
        sys.exit("DATABASE_URL is not set; run through `python -m portal.up exec -- ...`")
    return url.replace("postgresql://", "postgres://", 1)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def admin_execute(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


def template_ddl() -> str:
    """The template schema as SQL, with `tenant_template` as a placeholder to substitute."""
    from tenants import rollout

    args, env = rollout._libpq_env()
    dump = subprocess.run(
        [rollout.pg_dump_path(), *args, "--schema", TEMPLATE, "--no-owner", "--no-privileges", "--inserts"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    lines = [line for line in dump.splitlines() if line and not line.startswith(("\\", "--"))]
    return "\n".join(lines)


def build_schemas(names: list[str], ddl: str, conninfo: dict[str, object], workers: int = 2) -> None:
    """Replay the template DDL once per name on `workers` connections, one transaction each.

    One schema per transaction keeps the lock table small (a schema is a few hundred
    relations; `max_locks_per_transaction` is 64 per connection by default).
    """
    import psycopg

    pattern = re.compile(rf"\b{TEMPLATE}\b")
    shares = [names[i::workers] for i in range(workers)]

    def run(share: list[str]) -> None:
        with psycopg.connect(**conninfo) as conn:  # type: ignore[arg-type]
            conn.execute("SET synchronous_commit = off")  # a throwaway database
            for name in share:
                conn.execute(pattern.sub(name, ddl))  # type: ignore[arg-type]
                conn.commit()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, shares))


def add_tenants(first: int, last: int) -> list[str]:
    from tenants.models import Tenant

    rows = [
        Tenant(
            slug=f"bench-{i:05d}",
            name=f"Bench {i}",
            schema_name=f"t_bench_{i:05d}",
            status=Tenant.Status.ACTIVE,
            provisioning=Tenant.Provisioning.READY,
            is_canary=i < 3,
        )
        for i in range(first, last)
    ]
    Tenant.objects.bulk_create(rows, batch_size=1000)
    return [row.schema_name for row in rows]


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=50, help="schemas migrate_schemas is timed on")
    options = parser.parse_args()
    total, sample = options.tenants, min(options.sample, options.tenants)

    base = database_url()
    bench_db = f"tenantry_bench_{secrets.token_hex(4)}"
    bench_url = with_database(base, bench_db)
    say(f"throwaway database {bench_db}")
    admin_execute(base, f'CREATE DATABASE "{bench_db}"')
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    env = dict(os.environ)
    env["LOG_LEVEL"] = "WARNING"
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from tenants import pool, services

        started = time.perf_counter()
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        services.public_tenant_ensure()
        pool.template_ensure()
        ddl = template_ddl()
        conninfo = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
        say(f"public schema and template ready in {time.perf_counter() - started:.1f}s")

        started = time.perf_counter()
        build_schemas(add_tenants(0, sample), ddl, conninfo)
        connection.close()
        say(f"{sample} tenant schemas built in {time.perf_counter() - started:.1f}s")
        baseline = timed([*manage, "migrate_schemas", "--tenant", "--noinput", "-v", "0"], env)
        ours_sample = timed([*manage, "migrate_tenants", "--new"], env)
        say(
            f"same {sample} schemas: migrate_schemas {baseline:.2f}s, migrate_tenants {ours_sample:.2f}s "
            f"({baseline / ours_sample:.1f}x)"
        )

        started = time.perf_counter()
        build_schemas(add_tenants(sample, total), ddl, conninfo)
        connection.close()
        say(f"{total - sample} more tenant schemas built in {time.perf_counter() - started:.1f}s")
        seconds = timed([*manage, "migrate_tenants", "--new"], env)
        extrapolated = baseline / sample * total
        ratio = extrapolated / seconds
        say(
            f"no-op migrate_tenants over {total} schemas: {seconds:.2f}s (target < 20 s); "
            f"migrate_schemas measured on {sample} schemas ({baseline:.2f}s) and extrapolated "
            f"linearly to {total}: {extrapolated:.1f}s; ratio {ratio:.1f}x"
        )
        print(
            json.dumps(
                {"tenants": total, "seconds": round(seconds, 2), "ratio_vs_migrate_schemas": round(ratio, 1)}
            )
        )
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        admin_execute(base, f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
        say(f"dropped {bench_db}")


if __name__ == "__main__":
    sys.exit(main())
