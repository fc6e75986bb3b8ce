"""Checkout, the waiting success page, the Customer Portal, and billing switched off."""

from __future__ import annotations

from tenants.billing.models import CheckoutAttempt, Subscription
from tenants.models import Tenant
from tests.billing.fixtures import make_event, paying_subscription, post_event


def _checkout(client, plan="team", interval="month"):
    return client.post("/billing/checkout/", {"plan": plan, "interval": interval})


def test_alice_subscribes_and_the_success_page_waits_for_the_webhook(
    client_for, alice, acme, synced_plans, stripe_on, celery_eager, django_capture_on_commit_callbacks
):
    client = client_for(alice)
    response = _checkout(client)
    assert response.status_code == 303
    assert response["Location"].startswith(stripe_on.url + "/pay/cs_test_")
    attempt = CheckoutAttempt.objects.get(tenant=acme)
    sub = Subscription.objects.get(tenant=acme)
    sent = stripe_on.calls("/v1/checkout/sessions")[-1]
    assert sent.params["mode"] == "subscription"
    assert sent.params["customer"] == sub.stripe_customer_id
    assert sent.params["line_items"]["0"]["price"] == synced_plans["team"].stripe_price_monthly_id
    customer_call = stripe_on.calls("/v1/customers")[-1]
    assert customer_call.idempotency_key == f"tenantry-customer-{acme.pk}"

    # The redirect back from Stripe proves nothing: the page waits.
    page = client.get(f"/billing/checkout/done/?session_id={attempt.session_id}")
    assert page.status_code == 200
    assert b"Waiting for Stripe" in page.content
    assert b"hx-get" in page.content
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "free"

    # Stripe completes the checkout: a subscription exists there, then the webhook arrives.
    stripe_sub = paying_subscription(
        stripe_on, sub.stripe_customer_id, synced_plans["team"].stripe_price_monthly_id
    )
    event = make_event(
        "checkout.session.completed",
        {
            "id": attempt.session_id,
            "object": "checkout.session",
            "customer": sub.stripe_customer_id,
            "subscription": stripe_sub["id"],
            "metadata": {"tenant_id": str(acme.pk), "plan": "team"},
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, event).status_code == 200

    status = client.get(f"/billing/checkout/status/{attempt.session_id}/")
    assert b"Payment confirmed" in status.content
    assert b"hx-get" not in status.content
    sub.refresh_from_db()
    assert (sub.status, sub.plan.slug, sub.stripe_subscription_id) == ("active", "team", stripe_sub["id"])
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "team"


def test_the_customer_is_created_once(alice, acme, stripe_on, db):
    from tenants.billing import services

    first = services.customer_ensure(tenant=acme, email=alice.email)
    second = services.customer_ensure(tenant=acme, email=alice.email)
    assert first.stripe_customer_id == second.stripe_customer_id
    assert Subscription.objects.filter(tenant=acme).count() == 1


def test_stripe_unreachable_during_checkout_is_a_clear_error_with_no_local_state(
    client_for, alice, acme, synced_plans, stripe_on, settings
):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    response = _checkout(client_for(alice))
    assert response.status_code == 502
    assert b"could not reach our payment provider" in response.content
    assert not CheckoutAttempt.objects.filter(tenant=acme).exists()
    assert not Subscription.objects.filter(tenant=acme).exists()


def test_developer_cannot_start_checkout_or_open_the_portal(client_for, bob, acme, synced_plans, stripe_on):
    client = client_for(bob)
    before = len(stripe_on.requests)
    assert _checkout(client).status_code == 403
    assert client.post("/billing/portal/").status_code == 403
    assert len(stripe_on.requests) == before


def test_owner_opens_the_customer_portal(client_for, alice, acme, stripe_on):
    response = client_for(alice).post("/billing/portal/")
    assert response.status_code == 303
    assert response["Location"].startswith(stripe_on.url + "/portal/bps_")
    sent = stripe_on.calls("/v1/billing_portal/sessions")[-1]
    assert sent.params["customer"] == Subscription.objects.get(tenant=acme).stripe_customer_id
    assert sent.params["return_url"].endswith("/billing/")


def test_billing_page_shows_plan_usage_invoices_and_manage_button(client_for, alice, acme, stripe_on):
    from tenants.billing import services
    from tenants.billing.models import Invoice

    services.customer_ensure(tenant=acme, email=alice.email)
    Invoice.objects.create(tenant=acme, stripe_invoice_id="in_acme_7", number="ACME-0007", amount_due=4900)
    page = client_for(alice).get("/billing/")
    assert b"ACME-0007" in page.content
    assert page.status_code == 200
    for text in (b"Current plan", b"Free", b"Invoices", b"Manage billing", b"Subscribe to Team"):
        assert text in page.content


def test_billing_off_says_so_plainly(client_for, alice, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.BILLING_ENABLED = False
    page = client_for(alice).get("/billing/")
    assert page.status_code == 200
    assert b"Billing is turned off" in page.content
    assert b"assigned by the platform operator" in page.content
    assert b"Manage billing" not in page.content
    assert (
        client_for(alice).post("/billing/checkout/", {"plan": "team", "interval": "month"}).status_code == 302
    )


def test_developer_cannot_read_billing(client_for, bob, stripe_on):
    assert client_for(bob).get("/billing/").status_code == 403


def test_public_domain_serves_only_the_webhook(anon_client):
    assert anon_client().get("/billing/").status_code == 404
    assert (
        anon_client().post("/billing/webhook/", data=b"{}", content_type="application/json").status_code
        == 400
    )


def test_signup_on_a_paid_plan_lands_on_its_checkout(client_for, alice, stripe_on):
    page = client_for(alice).get("/billing/?subscribe=team")
    assert b"Complete your Team subscription" in page.content
    assert b"Pay with Stripe" in page.content
    assert b"Complete your" not in client_for(alice).get("/billing/?subscribe=free").content


def test_an_expired_checkout_stops_the_waiting_page(client_for, alice, acme, synced_plans, stripe_on):
    from tenants.billing import services, webhooks
    from tenants.billing.models import WebhookEvent

    sub = services.customer_ensure(tenant=acme, email=alice.email)
    attempt = CheckoutAttempt.objects.create(
        tenant=acme, session_id="cs_expire_me", plan=synced_plans["team"], interval="month"
    )
    event = make_event(
        "checkout.session.expired",
        {"id": attempt.session_id, "object": "checkout.session", "customer": sub.stripe_customer_id},
    )
    client = client_for(alice)
    post_event(client, event)
    webhooks.event_process(event_pk=WebhookEvent.objects.get(event_id=event["id"]).pk)
    status = client.get(f"/billing/checkout/status/{attempt.session_id}/")
    assert b"expired without payment" in status.content
