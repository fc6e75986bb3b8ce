"""The session's user and OTP device, read through portal.rows on every request, keep Django's
and django-otp's rules: inactive members are nobody, and a device counts only if it is the
member's own, confirmed, and a real OTP device."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.conf import settings
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from tests.conftest import persona_totp_device, session_for


def _client(persona, **changes):  # type: ignore[no-untyped-def]
    """Alice's signed-in, OTP-verified session with `changes` written into it."""
    key = session_for(persona)
    with schema_context(persona.schema_name):
        session = import_module(settings.SESSION_ENGINE).SessionStore(key)
        for name, value in changes.items():
            session[name] = value
        session.save()
    client = Client(HTTP_HOST=persona.host)
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    return client


def test_her_own_confirmed_device_verifies_her(alice, db):
    assert _client(alice).get("/api/v1/me/").status_code == 200


def _bobs_device(bob):  # type: ignore[no-untyped-def]
    with schema_context(bob.schema_name):
        return persona_totp_device(bob.user())


def _unconfirmed(alice):  # type: ignore[no-untyped-def]
    with schema_context(alice.schema_name):
        return TOTPDevice.objects.create(user=alice.user(), name="new", confirmed=False)


@pytest.mark.parametrize(
    "device_id",
    [
        lambda alice, bob: _bobs_device(bob).persistent_id,  # another member's device
        lambda alice, bob: _unconfirmed(alice).persistent_id,
        lambda alice, bob: f"accounts.user/{alice.user().pk}",  # not a device model
        lambda alice, bob: "otp_totp.totpdevice/not-a-number",
        lambda alice, bob: "nosuchapp.nosuchmodel/1",
        lambda alice, bob: "garbage",
        lambda alice, bob: f"otp_totp.totpdevice/{2**70}",
    ],
)
def test_any_other_device_id_leaves_her_unverified(alice, bob, db, device_id):  # type: ignore[no-untyped-def]
    client = _client(alice, **{DEVICE_ID_SESSION_KEY: device_id(alice, bob)})
    response = client.get("/api/v1/me/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "mfa_challenge_required"
    assert client.get("/members/")["Location"].startswith("/members/security/verify/")


def test_a_deactivated_member_is_nobody(alice, bob, db):
    client = _client(bob)
    assert client.get("/api/v1/me/").status_code == 200
    with schema_context(bob.schema_name):
        user = bob.user()
        user.is_active = False
        user.save(update_fields=["is_active"])
    assert client.get("/api/v1/me/").status_code in (401, 403)
    assert client.get("/members/").status_code == 302


def test_a_session_of_a_user_id_that_does_not_exist_is_anonymous(alice, db):
    from django.contrib.auth import SESSION_KEY

    client = _client(alice, **{SESSION_KEY: str(2**40)})
    assert client.get("/api/v1/me/").status_code in (401, 403)


def test_her_user_and_device_are_read_in_one_query(alice, db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client(alice)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/me/").status_code == 200
    tables = ('"accounts_user"', '"otp_totp_totpdevice"')
    reads = [q["sql"] for q in queries if any(table in q["sql"] for table in tables)]
    assert len(reads) == 1
    assert "LEFT JOIN" in reads[0]


def test_a_password_change_still_ends_her_session_when_the_row_is_read_with_her_device(alice, bob, db):
    client = _client(bob)
    assert client.get("/api/v1/me/").status_code == 200
    with schema_context(bob.schema_name):
        user = bob.user()
        user.set_password("a-brand-new-passphrase-42")
        user.save(update_fields=["password"])
    assert client.get("/api/v1/me/").status_code in (401, 403)  # Django's session hash check
