"""Sign-in hygiene: rotation at login, idle and absolute expiry, axes lockout, audit."""

from __future__ import annotations

import time

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.sessions.backends.cached_db import SessionStore  # settings.SESSION_ENGINE
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from tenants.members.middleware import AUTH_AT_KEY, LAST_SEEN_KEY

from .conftest import audit_actions, session_cookie

PASSWORD = "correct-horse-battery-staple"


def _no_device(persona):
    with schema_context(persona.schema_name):
        TOTPDevice.objects.filter(user=persona.user()).delete()


def test_the_session_id_changes_at_login(bob, db):
    _no_device(bob)
    client = Client(HTTP_HOST=bob.host)
    client.get("/accounts/login/")
    client.cookies[settings.SESSION_COOKIE_NAME] = "fixatedsessionid0000000000000000"
    response = client.post("/accounts/login/", {"login": bob.email, "password": PASSWORD})
    assert response.status_code == 302
    assert session_cookie(client) != "fixatedsessionid0000000000000000"
    assert audit_actions(bob.schema_name, "auth.login")


def _age(client, persona, **seconds):
    with schema_context(persona.schema_name):
        session = SessionStore(session_cookie(client))
        for key, ago in seconds.items():
            session[key] = time.time() - ago
        session.save()


def test_an_idle_session_expires_after_30_minutes(password_client, bob):
    _no_device(bob)
    client = password_client(bob)
    assert client.get("/members/").status_code == 200
    _age(client, bob, **{LAST_SEEN_KEY: 29 * 60})
    assert client.get("/members/").status_code == 200
    _age(client, bob, **{LAST_SEEN_KEY: 31 * 60})
    assert client.get("/members/").status_code == 302


def test_a_session_ends_12_hours_after_sign_in_even_if_active(password_client, bob):
    _no_device(bob)
    client = password_client(bob)
    _age(client, bob, **{AUTH_AT_KEY: 12 * 3600 + 5, LAST_SEEN_KEY: 10})
    assert client.get("/members/").status_code == 302


def test_five_failures_lock_the_username_from_that_address(bob, db):
    _no_device(bob)
    client = Client(HTTP_HOST=bob.host, REMOTE_ADDR="203.0.113.9")
    for _ in range(5):
        client.post("/accounts/login/", {"login": bob.email, "password": "wrong-password-123"})
    locked = client.post("/accounts/login/", {"login": bob.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    with schema_context(bob.schema_name):
        attempt = AccessAttempt.objects.get(username=bob.email)
        assert attempt.failures_since_start >= 5
        assert attempt.ip_address == "203.0.113.9"
    assert len(audit_actions(bob.schema_name, "auth.login.failed")) >= 5
    assert audit_actions(bob.schema_name, "auth.lockout")
    # Another address, same username: not locked (the key is username + IP).
    other = Client(HTTP_HOST=bob.host, REMOTE_ADDR="198.51.100.4")
    assert other.post("/accounts/login/", {"login": bob.email, "password": PASSWORD}).status_code == 302


def test_lockout_uses_the_proxy_header_when_behind_one_proxy(bob, db, settings):
    settings.AXES_IPWARE_PROXY_COUNT = 1
    _no_device(bob)
    client = Client(HTTP_HOST=bob.host, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.77")
    for _ in range(5):
        client.post("/accounts/login/", {"login": bob.email, "password": "wrong-password-123"})
    with schema_context(bob.schema_name):
        assert AccessAttempt.objects.filter(ip_address="192.0.2.77").exists()


def test_axes_settings_match_the_policy():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME == 0.25
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


def test_passwords_are_hashed_with_argon2_outside_tests():
    production = [h for h in settings.PASSWORD_HASHERS if "MD5" not in h]
    assert production[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_a_password_change_ends_other_sessions(password_client, bob):
    _no_device(bob)
    other = password_client(bob)
    mine = password_client(bob)
    new = "another-long-passphrase-77"
    response = mine.post(
        "/accounts/password/change/", {"oldpassword": PASSWORD, "password1": new, "password2": new}
    )
    assert response.status_code == 302
    assert mine.get("/members/").status_code == 200
    assert other.get("/members/").status_code == 302
