"""The operator console is Django's admin behind OTP (OTPAdminSite)."""

from __future__ import annotations

from django.contrib import admin
from django.test import Client
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from tests.conftest import PASSWORD

from .conftest import totp_now


def test_the_default_admin_site_is_otp_protected():
    assert isinstance(admin.site, OTPAdminSite)
    assert admin.site.name == "admin"


def test_a_staff_session_without_otp_sees_only_the_login(oscar, db):
    client = Client(HTTP_HOST=oscar.host)
    client.force_login(oscar.user(), backend="portal.accounts.backends.ModelBackend")
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_oscar_signs_in_with_password_and_totp(oscar, db, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    with schema_context("public"):
        device = TOTPDevice.objects.create(user=oscar.user(), name="console", confirmed=True)
    client = Client(HTTP_HOST=oscar.host)
    refused = client.post(
        "/admin/login/", {"username": oscar.email, "password": PASSWORD, "otp_token": "000000"}
    )
    assert refused.status_code == 200
    assert client.get("/admin/").status_code == 302
    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": oscar.email,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": totp_now(device),
        },
    )
    assert response.status_code == 302
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"Tenantry operator console" in index.content


def test_verified_operator_sees_users_devices_and_lockouts(client_for, oscar):
    client = client_for(oscar)
    for path in ("/admin/accounts/user/", "/admin/otp_totp/totpdevice/", "/admin/axes/accessattempt/"):
        assert client.get(path).status_code == 200, path


def test_tenant_members_cannot_sign_in_to_the_console(alice, anon_client):
    client = anon_client()
    client.post("/admin/login/", {"username": alice.email, "password": PASSWORD, "otp_token": "123456"})
    assert client.get("/admin/").status_code == 302
