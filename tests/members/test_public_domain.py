"""The public domain: allauth is not mounted there (accounts live in tenant schemas; the
public schema holds only operators, who use the OTP admin). Every auth link and every
well-known allauth path still leads somewhere that works, password reset starts from the
public "find your portal" page, and a member's credentials sign nobody in on the public
domain."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tenants.utils import schema_context

from portal.accounts.models import User
from tenants import tasks

ALLAUTH_PATHS = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/password/reset/key/1-set-password/",
    "/accounts/confirm-email/some-key/",
    "/accounts/email/",
)


def _links(html: str) -> set[str]:
    hrefs = set(re.findall(r'href="(/[^"#]*)"', html)) | set(re.findall(r'action="(/[^"]*)"', html))
    return {href for href in hrefs if not href.startswith("/static/")}


def test_every_link_on_the_public_pages_works(anon_client):
    client = anon_client()
    pages = {"/", "/login/", "/signup/", "/no-such-page/"}
    seen: set[str] = set()
    for page in pages:
        response = client.get(page)
        assert response.status_code in (200, 404), page
        for link in _links(response.content.decode()) - seen:
            seen.add(link)
            answer = client.get(link, follow=True)
            assert answer.status_code == 200, (page, link, answer.status_code)
    assert {"/login/", "/signup/", "/api/docs/"} <= seen


@pytest.mark.parametrize("path", ALLAUTH_PATHS)
def test_allauths_paths_on_the_public_domain_lead_to_find_your_portal(anon_client, path):
    response = anon_client().get(path)
    assert response.status_code == 302
    assert response["Location"] == "/login/"


def test_login_url_resolves_on_the_public_domain():
    assert reverse("account_login", urlconf="portal.urls_public") == "/accounts/login/"


def test_alices_credentials_sign_nobody_in_on_the_public_domain(anon_client, alice):
    client = anon_client()
    posted = client.post(
        "/accounts/login/", {"login": alice.email, "password": "correct-horse-battery-staple"}
    )
    assert posted.status_code == 302
    assert posted["Location"] == "/login/"
    admin = client.post(
        "/admin/login/", {"username": alice.email, "password": "correct-horse-battery-staple"}
    )
    assert admin.status_code == 200  # the form again, with its error
    assert b"errornote" in admin.content
    assert client.get("/admin/").status_code == 302  # still not signed in
    assert not User.objects.filter(email=alice.email).exists()  # public schema: operators only


def test_bob_resets_his_password_starting_from_the_public_domain(anon_client, bob, settings):
    from portal.celery import app

    with schema_context(bob.schema_name):
        TOTPDevice.objects.filter(user=bob.user()).delete()
    app.conf.task_always_eager = True
    try:
        assert anon_client().get("/accounts/password/reset/", follow=True).status_code == 200
        assert anon_client().post("/login/", {"email": bob.email}).status_code == 200
    finally:
        app.conf.task_always_eager = False
    links = mail.outbox[-1].body
    reset_url = re.search(r"Forgot your password there\? (http://\S+)", links).group(1)
    assert reset_url == f"http://{bob.host}:{settings.PORTAL_PORT}/accounts/password/reset/"
    client = Client(HTTP_HOST=bob.host)
    assert client.post("/accounts/password/reset/", {"email": bob.email}).status_code == 302
    key_link = re.search(r"http://[^\s]+(/accounts/password/reset/key/[^\s]+)", mail.outbox[-1].body).group(1)
    form = client.get(key_link, follow=True)
    new = "a-brand-new-long-passphrase"
    assert client.post(form.redirect_chain[-1][0], {"password1": new, "password2": new}).status_code == 302
    login = Client(HTTP_HOST=bob.host).post("/accounts/login/", {"login": bob.email, "password": new})
    assert login.status_code == 302


def test_the_sign_in_email_has_a_reset_link_per_portal(db, acme, globex):
    from tenants.models import TenantEmail

    TenantEmail.objects.create(email="consultant@example.test", tenant=acme)
    TenantEmail.objects.create(email="consultant@example.test", tenant=globex)
    assert tasks.central_login_send.apply(args=["consultant@example.test"]).result == 2
    body = mail.outbox[-1].body
    assert "acme.localhost:8000/accounts/password/reset/" in body
    assert "globex.localhost:8000/accounts/password/reset/" in body


def test_community_edition_sends_allauth_paths_to_the_single_tenant(anon_client, settings):
    settings.PORTAL_EDITION = "community"
    settings.BILLING_ENABLED = False
    response = anon_client().get("/accounts/password/reset/")
    assert response.status_code == 302
    assert response["Location"] == "http://acme.localhost:8000/accounts/password/reset/"
