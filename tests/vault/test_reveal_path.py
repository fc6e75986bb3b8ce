"""The reveal hot path: one hand-written read for the secret and its version, and a fixed
query budget per reveal (what the latency target of benchmarks/vault.py rests on)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from compliance.models import AuditEvent
from vault import selectors, services
from vault.models import Secret, SecretVersion


def _fields(instance) -> dict:  # type: ignore[no-untyped-def]
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


@pytest.fixture
def rich_secret(acme, alice, db):  # type: ignore[no-untyped-def]
    """A secret with every kind of column filled: JSON lists, a generator, timestamps, two versions."""
    with tenant_context(acme):
        secret = services.secret_create(
            actor=alice.user(),
            name="prod/api/key",
            generate_length=24,
            secret_type="api_key",
            environment="production",
            description="Payment provider",
            tags=["payments", "pci"],
            rotation_policy="monthly",
            auto_rotate=True,
            allowed_roles=["owner", "operator"],
            allowed_service_accounts=["deployer"],
        )
        services.secret_rotate(secret=secret, actor=alice.user(), reason="test")
        yield Secret.objects.get(pk=secret.pk)


def test_the_row_matches_what_the_orm_reads(rich_secret, acme):
    with tenant_context(acme):
        secret = selectors.secret_for_reveal(rich_secret.pk)
        assert secret is not None
        assert _fields(secret) == _fields(rich_secret)
        assert secret.tags == ["payments", "pci"]
        assert secret.allowed_roles == ["operator", "owner"]
        assert secret.generator == {"kind": "api_key", "length": 24}
        assert not secret._state.adding
        version = selectors.prefetched_current_version(secret)
        expected = SecretVersion.objects.get(secret=rich_secret, version=2)
        assert _fields(version) == _fields(expected)
        assert isinstance(version.ciphertext, bytes)
        assert version.secret is secret


def test_unknown_or_impossible_ids_find_nothing(rich_secret, acme, api_for, alice):
    with tenant_context(acme):
        for pk in (rich_secret.pk + 10_000, 0, -1, 2**63):
            assert selectors.secret_for_reveal(pk) is None
    response = api_for(alice).post(f"/secrets/{2**63}/reveal/", {"reason": "x"})
    assert response.status_code == 404


def test_the_other_tenant_sees_nothing_by_id(rich_secret, globex):
    """Unqualified table names: the tenant's search_path decides, as for the ORM."""
    with tenant_context(globex):
        assert selectors.secret_for_reveal(rich_secret.pk) is None


def test_a_missing_current_version_is_a_clear_error(rich_secret, acme, alice):
    with tenant_context(acme):
        SecretVersion.objects.filter(secret=rich_secret, version=2).delete()
        secret = selectors.secret_for_reveal(rich_secret.pk)
        assert secret is not None
        assert selectors.prefetched_current_version(secret) is None
        with pytest.raises(ValidationError, match="does not exist"):
            services.secret_reveal(secret=secret, actor=alice.user(), reason="test")


def test_a_reveal_request_has_a_fixed_query_budget(api_for, alice):
    api = api_for(alice)
    secret = api.create(name="app/budget", value="v")
    assert api.post(f"/secrets/{secret['id']}/reveal/", {"reason": "warm-up"}).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        response = api.post(f"/secrets/{secret['id']}/reveal/", {"reason": "budget"})
    assert response.status_code == 200
    sql = [q["sql"] for q in ctx.captured_queries]
    # One search_path for the whole request, not one per query.
    assert sum(s.startswith("SET search_path") for s in sql) == 1
    # Reads: the user with the session's OTP device (one join), and the secret with its
    # version in one statement. The session comes from the cache (`cached_db`), which holds
    # it since the first request. Two reads sit behind per-process caches and may show up on
    # a miss: the tenant's policies (cleared whenever a policy changes) and the data key
    # (never kept when created inside an uncommitted transaction, as in this test).
    selects = [s for s in sql if s.startswith("SELECT")]
    reads = [s.split(" FROM ", 1)[1].split()[0].strip('"') for s in selects]
    assert [table for table in reads if table not in ("vault_datakey", "governance_policy")] == [
        "accounts_user",
        "vault_secret",
    ]
    assert 'LEFT JOIN "otp_totp_totpdevice"' in selects[reads.index("accounts_user")]
    # One write: the audit event.
    assert [s.split()[2].strip('"') for s in sql if s.startswith(("INSERT", "UPDATE", "DELETE"))] == [
        "compliance_auditevent"
    ]


def test_a_value_is_only_ever_rendered_as_json(api_for, alice, acme):
    api = api_for(alice)
    secret = api.create(name="app/html", value="never-in-html")
    path = f"/api/v1/vault/secrets/{secret['id']}/reveal/"
    with tenant_context(acme):
        before = AuditEvent.objects.filter(action="vault.secret.reveal").count()
    body, kind = '{"reason": "x"}', "application/json"
    response = api.client.post(path, body, content_type=kind, HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert b"never-in-html" not in response.content
    with tenant_context(acme):
        assert AuditEvent.objects.filter(action="vault.secret.reveal").count() == before
    response = api.client.post(path, body, content_type=kind, HTTP_ACCEPT="*/*")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_the_audit_event_is_committed_before_the_value_is_returned(committed_db, acme, alice, unique):
    """No transaction of its own: the INSERT autocommits, so another connection sees the event
    the moment the value is handed back."""
    import psycopg
    from django.conf import settings

    with tenant_context(acme):
        secret = services.secret_create(actor=alice.user(), name=f"app/durable-{unique}", value="v")
        assert not connection.in_atomic_block
        assert services.secret_reveal(secret=secret, actor=alice.user(), reason="durable") == "v"
        db = settings.DATABASES["default"]
        with psycopg.connect(
            dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"], password=db["PASSWORD"]
        ) as other:
            row = other.execute(
                f'SELECT payload FROM "{acme.schema_name}".compliance_auditevent '
                "WHERE action = 'vault.secret.reveal' AND target_id = %s",
                [str(secret.pk)],
            ).fetchone()
    assert row is not None
    assert row[0]["reason"] == "durable"
