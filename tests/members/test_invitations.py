"""Invitations: a role, an expiry, one use, and never for an existing member."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core import mail
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from portal.accounts.models import User
from tenants.members.models import Invitation
from tenants.models import TenantEmail

from .conftest import audit_actions

NEW_PASSWORD = "a-long-and-unusual-passphrase"


def _invite(client, capture, email="carol@acme.test", role="operator"):
    with capture(execute=True):
        response = client.post("/members/", {"email": email, "role": role})
    assert response.status_code == 302, response.content[:400]
    link = re.search(r"http://[^\s]+/members/invitations/accept/([^/\s]+)/", mail.outbox[-1].body)
    return link.group(1)


def test_carol_joins_through_her_invitation(client_for, alice, django_capture_on_commit_callbacks):
    token = _invite(client_for(alice), django_capture_on_commit_callbacks)
    assert mail.outbox[-1].to == ["carol@acme.test"]
    carol = Client(HTTP_HOST=alice.host)
    page = carol.get(f"/members/invitations/accept/{token}/")
    assert page.status_code == 200
    assert b"Operator" in page.content
    response = carol.post(
        f"/members/invitations/accept/{token}/",
        {"name": "Carol", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    with schema_context(alice.schema_name):
        assert User.objects.get(email="carol@acme.test").role == "operator"
    assert TenantEmail.objects.filter(email="carol@acme.test", tenant__slug="acme").exists()
    assert audit_actions(alice.schema_name, "invitation.create")
    assert audit_actions(alice.schema_name, "invitation.accept")
    # One use only.
    again = Client(HTTP_HOST=alice.host).get(f"/members/invitations/accept/{token}/")
    assert again.status_code == 410
    assert b"accepted" in again.content


def test_an_expired_invitation_is_refused(client_for, alice, django_capture_on_commit_callbacks):
    token = _invite(client_for(alice), django_capture_on_commit_callbacks)
    with schema_context(alice.schema_name):
        Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    response = Client(HTTP_HOST=alice.host).get(f"/members/invitations/accept/{token}/")
    assert response.status_code == 410
    assert b"expired" in response.content
    assert audit_actions(alice.schema_name, "invitation.accept.refused")


def test_a_revoked_invitation_is_refused(client_for, alice, django_capture_on_commit_callbacks):
    client = client_for(alice)
    token = _invite(client, django_capture_on_commit_callbacks)
    with schema_context(alice.schema_name):
        pk = Invitation.objects.get(email="carol@acme.test").pk
    assert client.delete(f"/api/v1/invitations/{pk}/").status_code == 204
    assert Client(HTTP_HOST=alice.host).get(f"/members/invitations/accept/{token}/").status_code == 410


def test_inviting_an_existing_member_is_a_400(client_for, alice):
    response = client_for(alice).post(
        "/api/v1/invitations/", {"email": "BOB@acme.test", "role": "viewer"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "already a member" in response.json()["error"]["message"]
    assert audit_actions(alice.schema_name, "invitation.refused")


def test_an_unknown_link_is_a_404(alice, db):
    assert Client(HTTP_HOST=alice.host).get("/members/invitations/accept/nope/").status_code == 404


def test_a_short_or_common_password_is_refused(client_for, alice, django_capture_on_commit_callbacks):
    token = _invite(client_for(alice), django_capture_on_commit_callbacks)
    carol = Client(HTTP_HOST=alice.host)
    for password in ("short-pw", "password1234"):
        response = carol.post(
            f"/members/invitations/accept/{token}/", {"password1": password, "password2": password}
        )
        assert response.status_code == 400
    assert (
        b"too short"
        in carol.post(
            f"/members/invitations/accept/{token}/", {"password1": "short-pw", "password2": "short-pw"}
        ).content
    )
    assert (
        b"too common"
        in carol.post(
            f"/members/invitations/accept/{token}/",
            {"password1": "password1234", "password2": "password1234"},
        ).content
    )


def test_an_org_admin_cannot_invite_an_owner(client_for, bob):
    with schema_context(bob.schema_name):
        User.objects.filter(email=bob.email).update(role="org_admin")
    response = client_for(bob).post(
        "/api/v1/invitations/", {"email": "eve@acme.test", "role": "owner"}, content_type="application/json"
    )
    assert response.status_code == 403
