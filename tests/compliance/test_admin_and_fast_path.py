"""Operators' public chain in the admin; the fast path chains committed events within a second."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from compliance import audit
from compliance.models import AuditEvent


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


@pytest.mark.parametrize("mode", ["thread", "inline"])
def test_committed_events_are_chained_within_a_second(
    committed_db: Any, unique: str, settings: Any, mode: str
) -> None:
    settings.AUDIT_CHAIN_MODE = mode
    with schema_context("t_acme"):
        with transaction.atomic():
            event = audit.record(action="test.fast_path", payload={"run": unique})
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if AuditEvent.objects.filter(pk=event.pk, hash__isnull=False).exists():
                break
            time.sleep(0.02)
        assert AuditEvent.objects.get(pk=event.pk).hash is not None
