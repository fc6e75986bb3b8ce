"""The chainer: turns inserted audit events into links of the schema's hash chain.

Why not hash at write time: a chain append must read the head and write the next link
atomically, so concurrent writers serialise on a lock held *through their commit* (the
fsync sits inside the lock). Measured here that gets ~0.3× the throughput of plain
inserts. Instead:

1. `audit.record` only INSERTs (in the caller's transaction; `id` comes from a sequence).
2. After the caller commits, the chainer runs (`chain_pending`): under a per-schema
   advisory *try*-lock it reads the committed rows that have no hash yet, in id order,
   gives each the next gap-free `seq` (so the chain follows commit order, and ids that
   rolled back never matter), computes `prev_hash`/`hash`, and fills them in with one
   UPDATE. Writers never wait for each other or for the chainer.
3. Whoever held the lock re-checks for pending rows after releasing it, so an event
   committed while another process was chaining is never left behind (the writer that
   lost the try-lock relies on that re-check). The Celery beat task `audit_chain_all`
   is the safety net (crashed process between commit and chaining).

Rows with `hash IS NULL` are "not chained yet": verification, exports and forwarding
only ever read chained rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction

from compliance.canonical import GENESIS, VERSION, hash_with_rest

log = logging.getLogger(__name__)

LOCK_CLASS = 0x41554454  # pg_advisory lock class "AUDT"; the object id is hashtext(schema)
BATCH = 2000
TABLE = "compliance_auditevent"

TIME_SQL = "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
# Rendered once per row (they appear twice in the length-prefixed form): use with
# `FROM <table> e, {ROW_LATERAL}`.
ROW_LATERAL = f"LATERAL (SELECT {TIME_SQL} AS t_, coalesce(host(e.ip), '') AS ip_, e.payload::text AS p_) v"
# canonical.FIELDS after seq, as the SQL that renders each exactly as hashed.
FIELD_SQL = (
    "v.t_",
    "e.tenant",
    "e.actor_type",
    "e.actor_id",
    "e.actor_label",
    "e.action",
    "e.target_type",
    "e.target_id",
    "e.target_label",
    "v.ip_",
    "e.user_agent",
    "e.request_id",
    "v.p_",
)


def _lp(expr: str) -> str:
    return f"octet_length({expr})::text || ':' || {expr} || '|'"


REST_SQL = " || ".join(_lp(expr) for expr in FIELD_SQL)
# The database computes the same hash as canonical.event_hash (verification at C speed).
HASH_SQL = (
    f"encode(sha256(convert_to('{VERSION}|' || {_lp('e.seq::text')} || {REST_SQL} || e.prev_hash, 'UTF8')), "
    "'hex')"
)
# A chained row for readers: (id, *canonical.FIELDS, prev_hash, hash).
ROW_COLUMNS = "e.id, e.seq, " + ", ".join(FIELD_SQL) + ", e.prev_hash, e.hash"


def current_schema() -> str:
    return getattr(connection, "schema_name", None) or "public"


def table(schema: str | None = None) -> str:
    """The schema-qualified audit table (raw SQL never relies on search_path)."""
    quote = connection.ops.quote_name
    return f"{quote(schema or current_schema())}.{TABLE}"


def _head(cursor: Any, schema: str) -> tuple[int, str]:
    cursor.execute(f"SELECT seq, hash FROM {table(schema)} WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")
    row = cursor.fetchone()
    if row:
        return int(row[0]), row[1]
    # Everything was pruned (or nothing chained yet): continue from the retention cut.
    from compliance.models import AuditCheckpoint

    cut = AuditCheckpoint.objects.filter(kind=AuditCheckpoint.Kind.RETENTION).order_by("-seq").first()
    return (cut.seq, cut.hash) if cut else (0, GENESIS)


def _chain_batch(schema: str, limit: int, *, wait: bool) -> int | None:
    """Chain up to `limit` pending rows. None when another process holds the lock (no wait)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [LOCK_CLASS, schema])
        else:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [LOCK_CLASS, schema])
            if not cursor.fetchone()[0]:
                return None
        cursor.execute(
            f"SELECT e.id, {REST_SQL} FROM {table(schema)} e, {ROW_LATERAL} "
            "WHERE e.hash IS NULL ORDER BY e.id LIMIT %s",
            [limit],
        )
        rows = cursor.fetchall()
        if not rows:
            return 0
        seq, prev = _head(cursor, schema)
        ids, seqs, prevs, hashes = [], [], [], []
        for pk, rest in rows:
            seq += 1
            digest = hash_with_rest(seq, rest, prev)
            ids.append(pk)
            seqs.append(seq)
            prevs.append(prev)
            hashes.append(digest)
            prev = digest
        cursor.execute(
            f"UPDATE {table(schema)} AS e SET seq = v.seq, prev_hash = v.prev, hash = v.hash, "
            "chained_at = clock_timestamp() "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v(id, seq, prev, hash) "
            "WHERE e.id = v.id",
            [ids, seqs, prevs, hashes],
        )
        return len(rows)


def has_pending(schema: str | None = None) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table(schema)} WHERE hash IS NULL)")
        return bool(cursor.fetchone()[0])


def chain_pending(*, schema: str | None = None, max_rows: int | None = None, wait: bool = True) -> int:
    """Chain every committed pending event of the current schema; return how many.

    `wait=True` (verification, checkpoints, exports, beat) waits for a running chainer, so
    every event committed before the call is chained when it returns. The fast path uses
    `wait=False`: it returns at once when another process is chaining, which re-checks
    after releasing the lock. `max_rows` bounds the work done inline after a request.
    """
    schema = schema or current_schema()
    done = 0
    while max_rows is None or done < max_rows:
        limit = BATCH if max_rows is None else min(BATCH, max_rows - done)
        count = _chain_batch(schema, limit, wait=wait)
        if count is None:
            break
        done += count
        # A full batch: keep going. A short one: done, unless rows committed meanwhile
        # (only visible once our lock is released, i.e. outside an outer transaction).
        if count < limit and (connection.in_atomic_block or not has_pending(schema)):
            break
    return done


def chain_available(schema: str) -> int | None:
    """Chain the committed pending events of `schema` without waiting for the lock; return
    how many, or None when another process holds it. Unlike `chain_pending`, rows committed
    after the last batch was read are left to their writers' own kicks."""
    done = 0
    while True:
        count = _chain_batch(schema, BATCH, wait=False)
        if count is None:
            return None if done == 0 else done
        done += count
        if count < BATCH:
            return done


class _ChainerThread(threading.Thread):
    """One per process: chains the schemas that writers kicked, off the writers' path.

    Writers only set an event after their commit (microseconds). The thread gathers kicks
    for `AUDIT_CHAIN_BATCH_DELAY` seconds so one chaining transaction covers many events,
    and closes its database connection when idle (tests can drop their database).

    Each pass chains what is pending (full batches back to back) and stops; it does not
    re-check for rows committed meanwhile, because their writers kicked a chainer too. When
    another process holds the schema's lock, the pass is tried again after the delay, so a
    kick is never lost. (Re-checking made the pass loop under sustained load, one tiny
    chaining transaction after another: ~0.5 ms of CPU per event on the reveal benchmark.)
    """

    def __init__(self) -> None:
        super().__init__(name="audit-chainer", daemon=True)
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.schemas: set[str] = set()

    def kick(self, schema: str) -> None:
        with self.lock:
            self.schemas.add(schema)
        self.wake.set()

    def run(self) -> None:
        from django.conf import settings
        from django.db import connections
        from django_tenants.utils import schema_context

        delay = float(getattr(settings, "AUDIT_CHAIN_BATCH_DELAY", 0.2))
        while True:
            if not self.wake.wait(timeout=0.5):
                connections.close_all()
                continue
            if delay:
                threading.Event().wait(delay)
            with self.lock:
                self.wake.clear()
                schemas, self.schemas = self.schemas, set()
            busy = set()
            for schema in schemas:
                try:
                    with schema_context(schema):
                        if chain_available(schema) is None:
                            busy.add(schema)
                except Exception:
                    log.exception("audit chainer thread failed in %s; the beat task will retry", schema)
                    connections.close_all()
            if busy:  # another process is chaining them: try again after the delay
                with self.lock:
                    self.schemas |= busy
                self.wake.set()


_thread: _ChainerThread | None = None
_thread_lock = threading.Lock()


def _chainer_thread() -> _ChainerThread:
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = _ChainerThread()
            _thread.start()
        return _thread


def chain_after_commit(schema: str) -> None:
    """The fast path, run by `transaction.on_commit` once the writer committed.

    AUDIT_CHAIN_MODE: "thread" (default; a per-process background chainer), "inline"
    (chain right here, in the writer's thread) or "celery" (send the `audit_chain` task).
    """
    from django.conf import settings
    from django_tenants.utils import schema_context

    mode = getattr(settings, "AUDIT_CHAIN_MODE", "thread")
    try:
        if mode == "thread":
            _chainer_thread().kick(schema)
            return
        if mode == "inline":
            with schema_context(schema):
                chain_pending(schema=schema, max_rows=BATCH * 2, wait=False)
                if not has_pending(schema):
                    return
        from compliance.tasks import audit_chain

        with schema_context(schema):
            audit_chain.delay()
    except Exception:
        # The action has committed; never fail it here. The beat task chains later.
        log.exception("audit chainer fast path failed in %s", schema)


def iter_chained(
    *,
    schema: str | None = None,
    after_seq: int = 0,
    until_seq: int | None = None,
    where: str = "",
    params: list[Any] | None = None,
    chunk: int = 20000,
) -> Iterator[tuple[Any, ...]]:
    """Chained rows (id, *canonical FIELDS, prev_hash, hash) in seq order, via a server-side cursor."""
    sql = f"SELECT {ROW_COLUMNS} FROM {table(schema)} e, {ROW_LATERAL} WHERE e.seq > %s"
    args: list[Any] = [after_seq]
    if until_seq is not None:
        sql += " AND e.seq <= %s"
        args.append(until_seq)
    if where:
        sql += f" AND ({where})"
        args.extend(params or [])
    sql += " ORDER BY e.seq"
    connection.ensure_connection()
    with transaction.atomic():
        raw = connection.connection
        with raw.cursor(name=f"audit_iter_{id(args)}") as cursor:
            cursor.itersize = chunk
            cursor.execute(sql, args)
            while True:
                rows = cursor.fetchmany(chunk)
                if not rows:
                    break
                yield from rows
