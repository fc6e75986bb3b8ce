"""Tampering with the chain: `audit_verify` catches each attack and names the first bad seq.

The attacker is a database superuser: `session_replication_role = replica` switches the
append-only trigger off for their session (inside the test's transaction).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection

from compliance import audit
from compliance.canonical import checkpoint_message, hash_with_rest
from compliance.chain import REST_SQL, ROW_LATERAL, chain_pending, table
from compliance.checkpoints import checkpoint_create, key_id, public_key_bytes, time_text
from compliance.models import AuditCheckpoint, AuditEvent
from compliance.verification import audit_chain_verify


def _events(count: int, unique: str) -> list[int]:
    for n in range(count):
        audit.record(action="test.tamper", payload={"n": n, "run": unique})
    chain_pending()
    return list(AuditEvent.objects.filter(payload__run=unique).order_by("seq").values_list("seq", flat=True))


def _as_attacker() -> Any:
    cursor = connection.cursor()
    cursor.execute("SET LOCAL session_replication_role = replica")
    return cursor


def _rehash_from(seq: int) -> None:
    """What a careful attacker does after editing: recompute every later link."""
    cursor = _as_attacker()
    cursor.execute(f"SELECT hash FROM {table()} WHERE seq = %s", [seq - 1])
    prev = cursor.fetchone()[0]
    cursor.execute(
        f"SELECT e.id, e.seq, {REST_SQL} FROM {table()} e, {ROW_LATERAL} WHERE e.seq >= %s ORDER BY e.seq",
        [seq],
    )
    for pk, row_seq, rest in cursor.fetchall():
        digest = hash_with_rest(row_seq, rest, prev)
        cursor.execute(f"UPDATE {table()} SET prev_hash = %s, hash = %s WHERE id = %s", [prev, digest, pk])
        prev = digest


def _verify_command(schema: str = "t_acme") -> str:
    try:
        from io import StringIO

        out = StringIO()
        call_command("audit_verify", tenant=schema, stdout=out)
        return out.getvalue()
    except CommandError as exc:
        return f"{out.getvalue()}{exc}"


def test_untouched_chain_verifies(in_acme: Any, unique: str) -> None:
    _events(3, unique)
    checkpoint_create()
    result = audit_chain_verify()
    assert result.ok, result.reason
    assert result.unsigned_tail == 0
    assert "OK: chain t_acme" in _verify_command()


def test_direct_update_is_caught(in_acme: Any, unique: str) -> None:
    seqs = _events(4, unique)
    checkpoint_create()
    _as_attacker().execute(f"UPDATE {table()} SET payload = '{{\"n\": 99}}'::jsonb WHERE seq = %s", [seqs[2]])
    result = audit_chain_verify()
    assert not result.ok
    assert result.first_bad_seq == seqs[2]
    assert f"first bad seq {seqs[2]}" in _verify_command()


def test_delete_is_caught(in_acme: Any, unique: str) -> None:
    seqs = _events(4, unique)
    _as_attacker().execute(f"DELETE FROM {table()} WHERE seq = %s", [seqs[1]])
    result = audit_chain_verify()
    assert result.first_bad_seq == seqs[1]
    assert "missing" in result.reason


def test_reorder_is_caught(in_acme: Any, unique: str) -> None:
    seqs = _events(4, unique)
    a, b = seqs[1], seqs[2]
    cursor = _as_attacker()
    cursor.execute(f"UPDATE {table()} SET seq = -1 WHERE seq = %s", [a])
    cursor.execute(f"UPDATE {table()} SET seq = %s WHERE seq = %s", [a, b])
    cursor.execute(f"UPDATE {table()} SET seq = %s WHERE seq = -1", [b])
    result = audit_chain_verify()
    assert result.first_bad_seq == a
    assert f"first bad seq {a}" in _verify_command()


def test_forged_insert_with_recomputed_hashes_is_caught_by_the_checkpoint(in_acme: Any, unique: str) -> None:
    first = _events(3, unique)
    checkpoint_create()
    later = _events(3, f"{unique}-b")
    checkpoint_create()
    forged_seq = first[-1] + 1
    cursor = _as_attacker()
    cursor.execute(f"UPDATE {table()} SET seq = seq + 1000000 WHERE seq >= %s", [forged_seq])
    cursor.execute(f"UPDATE {table()} SET seq = seq - 1000000 + 1 WHERE seq >= 1000000")
    cursor.execute(
        f"INSERT INTO {table()} (occurred_at, tenant, actor_type, actor_id, actor_label, action, "
        "target_type, target_id, target_label, user_agent, request_id, payload, seq, prev_hash, hash) "
        "VALUES (now(), 't_acme', 'system', '', 'system', 'vault.secret.reveal', '', '', '', '', '', "
        "'{}'::jsonb, %s, '', '')",
        [forged_seq],
    )
    _rehash_from(forged_seq)
    assert audit_chain_verify(check_storage=False, chain_first=False).first_bad_seq == forged_seq
    result = audit_chain_verify()
    assert not result.ok
    assert result.first_bad_seq == forged_seq
    assert "signed checkpoint" in result.reason
    assert later  # the rewritten events were after the first checkpoint


def test_forged_tail_with_a_forged_checkpoint_is_caught(in_acme: Any, unique: str) -> None:
    seqs = _events(2, unique)
    checkpoint_create()
    forged_seq = seqs[-1] + 1
    cursor = _as_attacker()
    cursor.execute(
        f"INSERT INTO {table()} (occurred_at, tenant, actor_type, actor_id, actor_label, action, "
        "target_type, target_id, target_label, user_agent, request_id, payload, seq, prev_hash, hash) "
        "VALUES (now(), 't_acme', 'system', '', 'system', 'forged', '', '', '', '', '', "
        "'{}'::jsonb, %s, '', '')",
        [forged_seq],
    )
    _rehash_from(forged_seq)
    cursor.execute(f"SELECT hash, occurred_at FROM {table()} WHERE seq = %s", [forged_seq])
    digest, when = cursor.fetchone()
    attacker = Ed25519PrivateKey.generate()
    message = checkpoint_message(chain="t_acme", seq=forged_seq, hash=digest, time=time_text(when))
    AuditCheckpoint.objects.create(
        chain="t_acme",
        seq=forged_seq,
        hash=digest,
        signed_at=when,
        kind="periodic",
        key_id=key_id(public_key_bytes(attacker.public_key())),
        signature=base64.b64encode(attacker.sign(message)).decode(),
    )
    result = audit_chain_verify()
    assert result.first_bad_seq == forged_seq
    assert "not trusted" in result.reason


def test_checkpoint_copy_in_s3_is_write_once_and_matches(in_acme: Any, unique: str) -> None:
    from compliance import archive

    _events(1, unique)
    checkpoint = checkpoint_create()
    stored = json.loads(archive.read_original_key(checkpoint.storage_name))
    assert stored["seq"] == checkpoint.seq
    assert stored["signature"] == checkpoint.signature
    with pytest.raises(archive.AlreadyExists):
        archive.put_once_key(checkpoint.storage_name, b"{}")


def test_checkpoints_are_append_only(in_acme: Any, unique: str) -> None:
    from django.db import DatabaseError, transaction

    _events(1, unique)
    checkpoint = checkpoint_create()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(hash="0" * 64)
