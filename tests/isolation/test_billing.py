"""Mallory (Globex owner) against Acme's billing: pages, portal, invoices, checkout, webhooks."""

from __future__ import annotations

import time

import pytest

from tenants.billing import services, webhooks
from tenants.billing.models import CheckoutAttempt, Invoice, Subscription, WebhookEvent
from tenants.models import Tenant
from tests.billing import fixtures
from tests.billing.fixtures import make_event, paying_subscription, post_event

# The billing test Stripe (localstripe + the fake Checkout/Portal server).
localstripe_url = fixtures.localstripe_url
fake_stripe = fixtures.fake_stripe
stripe_on = fixtures.stripe_on
synced_plans = fixtures.synced_plans


@pytest.fixture
def customers(acme, globex, alice, mallory, stripe_on, db):
    return (
        services.customer_ensure(tenant=acme, email=alice.email),
        services.customer_ensure(tenant=globex, email=mallory.email),
    )


def _process_all():
    for pk in WebhookEvent.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True):
        webhooks.event_process(event_pk=pk)


def test_mallory_cannot_open_acmes_billing_page_portal_or_api(
    client_for, mallory, alice, stripe_on, customers
):
    client = client_for(mallory)
    before = len(stripe_on.requests)
    for response in (
        client.get("/billing/", HTTP_HOST=alice.host),
        client.post("/billing/portal/", HTTP_HOST=alice.host),
        client.post("/billing/checkout/", {"plan": "team", "interval": "month"}, HTTP_HOST=alice.host),
    ):
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]
    api = client.get("/api/v1/billing/", HTTP_HOST=alice.host)
    assert api.status_code in (401, 403)
    assert len(stripe_on.requests) == before


def test_mallory_sees_only_globex_invoices_and_portal(client_for, mallory, acme, stripe_on, customers):
    Invoice.objects.create(tenant=acme, stripe_invoice_id="in_acme_secret", number="ACME-SECRET")
    client = client_for(mallory)
    page = client.get("/billing/")
    assert page.status_code == 200
    assert b"ACME-SECRET" not in page.content
    assert "in_acme_secret" not in str(client.get("/api/v1/billing/").json())
    client.post("/billing/portal/")
    assert (
        stripe_on.calls("/v1/billing_portal/sessions")[-1].params["customer"]
        == customers[1].stripe_customer_id
    )


def test_mallory_cannot_watch_acmes_checkout(client_for, mallory, acme, customers, synced_plans):
    CheckoutAttempt.objects.create(
        tenant=acme, session_id="cs_acme_1", plan=synced_plans["team"], interval="month"
    )
    client = client_for(mallory)
    assert client.get("/billing/checkout/done/?session_id=cs_acme_1").status_code == 404
    assert client.get("/billing/checkout/status/cs_acme_1/").status_code == 404


def test_webhooks_with_globex_customer_and_acme_metadata_never_touch_acme(
    anon_client, acme, globex, customers, synced_plans, stripe_on
):
    globex_sub = customers[1]
    acme_before = Tenant.objects.get(pk=acme.pk)
    globex_stripe = paying_subscription(
        stripe_on, globex_sub.stripe_customer_id, synced_plans["team"].stripe_price_monthly_id
    )
    acme_meta = {"tenant_id": str(acme.pk), "plan": "business"}
    client = anon_client()
    # Globex's own events dressed up with Acme's metadata.
    post_event(
        client,
        make_event(
            "customer.subscription.updated",
            {
                "id": globex_stripe["id"],
                "object": "subscription",
                "customer": globex_sub.stripe_customer_id,
                "metadata": acme_meta,
            },
        ),
    )
    post_event(
        client,
        make_event(
            "invoice.payment_failed",
            {
                "id": "in_glx",
                "object": "invoice",
                "customer": globex_sub.stripe_customer_id,
                "metadata": acme_meta,
                "created": int(time.time()),
            },
        ),
    )
    _process_all()
    acme_after = Tenant.objects.get(pk=acme.pk)
    assert (acme_after.status, acme_after.plan_id) == (acme_before.status, acme_before.plan_id)
    assert not Invoice.objects.filter(tenant=acme).exists()
    assert Subscription.objects.get(tenant=acme).stripe_subscription_id is None
    assert Tenant.objects.get(pk=globex.pk).status == "past_due"


def test_globex_cannot_adopt_acmes_subscription_through_an_event(
    anon_client, acme, globex, customers, synced_plans, stripe_on
):
    acme_sub, globex_sub = customers
    acme_stripe = paying_subscription(
        stripe_on, acme_sub.stripe_customer_id, synced_plans["business"].stripe_price_monthly_id
    )
    # An event naming Acme's subscription but Globex's customer: the re-fetch shows Acme's customer.
    post_event(
        anon_client(),
        make_event(
            "customer.subscription.created",
            {"id": acme_stripe["id"], "object": "subscription", "customer": globex_sub.stripe_customer_id},
        ),
    )
    _process_all()
    assert Subscription.objects.get(tenant=globex).stripe_subscription_id is None
    assert Tenant.objects.get(pk=globex.pk).plan.slug == "free"
