"""Service accounts: a role, tokens, an optional IP allow-list; never an interactive login."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from tenants.members import tokens

from .conftest import audit_actions


def _account(alice, *, role="developer", allowed_ips=(), scopes=("read",)):
    with schema_context(alice.schema_name):
        connection.tenant = alice.tenant
        actor = alice.user()
        account = tokens.service_account_create(
            actor=actor, name="CI deployer", role=role, allowed_ips=list(allowed_ips)
        )
        _, plaintext = tokens.token_create(owner=account.user, actor=actor, name="ci", scopes=list(scopes))
    return account, plaintext


def test_a_service_account_token_acts_with_its_role(alice, db):
    _, token = _account(alice)
    body = Client(HTTP_HOST=alice.host, HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/me/").json()
    assert body["is_service_account"] is True
    assert body["role"] == "developer"
    assert audit_actions(alice.schema_name, "service_account.create")


def test_the_ip_allow_list_is_enforced(alice, db):
    _, token = _account(alice, allowed_ips=["192.0.2.0/24"])
    inside = Client(HTTP_HOST=alice.host, HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR="192.0.2.10")
    outside = Client(HTTP_HOST=alice.host, HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR="198.51.100.1")
    assert inside.get("/api/v1/me/").status_code == 200
    assert outside.get("/api/v1/me/").status_code == 401
    assert (
        audit_actions(alice.schema_name, "auth.token.rejected")[0].payload["reason"] == "address not allowed"
    )


def test_service_accounts_cannot_be_admins(alice, db):
    with schema_context(alice.schema_name), pytest.raises(ValidationError):
        tokens.service_account_create(actor=alice.user(), name="x", role="org_admin")


def test_bob_cannot_create_service_accounts(bob, db):
    with schema_context(bob.schema_name), pytest.raises(PermissionDenied):
        tokens.service_account_create(actor=bob.user(), name="x", role="viewer")


def test_service_accounts_cannot_sign_in_with_a_password(alice, db):
    account, _ = _account(alice)
    response = Client(HTTP_HOST=alice.host).post(
        "/accounts/login/", {"login": account.user.email, "password": "anything-at-all-123"}
    )
    assert response.status_code == 200  # the form again, with an error


def test_a_token_scope_narrows_the_role(alice, db):
    from tenants.members import permissions

    class Req:
        method = "GET"

    _, token = _account(alice, role="developer", scopes=("read",))
    with schema_context(alice.schema_name):
        Req.auth = tokens.token_lookup(token)
    assert permissions.token_allows(Req, "read")
    assert not permissions.token_allows(Req, "vault")
    assert permissions.scope_for("vault.read", "GET") == "vault"
    assert permissions.scope_for("deploy.run", "POST") == "deploy"
    assert permissions.scope_for("members.read", "GET") == "read"
    assert permissions.scope_for("members.manage", "PATCH") == "write"
    with pytest.raises(PermissionDenied):
        permissions.require_scope(Req, "vault")


def test_service_accounts_page(client_for, alice):
    client = client_for(alice)
    response = client.post(
        "/members/service-accounts/",
        {"name": "Nightly", "role": "viewer", "allowed_ips": "10.0.0.0/8\n192.0.2.1"},
    )
    assert response.status_code == 302
    page = client.get("/members/service-accounts/")
    assert b"Nightly" in page.content
    assert b"10.0.0.0/8" in page.content
    bad = client.post(
        "/members/service-accounts/", {"name": "Bad", "role": "viewer", "allowed_ips": "not-an-ip"}
    )
    assert bad.status_code == 400
