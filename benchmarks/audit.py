"""Audit chain benchmark (issue 5 targets), in one run, on a throwaway database.

    python -m portal.up exec -- .venv/bin/python benchmarks/audit.py [--seconds 8] [--rows 1000000]

1. 4 writers, one event per transaction, for the same wall time each:
   - chained: `audit.record()` into a schema with the append-only trigger; the chainer runs
     after each commit (the real fast path);
   - plain: the same ORM insert of the same row into an identical table, no chaining.
   The two alternate twice (plain, chained, plain, chained) to even out a noisy machine.
   Target: ratio_vs_plain >= 0.5. chain_lag_p99_ms = p99 of (chained_at - occurred_at),
   i.e. from the event's creation (before its commit) until it is hashed. Target < 1000.
2. 1,000,000 chained events written with COPY into a throwaway schema (hashes computed as
   the chainer does), then `audit_chain_verify()` over all of them. Target < 10 s.
3. The viewer's first page (`selectors.audit_events`, 50 rows) over those 1M events:
   median of 5, worst of no filter / action filter / actor filter. Target < 100 ms.

The final line is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._setup import django_setup, drop_database, throwaway_database

WRITERS = 4


def make_schema(name: str, *, guarded: bool = True) -> None:
    from django.db import connection
    from django_tenants.utils import schema_context

    from compliance.models import AuditCheckpoint, AuditEvent

    guard = importlib.import_module("compliance.migrations.0003_audit_guard")
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{name}"')
    with schema_context(name):
        with connection.schema_editor() as editor:
            editor.create_model(AuditEvent)
            editor.create_model(AuditCheckpoint)
        with connection.cursor() as cursor:
            # The viewer reads GDPR erasure aliases (governance.ErasedSubject: actor_id, alias).
            cursor.execute(
                f'CREATE TABLE "{name}".governance_erasedsubject '
                "(id bigserial PRIMARY KEY, actor_id varchar(64) NOT NULL, alias varchar(254) NOT NULL, "
                "erased_at timestamptz NOT NULL DEFAULT now())"
            )
        if guarded:
            with connection.cursor() as cursor:
                cursor.execute(guard.FUNCTION)
                cursor.execute(guard.TRIGGERS)


def _writer(
    schema: str, chained: bool, seconds: float, counts: list[int], barrier: threading.Barrier
) -> None:
    from django.db import connections, transaction
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from compliance import audit
    from compliance.models import AuditEvent

    done = 0
    with schema_context(schema):
        barrier.wait()
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            payload = {"n": done, "env": "production", "release": "v1.2.3"}
            with transaction.atomic():
                if chained:
                    audit.record(action="bench.deploy", payload=payload)
                else:
                    AuditEvent.objects.create(
                        occurred_at=timezone.now(),
                        tenant=schema,
                        actor_type="system",
                        actor_label="system",
                        action="bench.deploy",
                        payload=payload,
                    )
            done += 1
    counts.append(done)
    connections.close_all()


def throughput(schema: str, *, chained: bool, seconds: float) -> float:
    counts: list[int] = []
    barrier = threading.Barrier(WRITERS + 1)
    threads = [
        threading.Thread(target=_writer, args=(schema, chained, seconds, counts, barrier))
        for _ in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def chain_lag_p99_ms(schema: str) -> tuple[float, int]:
    from django.db import connection
    from django_tenants.utils import schema_context

    from compliance.chain import chain_pending

    with schema_context(schema):
        pending_at_end = chain_pending()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_cont(0.99) WITHIN GROUP "
                "(ORDER BY extract(epoch FROM chained_at - occurred_at) * 1000) FROM compliance_auditevent"
            )
            return float(cursor.fetchone()[0] or 0.0), pending_at_end


def fill_million(schema: str, rows: int) -> None:
    """COPY `rows` valid chained events (hashes computed exactly as the chainer does)."""
    import datetime as dt

    from django.db import connection

    from compliance.canonical import GENESIS, event_hash

    actions = ["deploy.run", "vault.secret.reveal", "member.login", "terminal.open", "policy.evaluate"]
    actors = [(str(i), f"user{i}@acme.test") for i in range(1, 40)]
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    prev = GENESIS
    connection.ensure_connection()
    raw = connection.connection
    columns = (
        "occurred_at, tenant, actor_type, actor_id, actor_label, action, target_type, target_id, "
        "target_label, "
        "ip, user_agent, request_id, payload, seq, prev_hash, hash, chained_at"
    )
    buffer = io.StringIO()
    with (
        raw.cursor() as cursor,
        cursor.copy(f'COPY "{schema}".compliance_auditevent ({columns}) FROM STDIN') as copy,
    ):
        for seq in range(1, rows + 1):
            when = (start + dt.timedelta(microseconds=seq * 7919)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            actor_id, actor_label = actors[seq % len(actors)]
            # PostgreSQL's jsonb text form (keys by length, then bytes), exactly as it will hash it.
            payload_text = f'{{"n": {seq}, "environment": "{"production" if seq % 3 else "staging"}"}}'
            values = [
                seq,
                when,
                schema,
                "member",
                actor_id,
                actor_label,
                actions[seq % len(actions)],
                "deployments.run",
                str(seq),
                f"run {seq}",
                "10.0.0.1",
                "bench/1.0",
                f"req-{seq}",
                payload_text,
            ]
            digest = event_hash(values, prev)
            buffer.write(
                f"{when}\t{schema}\tmember\t{actor_id}\t{actor_label}\t{values[6]}\tdeployments.run\t{seq}\t"
                f"run {seq}\t10.0.0.1\tbench/1.0\treq-{seq}\t{payload_text}\t{seq}\t{prev}\t{digest}"
                f"\t{when}\n"
            )
            prev = digest
            if seq % 20000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    raw.commit()
    # What autovacuum does to old rows anyway (hint bits, visibility map, statistics).
    raw.autocommit = True
    with raw.cursor() as cursor:
        cursor.execute(f'VACUUM (ANALYZE) "{schema}".compliance_auditevent')
    raw.autocommit = False


def viewer_first_page_ms(schema: str) -> float:
    from django_tenants.utils import schema_context

    from compliance.selectors import audit_events

    worst = 0.0
    with schema_context(schema):
        for filters in ({}, {"action": "vault.secret.reveal"}, {"actor": "7"}):
            samples = []
            for _ in range(5):
                started = time.perf_counter()
                page = audit_events(filters=filters, limit=50)
                samples.append((time.perf_counter() - started) * 1000)
                assert len(page.events) == 50
            worst = max(worst, statistics.median(samples))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0, help="per throughput round")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    url = throwaway_database(f"bench_audit_{random.randint(0, 1 << 30):x}")
    try:
        django_setup("audit")
        from django.db import connection
        from django_tenants.utils import schema_context

        from compliance.verification import audit_chain_verify

        make_schema("bench_chained")
        make_schema("bench_plain", guarded=False)
        plain, chained = 0.0, 0.0
        for _ in range(2):
            plain += throughput("bench_plain", chained=False, seconds=args.seconds)
            chained += throughput("bench_chained", chained=True, seconds=args.seconds)
        plain, chained = plain / 2, chained / 2
        lag_p99, leftover = chain_lag_p99_ms("bench_chained")
        print(
            f"plain {plain:.0f}/s, chained {chained:.0f}/s, lag p99 {lag_p99:.1f} ms, left {leftover}",
            flush=True,
        )

        make_schema("bench_verify")
        started = time.monotonic()
        fill_million("bench_verify", args.rows)
        print(f"wrote {args.rows} chained events in {time.monotonic() - started:.1f}s", flush=True)
        with schema_context("bench_verify"):
            result = audit_chain_verify(check_storage=False)
            print(f"first verify {result.seconds:.2f}s", flush=True)
            result = audit_chain_verify(check_storage=False)
        if not result.ok or result.checked != args.rows:
            print(result.summary(), file=sys.stderr)
            return 1
        print(f"verified {result.checked} events in {result.seconds:.2f}s", flush=True)
        viewer_ms = viewer_first_page_ms("bench_verify")
        connection.close()
        print(
            json.dumps(
                {
                    "appends_per_s": round(chained, 1),
                    "plain_per_s": round(plain, 1),
                    "ratio_vs_plain": round(chained / plain, 3) if plain else 0.0,
                    "chain_lag_p99_ms": round(lag_p99, 1),
                    "verify_1m_s": round(result.seconds * 1_000_000 / args.rows, 2),
                    "viewer_first_page_ms": round(viewer_ms, 1),
                }
            )
        )
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
