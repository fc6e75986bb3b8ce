"""Retention pruning keeps the chain verifiable from the checkpoint at the cut."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from compliance import audit
from compliance.chain import chain_pending, table
from compliance.models import AuditCheckpoint, AuditEvent
from compliance.retention import retention_prune
from compliance.verification import audit_chain_verify


def test_pruning_keeps_the_chain_verifiable(in_fresh_tenant: Any, unique: str) -> None:
    for n in range(4):
        audit.record(action="test.retention", payload={"n": n, "run": unique})
    chain_pending()
    head = AuditEvent.objects.order_by("-seq").first().seq
    # Pretend 100 days passed: everything but the head is older than the retention period.
    result = retention_prune(now=timezone.now() + dt.timedelta(days=100))
    assert result["cut"] == head - 1
    assert result["pruned"] >= 3
    assert AuditCheckpoint.objects.filter(kind="retention", seq=head - 1).exists()
    assert AuditEvent.objects.filter(seq__lt=head).count() == 0
    verified = audit_chain_verify()
    assert verified.ok, verified.summary()
    assert verified.anchor_seq == head - 1


def test_delete_without_a_retention_checkpoint_is_refused_even_with_the_flag(
    in_fresh_tenant: Any, unique: str
) -> None:
    event = audit.record(action="test.retention", payload={"run": unique})
    chain_pending()
    event.refresh_from_db()
    cut = AuditCheckpoint.objects.filter(kind="retention").order_by("-seq").first()
    if cut is not None and cut.seq >= event.seq:
        pytest.skip("already below a cut")
    with transaction.atomic(), connection.cursor() as c:
        c.execute("SET LOCAL compliance.audit_prune = 'on'")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            c.execute(f"DELETE FROM {table()} WHERE seq = %s", [event.seq])


def test_deleting_rows_before_the_cut_is_caught(in_fresh_tenant: Any, unique: str) -> None:
    for n in range(3):
        audit.record(action="test.retention", payload={"n": n, "run": unique})
    chain_pending()
    first = AuditEvent.objects.order_by("seq").first().seq
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"DELETE FROM {table()} WHERE seq = %s", [first])
    result = audit_chain_verify()
    assert not result.ok
    assert result.first_bad_seq == first
