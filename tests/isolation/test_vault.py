"""Mallory (owner of Globex) attacks Acme's vault: HTTP pages, API, cache and keys."""

from __future__ import annotations

import json
import os

from django.test import Client
from django_tenants.utils import tenant_context

from vault import keyring, services
from vault.models import Secret


def _acme_secret(acme, alice, name="prod/db/password", value="acme-crown-jewels"):
    with tenant_context(acme):
        return services.secret_create(actor=alice.user(), name=name, value=value, environment="production")


def test_mallorys_session_means_nothing_on_acmes_api(client_for, mallory, alice, acme):
    secret = _acme_secret(acme, alice)
    client = client_for(mallory)
    for method, path in (
        ("get", "/api/v1/vault/secrets/"),
        ("get", f"/api/v1/vault/secrets/{secret.pk}/"),
        ("post", f"/api/v1/vault/secrets/{secret.pk}/reveal/"),
        ("post", "/api/v1/vault/fetch/"),
        ("get", "/api/v1/vault/stats/"),
    ):
        response = getattr(client, method)(path, HTTP_HOST=alice.host)
        assert response.status_code in (401, 403), (path, response.status_code)
        assert b"acme-crown-jewels" not in response.content
        assert b"prod/db/password" not in response.content


def test_mallory_cannot_reach_acmes_secret_from_globex(client_for, mallory, alice, acme):
    secret = _acme_secret(acme, alice)
    client = client_for(mallory)
    body = json.dumps({"reason": "curious"})
    assert client.get(f"/api/v1/vault/secrets/{secret.pk}/").status_code == 404
    response = client.post(
        f"/api/v1/vault/secrets/{secret.pk}/reveal/", body, content_type="application/json"
    )
    assert response.status_code == 404
    fetch = client.post(
        "/api/v1/vault/fetch/",
        json.dumps({"name": "prod/db/password", "reason": "x"}),
        content_type="application/json",
    )
    assert fetch.status_code == 404
    assert client.get("/api/v1/vault/secrets/").json()["results"] == []
    assert client.get(f"/vault/{secret.pk}/").status_code == 404


def test_mallorys_pages_on_acmes_host_send_her_to_login(client_for, mallory, alice, acme):
    secret = _acme_secret(acme, alice)
    client = client_for(mallory)
    for path in ("/vault/", f"/vault/{secret.pk}/", f"/vault/{secret.pk}/reveal/"):
        response = client.get(path, HTTP_HOST=alice.host)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


def test_anonymous_gets_nothing(anon_client, alice, acme):
    secret = _acme_secret(acme, alice)
    client = anon_client(alice.host)
    assert client.get("/api/v1/vault/secrets/").status_code in (401, 403)
    assert client.post(f"/api/v1/vault/secrets/{secret.pk}/reveal/").status_code in (401, 403)


def test_data_key_cache_is_per_tenant(acme, globex, alice, mallory, db):
    """Globex never gets Acme's data key from the per-process cache, even for equal ids."""
    with tenant_context(acme):
        services.secret_create(actor=alice.user(), name="app/a", value="acme-value")
        acme_key_id, acme_aes = keyring.active_key()
    with tenant_context(globex):
        services.secret_create(actor=mallory.user(), name="app/a", value="globex-value")
        globex_key_id, globex_aes = keyring.active_key()
        assert globex_aes is not acme_aes
        # Even when the ids collide, Globex's schema resolves its own row, never Acme's key.
        if globex_key_id == acme_key_id:
            # Compared by what the key opens, not by identity: a key made in this test's
            # (uncommitted) transaction is unwrapped afresh on each use, never cached.
            nonce = os.urandom(12)
            sealed = globex_aes.encrypt(nonce, b"globex", None)
            assert keyring.key_by_id(acme_key_id).decrypt(nonce, sealed, None) == b"globex"
        globex_secret = Secret.objects.get(name="app/a")
        assert (
            services.secret_reveal(secret=globex_secret, actor=mallory.user(), reason="mine")
            == "globex-value"
        )


def test_unknown_host_serves_no_vault(alice, acme, db):
    _acme_secret(acme, alice)
    assert Client(HTTP_HOST="evil.localhost").get("/api/v1/vault/secrets/").status_code == 404
