"""The webhook endpoint: signatures, tolerance, rotation, bad payloads, duplicates, order."""

from __future__ import annotations

import json
import time

import pytest

from compliance.models import AuditEvent
from tenants.billing import services, webhooks
from tenants.billing.models import Invoice, Subscription, WebhookEvent
from tenants.models import Tenant
from tests.billing.fixtures import (
    OLD_WEBHOOK_SECRET,
    make_event,
    paying_subscription,
    post_event,
    sign,
    stripe_client_for_tests,
)


@pytest.fixture
def acme_customer(acme, alice, stripe_on, db):
    return services.customer_ensure(tenant=acme, email=alice.email)


def _invoice(customer: str, invoice_id: str = "in_test_1", **extra) -> dict:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "number": "ACME-0001",
        "status": "open",
        "currency": "usd",
        "amount_due": 4900,
        "amount_paid": 0,
        "created": int(time.time()),
        **extra,
    }


def _process_all() -> None:
    for pk in WebhookEvent.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True):
        webhooks.event_process(event_pk=pk)


def test_it_rejects_a_bad_signature_and_stores_nothing(anon_client, stripe_on, acme_customer):
    event = make_event("invoice.paid", _invoice(acme_customer.stripe_customer_id))
    response = post_event(anon_client(), event, secret="whsec_wrong")
    assert response.status_code == 400
    assert not WebhookEvent.objects.filter(event_id=event["id"]).exists()


def test_it_rejects_a_replay_older_than_the_tolerance(anon_client, stripe_on, acme_customer):
    event = make_event("invoice.paid", _invoice(acme_customer.stripe_customer_id))
    response = post_event(anon_client(), event, timestamp=int(time.time()) - 301)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_rejects_a_malformed_payload_even_when_signed(anon_client, stripe_on):
    client = anon_client()
    for body in (b"{not json", json.dumps({"hello": "world"}).encode(), b'{"id": "evt_1", "type": "x"}'):
        response = client.post(
            "/billing/webhook/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(body)
        )
        assert response.status_code == 400
    assert client.post("/billing/webhook/", data=b"{}", content_type="application/json").status_code == 400
    assert not WebhookEvent.objects.exists()


def test_it_accepts_the_previous_secret_during_rotation(anon_client, stripe_on, acme_customer):
    event = make_event("invoice.paid", _invoice(acme_customer.stripe_customer_id))
    assert post_event(anon_client(), event, secret=OLD_WEBHOOK_SECRET).status_code == 200
    assert WebhookEvent.objects.filter(event_id=event["id"], status="pending").exists()


def test_it_works_on_tenant_domains_too_and_skips_csrf(client_for, alice, stripe_on, acme_customer):
    event = make_event("invoice.paid", _invoice(acme_customer.stripe_customer_id))
    client = client_for(alice)
    client.handler.enforce_csrf_checks = True
    assert post_event(client, event).status_code == 200


def test_the_same_event_delivered_twice_has_one_effect(
    anon_client, acme, stripe_on, acme_customer, celery_eager, django_capture_on_commit_callbacks
):
    event = make_event("invoice.paid", _invoice(acme_customer.stripe_customer_id, "in_dup"))
    client = anon_client()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = post_event(client, event)
        second = post_event(client, event)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["duplicate"] is True
    assert len([c for c in callbacks if "event_accept" in c.__qualname__]) == 1
    assert WebhookEvent.objects.filter(event_id=event["id"]).count() == 1
    # Even a duplicate *task* (a Celery redelivery) applies nothing twice.
    webhooks.event_process(event_pk=WebhookEvent.objects.get(event_id=event["id"]).pk)
    from django_tenants.utils import schema_context

    with schema_context(acme.schema_name):
        paid = AuditEvent.objects.filter(action="billing.invoice.paid", payload__invoice="in_dup").count()
    assert paid == 1
    assert Invoice.objects.get(stripe_invoice_id="in_dup").paid_at is not None


def test_subscription_deleted_before_created_ends_canceled(
    anon_client, acme, stripe_on, synced_plans, acme_customer
):
    stripe_sub = paying_subscription(
        stripe_on, acme_customer.stripe_customer_id, synced_plans["team"].stripe_price_monthly_id
    )
    stripe_client_for_tests(stripe_on).v1.subscriptions.cancel(stripe_sub["id"])
    obj = {"id": stripe_sub["id"], "object": "subscription", "customer": acme_customer.stripe_customer_id}
    client = anon_client()
    post_event(client, make_event("customer.subscription.deleted", {**obj, "status": "canceled"}))
    post_event(client, make_event("customer.subscription.created", {**obj, "status": "active"}))
    _process_all()
    sub = Subscription.objects.get(tenant=acme)
    assert sub.status == "canceled"
    assert sub.canceled_at is not None
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "free"


def test_an_updated_event_is_applied_from_stripe_not_from_its_body(
    anon_client, acme, stripe_on, synced_plans, acme_customer
):
    stripe_sub = paying_subscription(
        stripe_on, acme_customer.stripe_customer_id, synced_plans["team"].stripe_price_monthly_id
    )
    stale = {
        "id": stripe_sub["id"],
        "object": "subscription",
        "customer": acme_customer.stripe_customer_id,
        "status": "canceled",
    }
    post_event(anon_client(), make_event("customer.subscription.updated", stale))
    _process_all()
    sub = Subscription.objects.get(tenant=acme)
    assert (sub.status, sub.plan.slug) == ("active", "team")
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "team"


def test_trial_will_end_is_recorded_in_the_tenants_chain(
    anon_client, acme, stripe_on, synced_plans, acme_customer
):
    stripe_sub = paying_subscription(
        stripe_on, acme_customer.stripe_customer_id, synced_plans["team"].stripe_price_monthly_id
    )
    obj = {
        "id": stripe_sub["id"],
        "object": "subscription",
        "customer": acme_customer.stripe_customer_id,
        "trial_end": 1,
    }
    post_event(anon_client(), make_event("customer.subscription.trial_will_end", obj))
    _process_all()
    from django_tenants.utils import schema_context

    with schema_context(acme.schema_name):
        assert AuditEvent.objects.filter(action="billing.trial_will_end").exists()


def test_events_for_unknown_customers_and_types_are_ignored(anon_client, stripe_on):
    client = anon_client()
    post_event(client, make_event("invoice.paid", _invoice("cus_nobody", "in_x")))
    post_event(
        client, make_event("charge.refunded", {"id": "ch_1", "object": "charge", "customer": "cus_nobody"})
    )
    _process_all()
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"ignored"}
    assert not Invoice.objects.exists()


def test_admin_replays_an_event(
    client_for,
    oscar,
    anon_client,
    acme,
    stripe_on,
    acme_customer,
    celery_eager,
    django_capture_on_commit_callbacks,
):
    event = make_event("invoice.payment_failed", _invoice(acme_customer.stripe_customer_id, "in_replay"))
    post_event(anon_client(), event)
    _process_all()
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.status == "processed"
    admin = client_for(oscar)
    assert admin.get("/admin/billing/webhookevent/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/admin/billing/webhookevent/", {"action": "replay_events", "_selected_action": [stored.pk]}
        )
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.status == "processed"
    assert stored.attempts == 2
    assert AuditEvent.objects.filter(action="billing.webhook.replay").exists()
