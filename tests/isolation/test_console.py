"""Mallory (a tenant admin) and tenant members against the operator console."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from compliance.models import AuditEvent

CONSOLE_PATHS = ["/admin/", "/admin/dashboard/", "/admin/tenants/tenant/", "/admin/support/{acme}/"]


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_mallory_cannot_use_the_operator_console_from_her_tenant(client_for, mallory, acme, path):
    # The admin is not even mounted on tenant hosts.
    response = client_for(mallory).get(path.format(acme=acme.pk))
    assert response.status_code == 404


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_mallorys_session_means_nothing_on_the_public_host(client_for, mallory, acme, path):
    response = client_for(mallory).get(path.format(acme=acme.pk), HTTP_HOST=settings.PORTAL_DOMAIN)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_anonymous_visitors_are_sent_to_the_admin_login(anon_client, acme, path):
    response = anon_client().get(path.format(acme=acme.pk))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_non_staff_public_user_cannot_open_support_access(anon_client, acme, unique):
    from portal.accounts.models import User

    with schema_context("public"):
        eve = User.objects.create_user(f"eve-{unique}@evil.test", "correct-horse-battery-staple")
    client = anon_client()
    client.force_login(eve, backend="portal.accounts.backends.ModelBackend")
    response = client.post(f"/admin/support/{acme.pk}/", {"reason": "I just want to look around"})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    with schema_context(acme.schema_name):
        assert not AuditEvent.objects.filter(action="support.access").exists()


def test_mallory_cannot_forge_a_support_grant_through_her_own_session(client_for, mallory, acme):
    client = client_for(mallory)
    response = client.post(f"/admin/support/{acme.pk}/", {"reason": "Ticket #9: totally legit"})
    assert response.status_code == 404
    with schema_context(acme.schema_name):
        assert not AuditEvent.objects.filter(action="support.access").exists()


def test_a_support_grant_for_globex_does_not_open_acme(client_for, oscar, acme, globex):
    client = client_for(oscar)
    client.post(f"/admin/support/{globex.pk}/", {"reason": "Ticket #3: Globex asked for help"})
    response = client.get(f"/admin/support/{acme.pk}/view/")
    assert response.status_code == 302
    with schema_context(acme.schema_name):
        assert not AuditEvent.objects.filter(action="support.access").exists()


def test_alice_as_owner_still_cannot_reach_the_admin(client_for, alice):
    assert client_for(alice).get("/admin/").status_code == 404


def test_mallorys_dashboard_shows_only_globex(client_for, mallory):
    body = client_for(mallory).get("/").content.decode()
    assert "Globex" in body
    assert "Acme" not in body
    assert "alice@acme.test" not in body


@pytest.mark.parametrize("path", ["/admin/dashboard/", "/admin/support/{acme}/"])
def test_oscars_password_alone_does_not_open_the_console(anon_client, oscar, acme, path):
    """The console pages sit behind the OTP admin site: a session without a verified device
    (a stolen password) gets the login page, like the rest of the admin."""
    client = anon_client()
    client.force_login(oscar.user(), backend="portal.accounts.backends.ModelBackend")
    response = client.get(path.format(acme=acme.pk))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
