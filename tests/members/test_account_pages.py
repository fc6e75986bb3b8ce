"""allauth inside a tenant: password reset by email, and no self-signup."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context


def test_bob_resets_his_password_by_email(bob, db):
    with schema_context(bob.schema_name):
        TOTPDevice.objects.filter(user=bob.user()).delete()
    client = Client(HTTP_HOST=bob.host)
    assert client.post("/accounts/password/reset/", {"email": bob.email}).status_code == 302
    link = re.search(r"http://[^\s]+(/accounts/password/reset/key/[^\s]+)", mail.outbox[-1].body).group(1)
    assert bob.host in mail.outbox[-1].body
    form = client.get(link, follow=True)
    assert form.status_code == 200
    new = "a-brand-new-long-passphrase"
    done = client.post(form.redirect_chain[-1][0], {"password1": new, "password2": new})
    assert done.status_code == 302
    assert (
        Client(HTTP_HOST=bob.host).post("/accounts/login/", {"login": bob.email, "password": new}).status_code
        == 302
    )


def test_a_weak_new_password_is_refused(client_for, bob):
    response = client_for(bob).post(
        "/accounts/password/change/",
        {"oldpassword": "correct-horse-battery-staple", "password1": "short", "password2": "short"},
    )
    assert response.status_code == 200
    assert b"at least 12" in response.content or b"too short" in response.content


def test_nobody_signs_up_inside_a_tenant(bob, db):
    response = Client(HTTP_HOST=bob.host).get("/accounts/signup/")
    assert b"Sign Up Closed" in response.content or response.status_code in (403, 404)


def test_the_login_page_uses_the_portal_layout(bob, db):
    page = Client(HTTP_HOST=bob.host).get("/accounts/login/")
    assert page.status_code == 200
    assert b'class="skip-link"' in page.content
    assert b"<style" not in page.content


def test_the_email_page_has_no_inline_script_and_confirms_removal_with_data_confirm(client_for, bob):
    """allauth's own email.html loads account.js + an inline block the strict CSP forbids;
    ours asks through portal.js's data-confirm (nonced) instead."""
    page = client_for(bob).get("/accounts/email/")
    assert page.status_code == 200
    html = page.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts, "the portal's own scripts are on the page"
    for attrs, body in scripts:
        assert 'src="' in attrs, f"inline script: {attrs} {body[:80]}"
        assert not body.strip(), f"inline script: {attrs} {body[:80]}"
        assert f'nonce="{nonce}"' in attrs
    assert "account/js/" not in html
    assert "data-allauth-onload" not in html
    assert " style=" not in html
    assert "<style" not in html
    assert bob.email in html
    assert re.search(r'name="action_remove"\s+data-confirm="[^"]+"', html)


def test_bob_adds_a_second_address_on_the_email_page(client_for, bob):
    client = client_for(bob)
    response = client.post("/accounts/email/", {"action_add": "", "email": "bob.second@acme.test"})
    assert response.status_code == 302
    assert b"bob.second@acme.test" in client.get("/accounts/email/").content
    bad = client.post("/accounts/email/", {"action_add": "", "email": "not-an-address"})
    assert bad.status_code == 200
    assert b'class="field has-error' in bad.content


def test_bob_verifies_a_new_address_and_makes_it_primary_and_the_index_follows(client_for, bob):
    from tenants.models import TenantEmail

    client = client_for(bob)
    bob_id = bob.user().pk
    new = "robert@acme.test"
    assert client.post("/accounts/email/", {"action_add": "", "email": new}).status_code == 302
    link = re.search(r"http://[^\s]+(/accounts/confirm-email/[^\s]+)", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    assert f"http://{bob.host}" in mail.outbox[-1].body  # verification happens on Acme's host
    confirm = client.get(link.group(1))
    assert confirm.status_code == 200
    assert client.post(link.group(1)).status_code == 302
    assert client.post("/accounts/email/", {"action_primary": "", "email": new}).status_code == 302
    with schema_context(bob.schema_name):
        from portal.accounts.models import User

        assert User.objects.get(pk=bob_id).email == new
    assert TenantEmail.objects.filter(email=new, tenant__slug="acme").exists()
    assert not TenantEmail.objects.filter(email=bob.email, tenant__slug="acme").exists()
