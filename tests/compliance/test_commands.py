"""Management commands: audit_checkpoint, audit_verify --all, audit_pubkey."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from compliance import audit
from compliance.checkpoints import public_key_b64


def test_sign_then_verify_every_chain(in_acme: Any, unique: str) -> None:
    audit.record(action="test.command", payload={"run": unique})
    out = StringIO()
    call_command("audit_checkpoint", tenant="acme", stdout=out)
    assert "signed t_acme at seq" in out.getvalue()
    out = StringIO()
    call_command("audit_verify", all=True, stdout=out)
    assert "OK: chain t_acme" in out.getvalue()
    assert "OK: chain public" in out.getvalue()


def test_unknown_tenant_is_a_clear_error(db: Any, platform: Any) -> None:
    with pytest.raises(CommandError, match="unknown tenant 'nope'"):
        call_command("audit_verify", tenant="nope")


def test_pubkey_prints_the_verification_key(db: Any) -> None:
    out = StringIO()
    call_command("audit_pubkey", stdout=out)
    assert out.getvalue().strip() == public_key_b64()
