"""The chain: records are linked by the chainer, hashed canonically, protected by a trigger."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from compliance import audit
from compliance.canonical import GENESIS, hash_record
from compliance.chain import chain_pending
from compliance.models import AuditEvent


def _new_events(count: int, unique: str) -> list[AuditEvent]:
    return [audit.record(action="test.event", payload={"n": n, "run": unique}) for n in range(count)]


def test_record_is_chained_with_gap_free_seq(in_acme: Any, unique: str) -> None:
    events = _new_events(3, unique)
    chain_pending()
    rows = list(AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("seq"))
    assert [r.seq for r in rows] == list(range(rows[0].seq, rows[0].seq + 3))
    assert rows[1].prev_hash == rows[0].hash
    assert rows[2].prev_hash == rows[1].hash
    assert all(len(r.hash) == 64 for r in rows)
    assert rows[0].tenant == "t_acme"


def test_first_event_of_a_chain_links_to_genesis(in_acme: Any) -> None:
    chain_pending()
    first = AuditEvent.objects.order_by("seq").first()
    assert first.seq == 1
    assert first.prev_hash == GENESIS


def test_time_is_hashed_at_microsecond_precision(in_acme: Any, unique: str) -> None:
    from compliance.checkpoints import time_text

    event = _new_events(1, unique)[0]
    chain_pending()
    event.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload::text FROM compliance_auditevent WHERE id = %s", [event.pk])
        payload_text = cursor.fetchone()[0]
    record = {
        "seq": event.seq,
        "time": time_text(event.occurred_at),
        "tenant": event.tenant,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "ip": event.ip or "",
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "payload_text": payload_text,
        "prev_hash": event.prev_hash,
    }
    assert len(record["time"].split(".")[1]) == 7  # six digits and the Z
    assert hash_record(record) == event.hash
    assert hash_record(record | {"time": "2000-01-01T00:00:00.000001Z"}) != event.hash


def test_secrets_never_reach_the_payload(in_acme: Any) -> None:
    event = audit.record(action="vault.secret.create", payload={"name": "db", "value_password": "hunter2"})
    assert event.payload == {"name": "db", "value_password": "[redacted]"}


def test_unknown_actor_type_fails_the_action(in_acme: Any) -> None:
    class Robot:
        audit_actor_type = "robot"
        pk = 1

    with pytest.raises(ValueError, match="unknown audit actor type"):
        audit.record(action="test.event", actor=Robot())


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE compliance_auditevent SET action = 'forged' WHERE id = %s",
        "UPDATE compliance_auditevent SET hash = repeat('0', 64) WHERE id = %s",
        "DELETE FROM compliance_auditevent WHERE id = %s",
    ],
)
def test_trigger_refuses_update_and_delete(in_acme: Any, unique: str, statement: str) -> None:
    event = _new_events(1, unique)[0]
    chain_pending()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as c:
        c.execute(statement, [event.pk])


def test_trigger_refuses_content_change_before_chaining(in_acme: Any, unique: str) -> None:
    event = _new_events(1, unique)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as c:
        c.execute(
            "UPDATE compliance_auditevent SET action = 'x', seq = 999999, hash = repeat('a', 64) "
            "WHERE id = %s",
            [event.pk],
        )


def test_trigger_refuses_truncate(in_acme: Any) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as c:
        c.execute("TRUNCATE compliance_auditevent")


def test_operator_actions_go_to_the_public_chain(db: Any, platform: Any, unique: str) -> None:
    connection.set_schema_to_public()
    event = audit.record(action="platform.test", payload={"run": unique})
    chain_pending()
    event.refresh_from_db()
    assert event.tenant == "public"
    assert event.hash is not None


def test_record_stores_what_the_orm_would_store(in_acme: Any, alice: Any, unique: str) -> None:
    """`record` writes with one prepared INSERT; the row read back equals the event it returns,
    and an ORM-saved copy of the same event stores identical values."""
    from portal.context import clear_request_meta, set_request_meta

    set_request_meta({"ip": "2001:db8::7", "user_agent": "pytest/1", "request_id": f"r-{unique}"})
    try:
        event = audit.record(
            action="test.parity",
            actor=alice.user(),
            target=alice.user(),
            payload={"nested": {"password": "x", "list": [1, "two", None]}, "run": unique},
        )
    finally:
        clear_request_meta()
    assert not event._state.adding
    stored = AuditEvent.objects.get(pk=event.pk)
    names = [f.attname for f in AuditEvent._meta.concrete_fields]
    assert {n: getattr(stored, n) for n in names} == {n: getattr(event, n) for n in names}
    assert stored.payload["nested"]["password"] == audit.REDACTED
    assert stored.ip == "2001:db8::7"
    assert stored.hash is None  # the chainer fills the chain columns
    copy = AuditEvent.objects.get(pk=event.pk)
    copy.pk = None
    copy.save()
    again = AuditEvent.objects.get(pk=copy.pk)
    values = [n for n in names if n != "id"]
    assert {n: getattr(again, n) for n in values} == {n: getattr(stored, n) for n in values}
