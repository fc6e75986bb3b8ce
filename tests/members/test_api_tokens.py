"""Personal API tokens: shown once, stored hashed, scoped, expiring, revocable, tracked."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.members.models import ApiToken

from .conftest import audit_actions


def bearer(host: str, token: str) -> Client:
    return Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_token_authenticates_bobs_api_calls(make_token, bob):
    token = make_token(bob, ["read"])
    response = bearer(bob.host, token).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["email"] == "bob@acme.test"
    assert response.json()["token_scopes"] == ["read"]


def test_only_the_sha256_of_the_token_is_stored(make_token, bob):
    token = make_token(bob, ["read"])
    with schema_context(bob.schema_name):
        row = ApiToken.objects.get(prefix=token[:12])
        stored = str(ApiToken.objects.filter(pk=row.pk).values().first())
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored


def test_creating_a_token_shows_it_once_and_audits_it(client_for, bob):
    client = client_for(bob)
    response = client.post(
        "/api/v1/tokens/", {"name": "ci", "scopes": ["read", "write"]}, content_type="application/json"
    )
    assert response.status_code == 201
    plaintext = response.json()["token"]
    assert plaintext.startswith("tnt_")
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert "token" not in listed[0]
    assert audit_actions(bob.schema_name, "token.create")[0].payload["scopes"] == ["read", "write"]


def test_a_read_token_cannot_write(make_token, bob):
    token = make_token(bob, ["read"])
    response = bearer(bob.host, token).post(
        "/api/v1/tokens/", {"name": "x", "scopes": ["read"]}, content_type="application/json"
    )
    assert response.status_code == 403


def test_a_token_cannot_mint_tokens(make_token, bob):
    token = make_token(bob, ["read", "write"])
    response = bearer(bob.host, token).post(
        "/api/v1/tokens/", {"name": "x", "scopes": ["read"]}, content_type="application/json"
    )
    assert response.status_code == 403


def test_a_revoked_token_is_refused_and_audited(client_for, make_token, bob):
    token = make_token(bob, ["read"])
    with schema_context(bob.schema_name):
        pk = ApiToken.objects.get(prefix=token[:12]).pk
    assert client_for(bob).delete(f"/api/v1/tokens/{pk}/").status_code == 204
    response = bearer(bob.host, token).get("/api/v1/me/")
    assert response.status_code == 401
    assert audit_actions(bob.schema_name, "auth.token.rejected")[0].payload["reason"] == "revoked"


def test_an_expired_token_is_refused(make_token, bob):
    token = make_token(bob, ["read"], expires_at=timezone.now() + timedelta(seconds=30))
    with schema_context(bob.schema_name):
        ApiToken.objects.filter(prefix=token[:12]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(bob.host, token).get("/api/v1/me/").status_code == 401


def test_a_garbage_token_gets_401_not_500(bob, db):
    assert bearer(bob.host, "tnt_nope").get("/api/v1/me/").status_code == 401
    assert bearer(bob.host, "x" * 5000).get("/api/v1/me/").status_code == 401
    assert Client(HTTP_HOST=bob.host, HTTP_AUTHORIZATION="Bearer a b").get("/api/v1/me/").status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute(make_token, bob):
    token = make_token(bob, ["read"])
    client = bearer(bob.host, token)
    client.get("/api/v1/me/", REMOTE_ADDR="10.0.0.7")
    with schema_context(bob.schema_name):
        row = ApiToken.objects.get(prefix=token[:12])
    assert row.last_used_ip == "10.0.0.7"
    assert row.last_used_at is not None
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/me/", REMOTE_ADDR="10.0.0.7")
    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]


def test_token_authentication_costs_one_query(make_token, bob):
    token = make_token(bob, ["read"])
    client = bearer(bob.host, token)
    client.get("/api/v1/me/")  # warm: routing cache, last-used write
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/me/").status_code == 200
    sql = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SET search_path")]
    assert len(sql) == 1, sql


def test_deactivating_bob_kills_his_token_at_once(make_token, bob):
    token = make_token(bob, ["read"])
    with schema_context(bob.schema_name):
        from portal.accounts.models import User

        User.objects.filter(email=bob.email).update(is_active=False)
    assert bearer(bob.host, token).get("/api/v1/me/").status_code == 401


def test_tokens_on_the_public_domain_are_refused(make_token, bob, anon_client):
    token = make_token(bob, ["read"])
    response = anon_client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (401, 404)
