"""Operator admin and management commands: counts and KEK status, never a value."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.test import Client
from django_tenants.utils import schema_context, tenant_context

from compliance.models import AuditEvent
from tests.conftest import session_for
from vault import keyring, services


def _oscar_client(oscar) -> Client:
    from django.conf import settings

    client = Client(HTTP_HOST=oscar.host)
    client.cookies[settings.SESSION_COOKIE_NAME] = session_for(oscar)
    return client


def test_oscar_sees_counts_and_kek_status_never_values(oscar, alice, acme, db):
    with tenant_context(acme):
        services.secret_create(actor=alice.user(), name="prod/db/password", value="admin-must-not-see")
    response = _oscar_client(oscar).get("/admin/vault/vaulttenant/")
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert "Acme Corp" in html
    assert keyring.status()["primary"] in html
    assert "admin-must-not-see" not in html
    assert "prod/db/password" not in html  # not even names: counts only


def test_tenant_summary_counts(acme, alice, db):
    from vault.selectors import tenant_vault_summary

    with tenant_context(acme):
        actor = alice.user()
        services.secret_create(actor=actor, name="app/a", value="x")
        gone = services.secret_create(actor=actor, name="app/b", value="x")
        services.secret_delete(secret=gone, actor=actor)
    summary = tenant_vault_summary("t_acme")
    assert summary["secrets"] == 1
    assert summary["deleted"] == 1
    assert sum(summary["data_keys"].values()) >= 1
    assert tenant_vault_summary("t_nope") == {}


def test_alice_cannot_use_the_operator_admin_view(client_for, alice):
    response = client_for(alice).get("/admin/vault/vaulttenant/")
    assert response.status_code in (302, 403, 404)


def test_kek_status_and_rewrap_commands(acme, alice, db):
    with tenant_context(acme):
        services.secret_create(actor=alice.user(), name="app/a", value="x")
    out = StringIO()
    call_command("vault_kek_status", stdout=out)
    assert "primary: " in out.getvalue()
    assert "t_acme:" in out.getvalue()
    out = StringIO()
    call_command("vault_rewrap", "--schema", "t_acme", stdout=out)
    assert "t_acme: 0 data key(s) re-wrapped" in out.getvalue()
    with schema_context("public"):
        assert AuditEvent.objects.filter(action="vault.kek.rewrap").exists()
