"""portal.rows: the cheap reads on every signed-in request give exactly what the ORM gives."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from portal import rows
from portal.accounts.models import User
from tenants.members.models import BackupCodeDevice


def _fields(instance) -> dict:  # type: ignore[no-untyped-def]
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_rows_match_what_the_orm_reads(alice, db):
    with schema_context(alice.schema_name):
        user = User.objects.get(email=alice.email)
        device = TOTPDevice.objects.create(user=user, name="parity", confirmed=True)
        codes = BackupCodeDevice.objects.create(user=user, name="codes", code_hashes=["a1", "b2"])
        for model, pk in ((User, user.pk), (TOTPDevice, device.pk), (BackupCodeDevice, codes.pk)):
            fast = rows.get_by_pk(model, pk)
            assert fast is not None
            assert type(fast) is model
            assert _fields(fast) == _fields(model.objects.get(pk=pk))
            assert not fast._state.adding
        assert rows.get_by_pk(BackupCodeDevice, codes.pk).code_hashes == ["a1", "b2"]
        assert rows.get_by_pk(User, str(user.pk)).email == alice.email  # session ids are strings


@pytest.mark.parametrize("pk", [2**63, -(2**63) - 1, "abc", "", None, "1.5"])
def test_impossible_ids_find_nothing_without_a_query(alice, db, pk):  # type: ignore[no-untyped-def]
    with schema_context(alice.schema_name), CaptureQueriesContext(connection) as ctx:
        assert rows.get_by_pk(User, pk) is None
    assert ctx.captured_queries == []


@pytest.mark.parametrize("pk", [0, -1, 2**63 - 1])
def test_ids_without_a_row_find_nothing(alice, db, pk):  # type: ignore[no-untyped-def]
    with schema_context(alice.schema_name):
        assert rows.get_by_pk(User, pk) is None


def test_one_statement_unqualified_so_the_tenant_schema_decides(alice, mallory, db):
    with schema_context(alice.schema_name):
        pk = User.objects.get(email=alice.email).pk
        with CaptureQueriesContext(connection) as ctx:
            rows.get_by_pk(User, pk)
    selects = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 1
    assert alice.schema_name not in selects[0]
    with schema_context(mallory.schema_name):  # Globex has its own users table
        found = rows.get_by_pk(User, pk)
        assert found is None or found.email != alice.email


def test_only_models_with_an_integer_key():
    from django.contrib.sessions.models import Session

    with pytest.raises(TypeError):
        rows._by_pk_sql(Session)
