"""HTTP under daphne (portal.asgi): the middleware chain and the view run in one thread hop,
and everything the chain does still happens: session, MFA, CSRF, tenant routing, headers."""

from __future__ import annotations

import json

import pytest
from asgiref import sync
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.conf import settings
from django.middleware.csrf import _get_new_csrf_string
from django_tenants.utils import tenant_context

from portal.asgi import application
from tests.conftest import session_for
from vault import services

pytestmark = pytest.mark.asyncio


def _secret(acme, alice, unique) -> int:  # type: ignore[no-untyped-def]
    with tenant_context(acme):
        secret = services.secret_create(actor=alice.user(), name=f"asgi/secret-{unique}", value="s3cr3t-asgi")
        return secret.pk


async def _post(host: str, path: str, body: bytes, session_key: str) -> tuple[int, dict, dict]:
    csrf = _get_new_csrf_string()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}; {settings.CSRF_COOKIE_NAME}={csrf}"
    headers = [
        (b"host", host.encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cookie", cookie.encode()),
        (b"x-csrftoken", csrf.encode()),
    ]
    response = await HttpCommunicator(application, "POST", path, body=body, headers=headers).get_response()
    names = {name.decode().lower(): value.decode() for name, value in response["headers"]}
    return response["status"], json.loads(response["body"] or b"{}"), names


async def test_a_reveal_over_asgi_runs_the_chain_in_one_hop(committed_db, acme, alice, unique, monkeypatch):
    secret_id = await sync_to_async(_secret)(acme, alice, unique)
    key = await sync_to_async(session_for)(alice)
    hops = {"async_to_sync": 0}
    real = sync.AsyncToSync.__call__

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops["async_to_sync"] += 1
        return real(self, *args, **kwargs)

    monkeypatch.setattr(sync.AsyncToSync, "__call__", counted)
    path = f"/api/v1/vault/secrets/{secret_id}/reveal/"
    status, body, headers = await _post(alice.host, path, b'{"reason": "asgi test"}', key)
    assert status == 200, body
    assert body["value"] == "s3cr3t-asgi"
    assert headers["cache-control"] == "no-store"
    assert "content-security-policy" in headers  # the response middleware ran
    assert hops["async_to_sync"] == 0  # Django's default handler makes one per request


async def test_bad_input_over_asgi_is_a_clear_4xx(committed_db, acme, alice, unique):
    secret_id = await sync_to_async(_secret)(acme, alice, unique)
    key = await sync_to_async(session_for)(alice)
    path = f"/api/v1/vault/secrets/{secret_id}/reveal/"
    status, body, _ = await _post(alice.host, path, b"{not json", key)
    assert status == 400
    status, body, _ = await _post(alice.host, path, b'{"reason": ""}', key)
    assert status == 400
    assert "reason" in json.dumps(body)


async def test_mallorys_session_reveals_nothing_over_asgi(committed_db, acme, alice, mallory, unique):
    secret_id = await sync_to_async(_secret)(acme, alice, unique)
    key = await sync_to_async(session_for)(mallory)
    path = f"/api/v1/vault/secrets/{secret_id}/reveal/"
    status, body, _ = await _post(alice.host, path, b'{"reason": "steal"}', key)
    assert status in (401, 403), body
    assert "s3cr3t-asgi" not in json.dumps(body)
