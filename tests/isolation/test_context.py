"""Tenant context outside HTTP: Celery, Channels, cache and storage, two tenants at once."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_tenants.utils import schema_context, tenant_context

from portal.asgi import application
from portal.celery import TenantContextMissing, app
from portal.tasks import tenant_probe
from tests.conftest import session_for


def test_a_tenant_task_sent_from_public_fails_closed(db, platform):
    result = tenant_probe.apply(args=["x"])
    assert result.failed()
    assert isinstance(result.result, TenantContextMissing)


def test_a_task_forced_onto_public_fails_closed(db, acme):
    with tenant_context(acme):
        result = tenant_probe.apply(args=["x"], headers={"_schema_name": "public"})
    assert isinstance(result.result, TenantContextMissing)


@pytest.fixture
def celery_worker(committed_db):
    from celery.contrib.testing.worker import start_worker

    app.control.purge()
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10):
        yield


def _wait_for(key_schema: str, token: str) -> str | None:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with schema_context(key_schema):
            value = cache.get(f"probe:{token}")
        if value:
            return value
        time.sleep(0.05)
    return None


def test_two_tenants_tasks_run_in_their_own_schemas(celery_worker, acme, globex):
    tokens = {}
    for _ in range(5):  # interleave the two tenants on two worker threads
        for tenant in (acme, globex):
            token = secrets.token_hex(6)
            with tenant_context(tenant):
                tenant_probe.delay(token)
            tokens[token] = tenant.schema_name
    for token, schema in tokens.items():
        assert _wait_for(schema, token) == schema
        other = "t_globex" if schema == "t_acme" else "t_acme"
        with schema_context(other):
            assert cache.get(f"probe:{token}") is None


def test_cache_keys_carry_the_schema(db, acme, globex, unique):
    key = f"dashboard:{unique}"
    with tenant_context(acme):
        cache.set(key, "acme-data")
    with tenant_context(globex):
        assert cache.get(key) is None
        cache.set(key, "globex-data")
    with tenant_context(acme):
        assert cache.get(key) == "acme-data"


def test_storage_paths_carry_the_schema(db, acme, globex):
    with tenant_context(acme):
        name = default_storage.save("reports/q3.txt", ContentFile(b"acme only"))
        assert default_storage.exists(name)
    with tenant_context(globex):
        assert not default_storage.exists(name)
        with pytest.raises(FileNotFoundError):
            default_storage.open(name)
        with pytest.raises(Exception, match=r"path escape|outside"):
            default_storage.open(f"../t_acme/{name}")
    with tenant_context(acme):
        default_storage.delete(name)


def _cookie(persona) -> list[tuple[bytes, bytes]]:
    key = session_for(persona)
    return [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())]


async def _whoami(host: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, object]:
    communicator = WebsocketCommunicator(
        application,
        "/ws/whoami/",
        headers=[(b"host", host.encode()), (b"origin", f"http://{host}".encode()), *headers],
    )
    connected, code = await communicator.connect()
    payload = await communicator.receive_json_from() if connected else code
    await communicator.disconnect()
    return connected, payload


async def test_websocket_resolves_the_tenant_from_host(committed_db, alice, mallory):
    from asgiref.sync import sync_to_async

    alice_cookie = await sync_to_async(_cookie)(alice)
    mallory_cookie = await sync_to_async(_cookie)(mallory)
    # Both tenants at once, interleaved on the same event loop and database thread.
    results = await asyncio.gather(
        *[_whoami(alice.host, alice_cookie) for _ in range(4)],
        *[_whoami(mallory.host, mallory_cookie) for _ in range(4)],
    )
    for connected, payload in results[:4]:
        assert connected
        assert payload == {"tenant": "t_acme", "email": alice.email, "role": "owner"}
    for connected, payload in results[4:]:
        assert connected
        assert payload["tenant"] == "t_globex"
    # Mallory's Globex cookie presented to Acme: no such session in Acme's schema.
    connected, _ = await _whoami(alice.host, mallory_cookie)
    assert not connected
    # Unknown hosts are refused before any consumer runs.
    connected, _ = await _whoami("nobody.localhost", alice_cookie)
    assert not connected


def _cookie_without_mfa(persona) -> list[tuple[bytes, bytes]]:
    """A signed-in session of a member who has a factor but never passed the challenge."""
    from importlib import import_module

    from tenants.members.mfa import DEVICE_ID_SESSION_KEY

    key = session_for(persona)
    with schema_context(persona.schema_name):
        session = import_module(settings.SESSION_ENGINE).SessionStore(key)
        session.pop(DEVICE_ID_SESSION_KEY, None)
        session.save()
    return [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())]


async def test_websocket_needs_the_mfa_challenge_passed(committed_db, alice):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_cookie_without_mfa)(alice)
    connected, code = await _whoami(alice.host, cookie)
    assert not connected
    assert code == 4401
