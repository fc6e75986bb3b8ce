"""Governance fixtures: Acme's context, its members, and a cold policy cache around every test.

The policy cache lives in Redis, outside the test transaction that is rolled back, so each
test starts and ends with no cached policies for either tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context


def _clear_policy_cache() -> None:
    from compliance.governance.engine import _DIRTY_FLAG, _pending, cache

    _pending().clear()  # replays belong to the (rolled-back) test that made them
    cache.clear()
    setattr(connection, _DIRTY_FLAG, False)


@pytest.fixture(autouse=True)
def _cold_policy_cache(platform: Any) -> Iterator[None]:
    _clear_policy_cache()
    yield
    _clear_policy_cache()


@pytest.fixture
def in_acme(acme: Any, db: Any) -> Iterator[Any]:
    with tenant_context(acme):
        yield acme


@pytest.fixture
def alice_user(in_acme: Any, alice: Any) -> Any:
    return alice.user()


@pytest.fixture
def bob_user(in_acme: Any, bob: Any) -> Any:
    return bob.user()


@pytest.fixture
def make_member(in_acme: Any, unique: str) -> Any:
    from tenants.members.services import member_create

    def make(role: str, name: str = "") -> Any:
        return member_create(email=f"{name or role}-{unique}@acme.test", role=role, password="x" * 16)

    return make
