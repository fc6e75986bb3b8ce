"""Mallory and checkpoints bound to stable tenant ids: Acme's chain name is never one of
Globex's, and Acme's checkpoint copy cannot be opened through Globex's storage."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django_tenants.utils import tenant_context

from compliance import archive, audit, checkpoints


def test_acmes_chain_names_are_not_globexs(db: Any, acme: Any, globex: Any) -> None:
    with tenant_context(acme):
        acme_chain = checkpoints.chain_id()
    with tenant_context(globex):
        names = checkpoints.chain_names()
    assert acme_chain == f"tenant-{acme.pk}"
    assert f"tenant-{globex.pk}" in names
    assert acme_chain not in names
    assert "t_acme" not in names


def test_globex_cannot_open_acmes_checkpoint_copy(db: Any, acme: Any, globex: Any, unique: str) -> None:
    with tenant_context(acme):
        audit.record(action="test.isolation.checkpoint", payload={"run": unique})
        checkpoint = checkpoints.checkpoint_create()
        assert checkpoints.stored_copy_matches(checkpoint)
    with tenant_context(globex):
        assert not archive.exists(checkpoint.storage_name)  # resolved under t_globex/
        with pytest.raises(SuspiciousFileOperation):
            archive.read(f"../{checkpoint.storage_name}")
