"""SSO: an org admin configures OIDC; members sign in through a real (local) IdP, are
provisioned just in time, and get the role their IdP groups map to."""

from __future__ import annotations

import jwt
import pytest
import requests
from allauth.socialaccount.models import SocialApp
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from portal.accounts.models import User
from tenants.members import sso
from tenants.models import TenantEmail

from .conftest import audit_actions
from .oidc_provider import OidcProvider


@pytest.fixture
def idp():
    with OidcProvider(client_id="tenantry-acme", client_secret="idp-secret-123") as provider:
        yield provider


def _configure(persona, idp, **overrides):
    with schema_context(persona.schema_name):
        connection.tenant = persona.tenant
        options = {
            "actor": persona.user(),
            "enabled": True,
            "server_url": idp.issuer,
            "client_id": idp.client_id,
            "client_secret": idp.client_secret,
            "role_map": {"ops-team": "operator", "eng": "developer"},
            "default_role": "viewer",
        } | overrides
        return sso.sso_configure(**options)


def _sso_login(host, idp, claims):
    idp.claims = claims
    client = Client(HTTP_HOST=host)
    start = client.post(f"/accounts/oidc/{sso.PROVIDER_ID}/login/")
    assert start.status_code == 302, start.content[:300]
    assert start["Location"].startswith(f"{idp.issuer}/authorize?")
    at_idp = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert at_idp.status_code == 302
    callback = at_idp.headers["Location"].split(host, 1)[1]
    return client, client.get(callback)


def test_dave_is_provisioned_on_first_sso_login_with_his_group_role(alice, idp, db):
    _configure(alice, idp)
    claims = {
        "sub": "idp-dave",
        "email": "dave@acme.test",
        "email_verified": True,
        "name": "Dave",
        "groups": ["eng", "ops-team"],
    }
    client, done = _sso_login(alice.host, idp, claims)
    assert done.status_code == 302, done.content[:500]
    with schema_context(alice.schema_name):
        dave = User.objects.get(email="dave@acme.test")
    assert dave.role == "operator"  # the highest mapped role wins
    assert not dave.has_usable_password()
    assert TenantEmail.objects.filter(email="dave@acme.test", tenant__slug="acme").exists()
    assert client.get("/api/v1/me/").json()["email"] == "dave@acme.test"
    assert audit_actions(alice.schema_name, "auth.sso.login")
    assert audit_actions(alice.schema_name, "member.create")[0].payload["source"] == "sso"
    # The token request carried our client credentials; the ID token was RS256-signed.
    assert idp.token_requests[-1]["client_secret"] == ["idp-secret-123"]
    header = jwt.get_unverified_header(idp.id_token({"sub": "x"}, None))
    assert header["alg"] == "RS256"


def test_a_later_login_syncs_the_role_from_groups(alice, idp, db):
    _configure(alice, idp)
    base = {"sub": "idp-erin", "email": "erin@acme.test", "email_verified": True}
    _sso_login(alice.host, idp, base | {"groups": ["eng"]})
    _sso_login(alice.host, idp, base | {"groups": ["ops-team"]})
    with schema_context(alice.schema_name):
        assert User.objects.get(email="erin@acme.test").role == "operator"
    change = audit_actions(alice.schema_name, "member.role.change")[0]
    assert change.payload == {"from": "developer", "to": "operator", "source": "sso"}


def test_unmapped_users_get_the_default_role(alice, idp, db):
    _configure(alice, idp)
    _sso_login(
        alice.host, idp, {"sub": "f", "email": "frank@acme.test", "email_verified": True, "groups": ["x"]}
    )
    with schema_context(alice.schema_name):
        assert User.objects.get(email="frank@acme.test").role == "viewer"


def test_without_jit_unknown_users_are_not_created(alice, idp, db):
    _configure(alice, idp, jit_provisioning=False)
    _, done = _sso_login(alice.host, idp, {"sub": "g", "email": "gina@acme.test", "email_verified": True})
    assert done.status_code in (200, 302, 403)
    with schema_context(alice.schema_name):
        assert not User.objects.filter(email="gina@acme.test").exists()


def test_disabled_sso_cannot_be_used(alice, idp, db):
    _configure(alice, idp, enabled=False)
    assert Client(HTTP_HOST=alice.host).post(f"/accounts/oidc/{sso.PROVIDER_ID}/login/").status_code == 404


def test_acmes_idp_is_not_globex_idp(alice, mallory, idp, db):
    _configure(alice, idp)
    with schema_context(mallory.schema_name):
        assert not SocialApp.objects.filter(provider_id=sso.PROVIDER_ID).exists()
    assert Client(HTTP_HOST=mallory.host).post(f"/accounts/oidc/{sso.PROVIDER_ID}/login/").status_code == 404


def test_sso_settings_page_saves_with_step_up_and_hides_the_secret(client_for, alice, idp):
    data = {
        "enabled": "on",
        "server_url": idp.issuer,
        "client_id": "cid",
        "client_secret": "top-secret-value",
        "jit_provisioning": "on",
        "group_claim": "groups",
        "role_map": "ops = operator",
        "default_role": "viewer",
    }
    stale = client_for(alice, otp=False).post("/members/sso/", data)
    assert stale["Location"].startswith("/members/security/step-up/")
    client = client_for(alice)
    assert client.post("/members/sso/", data).status_code == 302
    page = client.get("/members/sso/")
    assert b"top-secret-value" not in page.content
    event = audit_actions(alice.schema_name, "sso.configure")[0]
    assert "top-secret-value" not in str(event.payload)
    assert event.payload["role_map"] == {"ops": "operator"}


def test_sso_cannot_map_a_group_to_owner(client_for, alice, idp):
    data = {
        "enabled": "on",
        "server_url": idp.issuer,
        "client_id": "cid",
        "group_claim": "groups",
        "role_map": "admins = owner",
        "default_role": "viewer",
    }
    response = client_for(alice).post("/members/sso/", data)
    assert response.status_code == 400


def test_bob_cannot_open_sso_settings(client_for, bob):
    assert client_for(bob).get("/members/sso/").status_code == 403


def test_an_existing_member_signs_in_by_sso_and_keeps_one_account(bob, alice, idp, db):
    _configure(alice, idp)
    claims = {"sub": "idp-bob", "email": bob.email, "email_verified": True, "groups": ["ops-team"]}
    client, done = _sso_login(alice.host, idp, claims)
    assert done.status_code == 302
    with schema_context(alice.schema_name):
        assert User.objects.filter(email=bob.email).count() == 1
        assert User.objects.get(email=bob.email).role == "operator"  # synced from the group
    assert client.get("/api/v1/me/").json()["email"] == bob.email


def test_the_oidc_start_page_may_post_on_to_the_issuer(alice, idp, db):
    _configure(alice, idp)
    start = Client(HTTP_HOST=alice.host).get(f"/accounts/oidc/{sso.PROVIDER_ID}/login/")
    assert start.status_code == 200
    form_action = next(
        d for d in start["Content-Security-Policy"].split(";") if d.strip().startswith("form-action")
    )
    assert idp.issuer in form_action  # http://127.0.0.1:<port>, the issuer's origin


def test_an_authorization_endpoint_on_another_origin_is_allowed_too(alice, mallory, idp, db):
    """Some IdPs (AWS Cognito's hosted UI) authorize on another origin than the issuer: the
    browser follows the form post there, so the start page's form-action must name it."""
    idp.authorization_host = "localhost"
    _configure(alice, idp)
    start = Client(HTTP_HOST=alice.host).get(f"/accounts/oidc/{sso.PROVIDER_ID}/login/")
    form_action = next(
        d for d in start["Content-Security-Policy"].split(";") if d.strip().startswith("form-action")
    )
    assert idp.issuer in form_action
    assert f"http://localhost:{idp.server.server_address[1]}" in form_action
    # Globex's own start page names none of Acme's IdP origins (the cached endpoint is Acme's).
    other = Client(HTTP_HOST=mallory.host).get(f"/accounts/oidc/{sso.PROVIDER_ID}/login/")
    assert str(idp.server.server_address[1]) not in other.get("Content-Security-Policy", "")


def test_a_failed_oidc_callback_is_audited(alice, idp, db):
    _configure(alice, idp)
    client = Client(HTTP_HOST=alice.host)
    before = len(audit_actions(alice.schema_name, "auth.sso.refused"))
    response = client.get(
        f"/accounts/oidc/{sso.PROVIDER_ID}/login/callback/", {"code": "x", "state": "forged"}
    )
    assert response.status_code == 401  # allauth's authentication-error page
    refusals = audit_actions(alice.schema_name, "auth.sso.refused")
    assert len(refusals) == before + 1
    assert refusals[0].payload["provider"] == "openid_connect"
    assert refusals[0].payload["reason"] == "provider_error"
    assert client.get("/api/v1/me/").status_code in (401, 403)
