"""Plan changes of a subscribed tenant go to Stripe (prorated); Free means cancel at period end."""

from __future__ import annotations

import pytest

from tenants.billing import services
from tenants.billing.models import Subscription
from tenants.models import Tenant
from tests.billing.fixtures import paying_subscription, stripe_client_for_tests


@pytest.fixture
def acme_on_team(acme, alice, synced_plans, stripe_on, db):
    sub = services.customer_ensure(tenant=acme, email=alice.email)
    stripe_sub = paying_subscription(
        stripe_on, sub.stripe_customer_id, synced_plans["team"].stripe_price_monthly_id
    )
    fetched = stripe_client_for_tests(stripe_on).v1.subscriptions.retrieve(stripe_sub["id"]).to_dict()
    services.subscription_apply(tenant=acme, fetched=fetched)
    return Subscription.objects.get(pk=sub.pk)


def test_upgrade_moves_the_subscription_to_the_new_price(
    client_for, alice, acme, acme_on_team, synced_plans, stripe_on
):
    client = client_for(alice)
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "team"
    preview = client.get("/billing/change/business/")
    assert b"Everything you use fits" in preview.content
    response = client.post("/billing/change/business/", {"interval": "month", "confirm": "on"})
    assert response.status_code == 302
    fetched = stripe_client_for_tests(stripe_on).v1.subscriptions.retrieve(
        acme_on_team.stripe_subscription_id
    )
    assert fetched["items"]["data"][0]["price"]["id"] == synced_plans["business"].stripe_price_monthly_id
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "business"
    assert Subscription.objects.get(pk=acme_on_team.pk).plan.slug == "business"


def test_downgrade_to_free_cancels_at_period_end_and_keeps_the_plan_until_then(
    client_for, alice, acme, acme_on_team, stripe_on
):
    response = client_for(alice).post("/billing/change/free/", {"interval": "month", "confirm": "on"})
    assert response.status_code == 302
    fetched = stripe_client_for_tests(stripe_on).v1.subscriptions.retrieve(
        acme_on_team.stripe_subscription_id
    )
    assert fetched["cancel_at_period_end"] is True
    sub = Subscription.objects.get(pk=acme_on_team.pk)
    assert sub.cancel_at_period_end is True
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "team"
    assert b"It will end then" in client_for(alice).get("/billing/").content


def test_a_subscribed_tenant_is_not_sent_to_checkout_again(client_for, alice, acme, acme_on_team, stripe_on):
    before = len(stripe_on.calls("/v1/checkout/sessions"))
    response = client_for(alice).post(
        "/billing/checkout/", {"plan": "business", "interval": "month"}, follow=True
    )
    assert b"You already have a subscription" in response.content
    assert len(stripe_on.calls("/v1/checkout/sessions")) == before


def test_beat_schedule_has_the_billing_jobs():
    from portal.celery import app
    from tenants.billing import tasks

    names = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {tasks.dunning_advance.name, tasks.reconcile.name, tasks.usage_report_all.name} <= names
