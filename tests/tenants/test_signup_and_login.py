"""The public site: signup hands the new owner to their subdomain; central login leaks nothing."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client

from tenants import pool, tasks
from tenants.models import SpareSchema, Tenant

GOOD = {"name": "Soylent", "slug": "soylent", "email": "ceo@soylent.test", "password": "green-is-people-42"}


def test_signup_lands_the_owner_on_their_dashboard(anon_client, db):
    pool.spare_build()
    client = anon_client()
    response = client.post("/signup/", GOOD)
    assert response.status_code == 302
    status = client.get(response["Location"])
    assert status.status_code == 302
    welcome = status["Location"]
    assert welcome.startswith("http://soylent.localhost:8000/welcome/")
    tenant_client = Client(HTTP_HOST="soylent.localhost")
    path = welcome.split(":8000", 1)[1]
    landed = tenant_client.get(path, follow=True)
    assert landed.status_code == 200
    assert b"Soylent" in landed.content
    assert b"ceo@soylent.test" in landed.content
    # The hand-off link is single use.
    assert Client(HTTP_HOST="soylent.localhost").get(path).status_code == 404


def test_signup_without_a_spare_shows_progress(anon_client, db):
    SpareSchema.objects.filter(state=SpareSchema.State.READY).delete()
    client = anon_client()
    response = client.post("/signup/", GOOD)
    progress = client.get(response["Location"])
    assert progress.status_code == 200
    assert b"Preparing your private database schema" in progress.content
    assert b'hx-trigger="every 1s"' in progress.content
    tenant = Tenant.objects.get(slug="soylent")
    tasks.tenant_build_schema.apply(args=[tenant.pk])
    assert client.get(response["Location"]).status_code == 302


def test_signup_errors_are_shown_in_the_form(anon_client, db):
    response = anon_client().post("/signup/", {**GOOD, "slug": "admin", "password": "short"})
    assert response.status_code == 400
    assert b"reserved" in response.content
    assert b"at least 12 characters" in response.content
    assert not Tenant.objects.filter(slug="admin").exists()


def test_central_login_answers_the_same_for_known_and_unknown_emails(anon_client, alice, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from portal.celery import app

    app.conf.task_always_eager = True
    try:
        known = anon_client().post("/login/", {"email": alice.email})
        unknown = anon_client().post("/login/", {"email": "nobody@nowhere.test"})
    finally:
        app.conf.task_always_eager = False
    assert known.status_code == unknown.status_code == 200

    def page(response, email: str) -> str:
        return re.sub(r'nonce="[^"]+"', "", response.content.decode()).replace(email, "EMAIL")

    assert page(known, alice.email) == page(unknown, "nobody@nowhere.test")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [alice.email]
    assert "http://acme.localhost:8000/accounts/login/" in mail.outbox[0].body


def test_central_login_offers_every_tenant_of_an_email(db, acme, globex):
    from tenants.models import TenantEmail

    TenantEmail.objects.create(email="consultant@example.test", tenant=acme)
    TenantEmail.objects.create(email="consultant@example.test", tenant=globex)
    assert tasks.central_login_send.apply(args=["consultant@example.test"]).result == 2
    body = mail.outbox[0].body
    assert "acme.localhost" in body
    assert "globex.localhost" in body


def test_a_paid_plan_starts_free_and_goes_to_checkout(anon_client, db, settings):
    from tenants.models import Plan

    settings.BILLING_ENABLED = True
    pool.spare_build()
    team = Plan.objects.get(slug="team")
    client = anon_client()
    response = client.post("/signup/", {**GOOD, "plan": team.pk})
    welcome = client.get(response["Location"])["Location"]
    tenant = Tenant.objects.get(slug="soylent")
    assert tenant.plan.slug == "free"  # nothing paid for yet
    landed = Client(HTTP_HOST="soylent.localhost").get(welcome.split(":8000", 1)[1])
    assert landed.status_code == 302
    assert landed["Location"] == "/billing/?subscribe=team"
