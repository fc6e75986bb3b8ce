"""Seats follow members; usage goes to Stripe once per day and metric (idempotency identifiers)."""

from __future__ import annotations

import pytest

from tenants.billing import metering, services
from tenants.billing.models import Subscription, UsageReport
from tests.billing.fixtures import paying_subscription, stripe_client_for_tests


@pytest.fixture
def acme_on_team(acme, alice, synced_plans, stripe_on, db):
    """Acme subscribed to Team; the Stripe subscription carries the seat price (quantity 1)."""
    sub = services.customer_ensure(tenant=acme, email=alice.email)
    stripe_sub = paying_subscription(
        stripe_on, sub.stripe_customer_id, synced_plans["team"].stripe_price_seat_id
    )
    fetched = stripe_client_for_tests(stripe_on).v1.subscriptions.retrieve(stripe_sub["id"]).to_dict()
    # The seat-only subscription has no base price; give the mirror its plan as Checkout would.
    Subscription.objects.filter(pk=sub.pk).update(plan=synced_plans["team"], interval="month")
    services.subscription_apply(tenant=acme, fetched=fetched)
    acme.refresh_from_db()
    acme.plan = synced_plans["team"]
    acme.save(update_fields=["plan"])
    return Subscription.objects.get(pk=sub.pk)


def test_seat_quantity_follows_members_with_an_idempotency_key(acme, acme_on_team, stripe_on):
    seats = metering.seats_sync(tenant=acme, key="k1")
    assert seats == 2  # Alice and Bob
    fetched = stripe_client_for_tests(stripe_on).v1.subscriptions.retrieve(
        acme_on_team.stripe_subscription_id
    )
    assert fetched["items"]["data"][0]["quantity"] == 2
    calls = stripe_on.calls(f"/v1/subscriptions/{acme_on_team.stripe_subscription_id}")
    call = [c for c in calls if c.method == "POST"][-1]
    assert call.params["items"]["0"]["quantity"] == "2"
    assert call.idempotency_key.startswith("tenantry-seats-")
    assert Subscription.objects.get(pk=acme_on_team.pk).seats == 2
    before = len([c for c in stripe_on.requests if c.method == "POST"])
    metering.seats_sync(tenant=acme, key="k2")  # nothing changed: nothing sent
    assert len([c for c in stripe_on.requests if c.method == "POST"]) == before


def test_usage_is_reported_once_per_metric_and_day(acme, acme_on_team, stripe_on):
    sent = metering.usage_report(tenant=acme)
    assert len(sent) == 3
    assert metering.usage_report(tenant=acme) == []
    assert UsageReport.objects.filter(tenant=acme).count() == 3
    for identifier in sent:
        event = stripe_on.meter_events[identifier]
        assert event["payload"]["stripe_customer_id"] == acme_on_team.stripe_customer_id
    seats = next(i for i in sent if ":members:" in i)
    assert stripe_on.meter_events[seats]["payload"]["value"] == "2"
    calls = [c for c in stripe_on.calls("/v1/billing/meter_events") if c.params["identifier"] in sent]
    assert all(c.idempotency_key == c.params["identifier"] for c in calls)


def test_tenants_without_a_subscription_report_nothing(acme, stripe_on, db):
    assert metering.usage_report(tenant=acme) == []


def test_adding_a_member_updates_the_seat_quantity(
    acme, acme_on_team, stripe_on, celery_eager, django_capture_on_commit_callbacks
):
    from django_tenants.utils import tenant_context

    from tenants.members.services import member_create

    with django_capture_on_commit_callbacks(execute=True), tenant_context(acme):
        member_create(email="carol@acme.test", role="viewer")
    fetched = stripe_client_for_tests(stripe_on).v1.subscriptions.retrieve(
        acme_on_team.stripe_subscription_id
    )
    assert fetched["items"]["data"][0]["quantity"] == 3
    assert Subscription.objects.get(pk=acme_on_team.pk).seats == 3
