"""`TENANT_LIMIT_SET_CALLS`: one `SET search_path` per tenant switch, never a stale one.

django-tenants then skips the SET while it believes the connection is already on the schema.
Each test below ends by asking PostgreSQL itself (`current_schema()`) and by reading a
tenant table whose rows differ between Acme and Globex, so a stale path would show up as
the other tenant's data.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from portal.accounts.models import User


def _database_schema() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


def _assert_on(persona) -> None:  # type: ignore[no-untyped-def]
    assert connection.schema_name == persona.schema_name
    assert _database_schema() == persona.schema_name
    assert User.objects.filter(email=persona.email).exists()


def test_the_setting_is_on():
    assert settings.TENANT_LIMIT_SET_CALLS is True


def test_one_set_per_switch_and_none_while_on_the_same_schema(alice, mallory, db):
    with schema_context(alice.schema_name), CaptureQueriesContext(connection) as ctx:
        for _ in range(3):
            _assert_on(alice)
        with schema_context(mallory.schema_name):
            _assert_on(mallory)
        _assert_on(alice)
    sets = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SET search_path")]
    first_schemas = [sql.split("=", 1)[1].split(",")[0].strip() for sql in sets]
    # Acme, Globex, Acme again: nothing for the repeated reads on the same schema.
    assert first_schemas == [f'"{alice.schema_name}"', f'"{mallory.schema_name}"', f'"{alice.schema_name}"']


def test_a_savepoint_rollback_does_not_leave_a_stale_path(alice, mallory, db):
    """django-tenants #1262: the SET issued inside a savepoint is undone by the rollback."""
    with schema_context(alice.schema_name):
        _assert_on(alice)
        globex = mallory.tenant

        def switch_then_fail() -> None:
            with transaction.atomic():
                connection.set_tenant(globex)
                _assert_on(mallory)  # SET to Globex, inside the savepoint
                raise RuntimeError("roll the savepoint back")

        with pytest.raises(RuntimeError):
            switch_then_fail()
        # PostgreSQL is back on Acme's path; the connection still says Globex, so the next
        # cursor must set it again rather than trust its cache.
        _assert_on(mallory)
        assert not User.objects.filter(email=alice.email).exists()


def test_a_switch_inside_a_savepoint_that_commits_keeps_the_new_path(alice, mallory, db):
    with schema_context(alice.schema_name):
        _assert_on(alice)
        with transaction.atomic():
            connection.set_tenant(mallory.tenant)
            _assert_on(mallory)
        _assert_on(mallory)


def test_a_closed_connection_sets_the_path_again(alice, mallory, committed_db):
    """A pooled connection comes back with whatever path its last user left; close() forgets
    the cache, so the next borrower always sends its own SET."""
    with schema_context(mallory.schema_name):
        _assert_on(mallory)
    with schema_context(alice.schema_name):
        _assert_on(alice)
        connection.close()
        _assert_on(alice)


def test_requests_for_two_tenants_on_one_connection_each_see_their_own(client_for, alice, mallory):
    acme_client, globex_client = client_for(alice), client_for(mallory)
    for _ in range(2):
        assert acme_client.get("/api/v1/me/").json()["email"] == alice.email
        assert globex_client.get("/api/v1/me/").json()["email"] == mallory.email


def test_prepared_statements_follow_the_tenant(alice, mallory, db):
    """Server-side binding with prepared statements (settings `_database`): a statement psycopg
    prepared while on Acme is re-parsed by PostgreSQL on Globex's search_path, never answered
    from Acme's tables. The query text is identical for both tenants (unqualified tables)."""
    assert settings.DATABASES["default"]["OPTIONS"].get("server_side_binding") is True
    threshold = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]
    sql = "SELECT email FROM accounts_user WHERE email = ANY(%s) ORDER BY email"
    both = [alice.email, mallory.email]

    def emails() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(sql, [both])
            return [row[0] for row in cursor.fetchall()]

    for persona, other in ((alice, mallory), (mallory, alice), (alice, mallory)):
        with schema_context(persona.schema_name):
            for _ in range((threshold or 0) + 3):  # past the threshold: prepared from here on
                assert emails() == [persona.email]
            assert other.email not in emails()
    prepared = connection.connection._prepared  # psycopg's per-connection prepared-statement cache
    assert threshold is None or any(b"accounts_user WHERE email = ANY" in key[0] for key in prepared._names)
