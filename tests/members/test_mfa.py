"""MFA: the sign-in challenge, enrolment with QR and backup codes, reuse, step-up, policy."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from tenants.members import mfa
from tenants.members.models import BackupCodeDevice

from .conftest import audit_actions, totp_now


@pytest.fixture(autouse=True)
def _no_otp_throttle(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def _device(persona):
    with schema_context(persona.schema_name):
        device, _ = TOTPDevice.objects.get_or_create(
            user=persona.user(), name="persona", defaults={"confirmed": True}
        )
        return device


def test_alice_without_a_code_reaches_only_the_challenge(password_client, alice):
    _device(alice)
    client = password_client(alice)
    response = client.get("/members/")
    assert response.status_code == 302
    assert response["Location"].startswith("/members/security/verify/")
    assert client.get("/api/v1/me/").json()["error"]["code"] == "mfa_challenge_required"


def test_alice_passes_the_challenge_with_her_code(password_client, alice):
    device = _device(alice)
    client = password_client(alice)
    response = client.post("/members/security/verify/?next=/members/", {"code": totp_now(device)})
    assert response.status_code == 302
    assert response["Location"] == "/members/"
    assert client.get("/members/").status_code == 200
    assert audit_actions(alice.schema_name, "mfa.verify")


def test_a_wrong_code_is_a_400_and_audited(password_client, alice):
    _device(alice)
    client = password_client(alice)
    response = client.post("/members/security/verify/", {"code": "000000"})
    assert response.status_code == 400
    assert b"not valid" in response.content
    assert audit_actions(alice.schema_name, "mfa.verify.failed")


def test_a_totp_code_cannot_be_used_twice(password_client, alice):
    device = _device(alice)
    code = totp_now(device)
    first = password_client(alice)
    assert first.post("/members/security/verify/", {"code": code}).status_code == 302
    second = password_client(alice)
    assert second.post("/members/security/verify/", {"code": code}).status_code == 400


def test_an_owner_without_a_device_must_enrol(password_client, alice):
    with schema_context(alice.schema_name):
        TOTPDevice.objects.filter(user=alice.user()).delete()
    client = password_client(alice)
    response = client.get("/members/")
    assert response["Location"].startswith("/members/security/totp/")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'src="/members/security/totp/qr.svg"' in page.content
    assert b"<script" not in page.content.split(b"</head>")[1]
    qr = client.get("/members/security/totp/qr.svg")
    assert qr["Content-Type"] == "image/svg+xml"
    assert qr.content.lstrip().startswith(b"<?xml") or b"<svg" in qr.content[:200]
    with schema_context(alice.schema_name):
        pending = TOTPDevice.objects.get(user=alice.user(), confirmed=False)
    done = client.post("/members/security/totp/", {"code": totp_now(pending)})
    assert done.status_code == 200
    assert b"backup codes" in done.content
    assert b"End my other sessions" in done.content
    assert client.get("/members/").status_code == 200
    assert audit_actions(alice.schema_name, "mfa.totp.added")


def test_backup_codes_are_stored_hashed_and_work_once(password_client, alice):
    with schema_context(alice.schema_name):
        user = alice.user()
        from django.db import connection

        connection.tenant = alice.tenant
        codes = mfa.backup_codes_regenerate(user=user)
        stored = BackupCodeDevice.objects.get(user=user).code_hashes
    assert len(codes) == 10
    assert not set(codes) & set(stored)
    assert mfa.backup_code_hash(codes[0]) in stored
    client = password_client(alice)
    assert client.post("/members/security/verify/", {"code": codes[0]}).status_code == 302
    again = password_client(alice)
    assert again.post("/members/security/verify/", {"code": codes[0]}).status_code == 400
    with schema_context(alice.schema_name):
        assert BackupCodeDevice.objects.get(user=user).remaining == 9


def test_bob_without_policy_needs_no_mfa(password_client, bob):
    with schema_context(bob.schema_name):
        TOTPDevice.objects.filter(user=bob.user()).delete()
    assert password_client(bob).get("/members/").status_code == 200


def test_tenant_policy_makes_mfa_mandatory_for_bob(client_for, password_client, alice, bob):
    with schema_context(bob.schema_name):
        TOTPDevice.objects.filter(user=bob.user()).delete()
    assert client_for(alice).post("/members/policy/", {"require_mfa_for_all": "on"}).status_code == 302
    response = password_client(bob).get("/members/")
    assert response["Location"].startswith("/members/security/totp/")
    assert audit_actions(alice.schema_name, "policy.mfa.update")


def test_changing_policy_needs_a_fresh_code(client_for, alice):
    response = client_for(alice, otp=False).post("/members/policy/", {"require_mfa_for_all": "on"})
    assert response.status_code == 302
    assert response["Location"].startswith("/members/security/step-up/")


def test_step_up_is_fresh_for_five_minutes_only(client_for, alice):
    client = client_for(alice)
    from django.contrib.sessions.backends.cached_db import SessionStore  # settings.SESSION_ENGINE

    with schema_context(alice.schema_name):
        session = SessionStore(client.cookies["sessionid"].value)
        assert mfa.step_up_fresh(session)
        session[mfa.STEP_UP_SESSION_KEY] = time.time() - 301
        assert not mfa.step_up_fresh(session)


def test_step_up_page_refreshes_the_window(client_for, alice):
    client = client_for(alice, otp=False)
    device = _device(alice)
    response = client.post("/members/security/step-up/?next=/members/sso/", {"code": totp_now(device)})
    assert response["Location"] == "/members/sso/"
    assert audit_actions(alice.schema_name, "mfa.step_up")


def test_the_step_up_api_permission_refuses_stale_sessions():
    class Req:
        auth = None
        session = {mfa.STEP_UP_SESSION_KEY: time.time() - 400}

    assert not mfa.RequiresStepUp().has_permission(Req(), object())
    Req.session = {mfa.STEP_UP_SESSION_KEY: time.time()}
    assert mfa.RequiresStepUp().has_permission(Req(), object())


def test_replacing_the_authenticator_needs_step_up(client_for, alice):
    response = client_for(alice, otp=False).get("/members/security/totp/")
    assert response["Location"].startswith("/members/security/step-up/")


def test_open_redirects_are_not_followed(password_client, alice):
    device = _device(alice)
    client = password_client(alice)
    response = client.post("/members/security/verify/?next=https://evil.test/", {"code": totp_now(device)})
    assert response["Location"] == "/"


def test_ending_other_sessions(client_for, password_client, bob):
    with schema_context(bob.schema_name):
        TOTPDevice.objects.filter(user=bob.user()).delete()
    other = password_client(bob)
    mine = password_client(bob)
    assert mine.post("/members/security/sessions/end-others/").status_code == 302
    assert other.get("/members/").status_code == 302
    assert mine.get("/members/").status_code == 200


def test_unauthenticated_challenge_goes_to_login(bob, db):
    response = Client(HTTP_HOST=bob.host).get("/members/security/verify/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_websocket_helper_applies_the_same_gate(alice, bob, db):
    from django.db import connection

    with schema_context(alice.schema_name):
        connection.tenant = alice.tenant
        device = _device(alice)
        assert not mfa.session_passes_mfa_gate({}, alice.user())
        assert mfa.session_passes_mfa_gate({"otp_device_id": device.persistent_id}, alice.user())
        TOTPDevice.objects.filter(user=bob.user()).delete()
        assert mfa.session_passes_mfa_gate({}, bob.user())
