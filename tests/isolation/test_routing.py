"""Routing: a host serves exactly its tenant; odd hosts get clear pages, never data."""

from __future__ import annotations

from django.test import Client

from tenants import services


def test_alices_session_is_meaningless_on_globex(client_for, alice, mallory):
    client = client_for(alice)
    assert client.get("/").status_code == 200
    # The same cookie sent to Globex's host: no such session in Globex's schema.
    response = client.get("/", HTTP_HOST=mallory.host)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_unknown_host_gets_a_404_page(anon_client):
    response = anon_client("nobody.localhost").get("/")
    assert response.status_code == 404
    assert b"No portal here" in response.content


def test_suspended_tenant_shows_the_suspended_page(client_for, mallory, globex, oscar):
    services.tenant_set_status(tenant=globex, status="suspended", actor=oscar.user(), reason="test")
    response = client_for(mallory).get("/")
    assert response.status_code == 403
    assert b"suspended" in response.content
    api = client_for(mallory).get("/api/v1/vault/")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "tenant_suspended"


def test_read_only_tenant_refuses_writes_but_serves_reads(client_for, alice, acme):
    services.tenant_set_status(tenant=acme, status="read_only", reason="unpaid")
    client = client_for(alice)
    assert client.get("/").status_code == 200
    response = client.post("/members/", {})
    assert response.status_code == 403
    assert b"read-only" in response.content


def test_deleted_tenant_is_not_served(alice, acme, db):
    services.tenant_set_status(tenant=acme, status="deleted", reason="closed")
    assert Client(HTTP_HOST=alice.host).get("/accounts/login/").status_code == 404


def test_public_domain_does_not_serve_tenant_pages(anon_client):
    assert anon_client().get("/vault/").status_code == 404
