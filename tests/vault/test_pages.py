"""Vault pages: list (with its empty state), create, detail, versions, reveal, rotate, lifecycle."""

from __future__ import annotations

import re

from django_tenants.utils import tenant_context

from vault import services
from vault.models import Secret


def _make(acme, alice, **kwargs):
    kwargs.setdefault("value", "page-secret-value")
    with tenant_context(acme):
        return services.secret_create(actor=alice.user(), **kwargs)


def test_empty_state_invites_the_first_secret(client_for, alice):
    response = client_for(alice).get("/vault/")
    assert response.status_code == 200
    assert b"No secrets yet" in response.content
    assert b"Create the first secret" in response.content


def test_no_inline_script_or_style(client_for, alice, acme):
    secret = _make(acme, alice, name="app/key")
    client = client_for(alice)
    for path in ("/vault/", "/vault/new/", f"/vault/{secret.pk}/", f"/vault/{secret.pk}/reveal/"):
        html = client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html, path
        assert "<style" not in html, path
        assert " onclick=" not in html, path


def test_alice_creates_a_secret_from_the_form(client_for, alice, acme):
    client = client_for(alice)
    response = client.post(
        "/vault/new/",
        {
            "name": "prod/db/password",
            "value": "typed-in-the-form",
            "secret_type": "password",
            "environment": "production",
            "tags": "db, primary",
            "rotation_policy": "monthly",
        },
    )
    assert response.status_code == 302, response.content
    with tenant_context(acme):
        secret = Secret.objects.get(name="prod/db/password")
        assert secret.tags == ["db", "primary"]
    detail = client.get(response["Location"])
    assert b"prod/db/password" in detail.content
    assert b"typed-in-the-form" not in detail.content
    listing = client.get("/vault/?environment=production")
    assert b"prod/db/password" in listing.content


def test_form_errors_are_shown_not_500(client_for, alice, acme):
    _make(acme, alice, name="app/taken")
    client = client_for(alice)
    for data, message in (
        ({"name": "Bad Path", "value": "x"}, b"lower-case segments"),
        ({"name": "app/empty", "value": ""}, b"may not be empty"),
        ({"name": "app/taken", "value": "x"}, b"already exists"),
        ({"name": "app/big", "value": "x" * (64 * 1024 + 1)}, b"64 KiB"),
    ):
        data |= {"secret_type": "generic", "environment": "development", "rotation_policy": "none"}
        response = client.post("/vault/new/", data)
        assert response.status_code == 400
        assert message in response.content


def test_reveal_page_asks_for_step_up_then_shows_the_value_once(client_for, alice, acme):
    secret = _make(acme, alice, name="app/key", value="shown-once-value")
    stale = client_for(alice, otp=False)
    prompt = stale.get(f"/vault/{secret.pk}/reveal/")
    assert prompt.status_code == 200
    assert b"one-time code" in prompt.content
    refused = stale.post(f"/vault/{secret.pk}/reveal/", {"reason": "incident"})
    assert refused.status_code == 403
    assert b"shown-once-value" not in refused.content

    client = client_for(alice)
    no_reason = client.post(f"/vault/{secret.pk}/reveal/", {"reason": ""})
    assert no_reason.status_code == 400
    shown = client.post(f"/vault/{secret.pk}/reveal/", {"reason": "incident 7"})
    assert shown.status_code == 200
    assert b"shown-once-value" in shown.content
    assert b'data-copy-target="secret-value"' in shown.content
    assert b"js/vault.js" in shown.content
    assert shown["Cache-Control"] == "no-store"
    assert b"shown-once-value" not in client.get(f"/vault/{secret.pk}/reveal/").content


def test_bob_cannot_open_the_reveal_page_of_a_production_secret(client_for, alice, bob, acme):
    secret = _make(acme, alice, name="prod/key", environment="production")
    assert client_for(bob).get(f"/vault/{secret.pk}/reveal/").status_code == 403


def test_rotate_page_and_versions(client_for, alice, acme):
    secret = _make(acme, alice, name="app/key")
    client = client_for(alice)
    assert client.get(f"/vault/{secret.pk}/rotate/").status_code == 200
    response = client.post(f"/vault/{secret.pk}/rotate/", {"value": "second", "reason": "r", "version": 1})
    assert response.status_code == 302
    stale = client.post(f"/vault/{secret.pk}/rotate/", {"value": "third", "reason": "r", "version": 1})
    assert stale.status_code == 400
    assert b"You read version 1 but the secret is at version 2" in stale.content
    versions = client.get(f"/vault/{secret.pk}/versions/")
    assert b"v2 (current)" in versions.content
    assert b"second" not in versions.content


def test_delete_restore_destroy_pages(client_for, alice, acme):
    secret = _make(acme, alice, name="app/old")
    client = client_for(alice)
    assert client.post(f"/vault/{secret.pk}/delete/").status_code == 302
    assert b"app/old" in client.get("/vault/?deleted=1").content
    assert client.post(f"/vault/{secret.pk}/restore/").status_code == 302
    client.post(f"/vault/{secret.pk}/delete/")
    client.post(f"/vault/{secret.pk}/destroy/", {"confirm": "wrong"})
    with tenant_context(acme):
        assert Secret.objects.filter(pk=secret.pk).exists()
    response = client.post(f"/vault/{secret.pk}/destroy/", {"confirm": "app/old"})
    assert response["Location"] == "/vault/"
    with tenant_context(acme):
        assert not Secret.objects.filter(pk=secret.pk).exists()
