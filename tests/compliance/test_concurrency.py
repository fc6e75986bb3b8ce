"""Concurrent writers never fork the chain: 8 threads append, one unbroken chain results."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connection, connections, transaction
from django_tenants.utils import schema_context

from compliance import audit
from compliance.chain import chain_pending
from compliance.models import AuditEvent
from compliance.verification import audit_chain_verify

THREADS = 8
PER_THREAD = 25


def _writer(run: str, number: int, errors: list[BaseException], barrier: threading.Barrier) -> None:
    try:
        barrier.wait()
        with schema_context("t_acme"):
            for n in range(PER_THREAD):
                with transaction.atomic():
                    audit.record(action="test.concurrent", payload={"run": run, "thread": number, "n": n})
                if n % 7 == 0:
                    # A rolled-back transaction burns an id; the chain must not care.
                    try:
                        with transaction.atomic():
                            audit.record(action="test.rolled_back", payload={"run": run})
                            raise RuntimeError("roll back")
                    except RuntimeError:
                        pass
    except BaseException as exc:
        errors.append(exc)
    finally:
        connections.close_all()


def test_chain_verifies_before_the_writers_start(in_acme: Any) -> None:
    # Also makes pytest-django create the test database when this module runs alone
    # (it only does so for sessions with a test that uses `db`; `committed_db` does not).
    assert audit_chain_verify(check_storage=False).ok


def test_eight_concurrent_writers_make_one_unbroken_chain(committed_db: Any, unique: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    threads = [threading.Thread(target=_writer, args=(unique, i, errors, barrier)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with schema_context("t_acme"):
        chain_pending()
        events = AuditEvent.objects.filter(payload__run=unique)
        assert events.filter(action="test.concurrent").count() == THREADS * PER_THREAD
        assert not events.filter(action="test.rolled_back").exists()
        assert not events.filter(hash__isnull=True).exists()
        seqs = sorted(events.values_list("seq", flat=True))
        assert len(set(seqs)) == len(seqs)
        result = audit_chain_verify(check_storage=False)
        assert result.ok, result.summary()
        assert result.pending == 0
        # Every seq from the first to the head is present: no fork, no gap.
        head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
        first = AuditEvent.objects.order_by("seq").values_list("seq", flat=True).first()
        assert AuditEvent.objects.filter(seq__isnull=False).count() == head - first + 1
    connection.set_schema_to_public()
