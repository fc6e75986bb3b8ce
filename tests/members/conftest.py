"""Helpers for identity tests: tokens, audit lookups, OTP codes, sessions without MFA."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django_tenants.utils import schema_context


@pytest.fixture(autouse=True)
def _no_allauth_rate_limits(settings: Any) -> None:
    """These tests sign in dozens of times a minute from 127.0.0.1; allauth's per-IP limits
    (kept in Redis, so they outlive a test) would make them flaky. Lockout is axes' job and
    is tested on its own."""
    settings.ACCOUNT_RATE_LIMITS = False


def audit_actions(schema: str, action: str) -> list[Any]:
    from compliance.models import AuditEvent

    with schema_context(schema):
        return list(AuditEvent.objects.filter(action=action).order_by("-id"))


def totp_now(device: Any, offset: int = 0) -> str:
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + offset * device.step
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def make_token(db: Any, platform: Any) -> Any:
    """`make_token(alice, ["read"])` → plaintext token of a new API token for the persona."""
    from tenants.members.tokens import token_create

    def make(persona: Any, scopes: list[str], **kwargs: Any) -> str:
        user = persona.user()
        with schema_context(persona.schema_name):
            from django.db import connection

            connection.tenant = persona.tenant
            _, plaintext = token_create(owner=user, actor=user, name="test", scopes=scopes, **kwargs)
        return plaintext

    return make


@pytest.fixture
def password_client(db: Any, platform: Any) -> Any:
    """A client signed in through the real login form (password only, no OTP yet)."""

    def make(persona: Any, password: str = "correct-horse-battery-staple") -> Client:
        client = Client(HTTP_HOST=persona.host)
        response = client.post("/accounts/login/", {"login": persona.email, "password": password})
        assert response.status_code == 302, response.content[:500]
        return client

    return make


def session_cookie(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value
