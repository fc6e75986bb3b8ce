"""Operators' public chain in the admin; the fast path chains committed events within a second."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from compliance import audit
from compliance.models import AuditEvent
from tests.conftest import wait_for


def test_oscar_sees_the_public_chain_read_only_and_can_verify_it(
    db: Any, client_for: Any, oscar: Any
) -> None:
    connection.set_schema_to_public()
    audit.record(action="platform.test.admin")
    client = client_for(oscar)
    listing = client.get("/admin/compliance/auditevent/")
    assert listing.status_code == 200
    assert b"Verify chain" in listing.content
    assert client.get("/admin/compliance/auditevent/add/").status_code == 403
    response = client.post("/admin/compliance/auditevent/verify/", follow=True)
    assert response.status_code == 200
    assert b"OK: chain public" in response.content


def _chained(pk: int) -> bool:
    return AuditEvent.objects.filter(pk=pk, hash__isnull=False).exists()


@pytest.mark.parametrize("mode", ["thread", "inline"])
def test_committed_events_are_chained_within_a_second(
    committed_db: Any, unique: str, settings: Any, mode: str
) -> None:
    settings.AUDIT_CHAIN_MODE = mode
    with schema_context("t_acme"):
        with transaction.atomic():
            event = audit.record(action="test.fast_path", payload={"run": unique})
        wait_for(lambda: _chained(event.pk), timeout=1.0, interval=0.02)


def test_the_chainer_thread_retries_when_another_process_holds_the_chain_lock(
    committed_db: Any, unique: str, settings: Any
) -> None:
    """The thread's pass does not loop on rows committed meanwhile; instead, a pass that finds
    the lock taken tries again later, so the event is chained once the lock is free, without
    any further kick."""
    import psycopg

    from compliance.chain import LOCK_CLASS

    settings.AUDIT_CHAIN_MODE = "thread"
    params = {
        k: v for k, v in connection.get_connection_params().items() if k in ("dbname", "user", "host", "port")
    }
    other = psycopg.connect(**params)  # another process's chainer, mid-transaction
    try:
        other.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [LOCK_CLASS, "t_acme"])
        with schema_context("t_acme"):
            event = audit.record(action="test.chain_lock_busy", payload={"run": unique})  # autocommit
            time.sleep(0.8)  # the thread tried (after its 0.2 s gathering delay) and found the lock taken
            assert not _chained(event.pk)
            other.commit()  # lock released; nothing else happens in this process
            wait_for(lambda: _chained(event.pk), timeout=2.0, interval=0.02)
    finally:
        other.close()
