"""Roles: enforced centrally, re-checked on every request, no escalation."""

from __future__ import annotations

from django_tenants.utils import schema_context

from portal.accounts.models import User
from tenants.models import TenantEmail

from .conftest import audit_actions


def _set(persona, **fields):
    with schema_context(persona.schema_name):
        User.objects.filter(email=persona.email).update(**fields)


def test_bob_sees_members_but_cannot_manage_them(client_for, bob):
    client = client_for(bob)
    assert client.get("/members/").status_code == 200
    assert b"Invite a member" not in client.get("/members/").content
    assert client.post("/members/", {"email": "x@acme.test", "role": "viewer"}).status_code == 403


def test_alice_promotes_bob_and_it_is_audited(client_for, alice, bob):
    response = client_for(alice).patch(
        f"/api/v1/members/{bob.user().pk}/", {"role": "operator"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["role"] == "operator"
    event = audit_actions(alice.schema_name, "member.role.change")[0]
    assert event.payload == {"from": "developer", "to": "operator"}


def test_bob_cannot_make_himself_admin(client_for, bob):
    response = client_for(bob).patch(
        f"/api/v1/members/{bob.user().pk}/", {"role": "org_admin"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert bob.user().role == "developer"


def test_an_org_admin_cannot_change_their_own_role_or_grant_owner(client_for, alice, bob):
    _set(bob, role="org_admin")
    client = client_for(bob)
    me = client.patch(f"/api/v1/members/{bob.user().pk}/", {"role": "owner"}, content_type="application/json")
    assert me.status_code == 403
    alice_pk = alice.user().pk
    demote = client.patch(f"/api/v1/members/{alice_pk}/", {"role": "viewer"}, content_type="application/json")
    assert demote.status_code == 403
    assert len(audit_actions(bob.schema_name, "member.role.refused")) >= 2


def test_an_org_admin_cannot_grant_platform_staff(client_for, alice, bob):
    response = client_for(alice).patch(
        f"/api/v1/members/{bob.user().pk}/", {"is_staff": True}, content_type="application/json"
    )
    assert response.status_code == 403
    assert bob.user().is_staff is False
    assert audit_actions(alice.schema_name, "member.escalation.refused")


def test_a_demoted_member_loses_rights_on_the_next_request(client_for, alice, bob):
    _set(bob, role="org_admin")
    client = client_for(bob)
    assert client.get("/api/v1/invitations/").status_code == 200
    _set(bob, role="viewer")
    assert client.get("/api/v1/invitations/").status_code == 403


def test_a_deactivated_member_is_signed_out_at_once(client_for, alice, bob):
    client = client_for(bob)
    assert client.get("/members/").status_code == 200
    response = client_for(alice).patch(
        f"/api/v1/members/{bob.user().pk}/", {"is_active": False}, content_type="application/json"
    )
    assert response.status_code == 200
    assert client.get("/members/").status_code == 302
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert not TenantEmail.objects.filter(email=bob.email).exists()
    assert audit_actions(alice.schema_name, "member.deactivate")


def test_the_last_owner_cannot_be_demoted(client_for, alice, bob):
    _set(bob, role="owner")
    client = client_for(bob)
    assert (
        client.patch(
            f"/api/v1/members/{alice.user().pk}/", {"role": "viewer"}, content_type="application/json"
        ).status_code
        == 200
    )
    _set(alice, is_active=False)
    response = client.patch(
        f"/api/v1/members/{bob.user().pk}/", {"role": "viewer"}, content_type="application/json"
    )
    assert response.status_code == 403  # own role, refused before the owner count


def test_me_describes_the_caller(client_for, alice):
    body = client_for(alice).get("/api/v1/me/").json()
    assert body["email"] == alice.email
    assert body["role"] == "owner"
    assert body["token_scopes"] is None


def test_members_api_lists_members(client_for, alice):
    emails = {m["email"] for m in client_for(alice).get("/api/v1/members/").json()["results"]}
    assert {"alice@acme.test", "bob@acme.test"} <= emails


def test_session_api_writes_need_csrf(alice, client_for):
    from django.test import Client

    client = Client(HTTP_HOST=alice.host, enforce_csrf_checks=True)
    client.cookies = client_for(alice).cookies
    response = client.post(
        "/api/v1/invitations/", {"email": "c@x.test", "role": "viewer"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_the_members_api_is_not_served_on_the_public_domain(anon_client):
    assert anon_client().get("/api/v1/members/").status_code in (401, 403, 404)


def test_profile_page_saves_the_name(client_for, bob):
    client = client_for(bob)
    assert client.post("/members/profile/", {"name": "Bob B."}).status_code == 302
    assert bob.user().name == "Bob B."


def test_every_identity_page_renders(client_for, alice):
    client = client_for(alice)
    for path in (
        "/members/",
        "/members/profile/",
        "/members/security/",
        "/members/tokens/",
        "/members/service-accounts/",
        "/members/sso/",
        "/accounts/password/change/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"<style" not in response.content, path
        assert b" style=" not in response.content, path
