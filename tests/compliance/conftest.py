"""Audit-chain fixtures: a real S3 server (seaweedfs) for the audit tests, tenant helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.compliance.s3 import audit_s3, seaweedfs  # noqa: F401


@pytest.fixture(autouse=True)
def _audit_storage(request: pytest.FixtureRequest) -> None:
    # The governance tests share this folder but not the S3 server.
    if "governance" not in request.node.path.parts:
        request.getfixturevalue("audit_s3")


@pytest.fixture
def in_acme(db: Any, acme: Any) -> Iterator[Any]:
    from django_tenants.utils import tenant_context

    with tenant_context(acme):
        yield acme


@pytest.fixture
def in_fresh_tenant(db: Any, platform: Any, unique: str) -> Iterator[Any]:
    """A brand-new tenant (from a spare, rolled back after the test) with an empty chain,
    for tests that reason about the whole chain rather than their own events."""
    from django_tenants.utils import tenant_context

    from tenants import pool, services

    pool.spare_build()
    tenant = services.tenant_create(slug=f"chain-{unique}", name="Fresh chain")
    with tenant_context(tenant):
        yield tenant
