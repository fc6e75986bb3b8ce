"""Tenant status follows payment: past_due → read_only → suspended, paying restores at once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.models import AuditEvent
from tenants.billing import services, webhooks
from tenants.billing.models import Subscription, WebhookEvent
from tenants.models import Tenant
from tests.billing.fixtures import make_event, post_event


@pytest.fixture
def acme_customer(acme, alice, stripe_on, db):
    return services.customer_ensure(tenant=acme, email=alice.email)


def _deliver(client, event_type, customer, invoice_id):
    obj = {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "amount_due": 4900,
        "created": int(time.time()),
    }
    post_event(client, make_event(event_type, obj))
    for pk in WebhookEvent.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True):
        webhooks.event_process(event_pk=pk)


def _status_audits(tenant):
    with schema_context("public"):
        public = AuditEvent.objects.filter(action="tenant.status", target_id=str(tenant.pk)).count()
    with schema_context(tenant.schema_name):
        own = AuditEvent.objects.filter(action="tenant.status").count()
    return public, own


def test_a_failed_payment_walks_the_dunning_path_and_paying_restores_active(
    anon_client, client_for, alice, acme, acme_customer, settings
):
    settings.BILLING_GRACE_DAYS = 7
    client = anon_client()
    before = _status_audits(acme)
    _deliver(client, "invoice.payment_failed", acme_customer.stripe_customer_id, "in_fail_1")
    acme.refresh_from_db()
    assert acme.status == "past_due"
    page = client_for(alice).get("/")
    assert b"Payment is overdue" in page.content

    start = Subscription.objects.get(tenant=acme).past_due_since
    assert services.dunning_advance(now=start + timedelta(days=6))["read_only"] == 0
    services.dunning_advance(now=start + timedelta(days=7, minutes=1))
    acme.refresh_from_db()
    assert acme.status == "read_only"
    refused = client_for(alice).post("/members/", {})
    assert refused.status_code == 403
    assert client_for(alice).get("/billing/").status_code == 200

    services.dunning_advance(now=start + timedelta(days=14, minutes=1))
    acme.refresh_from_db()
    assert acme.status == "suspended"
    assert client_for(alice).get("/").status_code == 403
    assert client_for(alice).get("/billing/").status_code == 200

    _deliver(client, "invoice.paid", acme_customer.stripe_customer_id, "in_fail_1")
    acme.refresh_from_db()
    assert acme.status == "active"
    assert Subscription.objects.get(tenant=acme).past_due_since is None
    after = _status_audits(acme)
    # active→past_due→read_only→suspended→active: four transitions, in both chains.
    assert (after[0] - before[0], after[1] - before[1]) == (4, 4)


def test_dunning_never_moves_backwards_or_touches_healthy_tenants(acme, acme_customer):
    Subscription.objects.filter(tenant=acme).update(past_due_since=timezone.now() - timedelta(days=30))
    services.tenant_set_status(tenant=acme, status="suspended", reason="test")
    services.dunning_advance()
    assert Tenant.objects.get(pk=acme.pk).status == "suspended"
    Subscription.objects.filter(tenant=acme).update(past_due_since=None)
    services.tenant_set_status(tenant=acme, status="active", reason="test")
    services.dunning_advance()
    assert Tenant.objects.get(pk=acme.pk).status == "active"


def test_dunning_deletes_nothing(anon_client, acme, acme_customer, settings):
    with schema_context(acme.schema_name):
        from portal.accounts.models import User

        members = User.objects.count()
    _deliver(anon_client(), "invoice.payment_failed", acme_customer.stripe_customer_id, "in_fail_2")
    start = Subscription.objects.get(tenant=acme).past_due_since
    services.dunning_advance(now=start + timedelta(days=60))
    with schema_context(acme.schema_name):
        assert User.objects.count() == members
    assert Tenant.objects.get(pk=acme.pk).status == "suspended"
