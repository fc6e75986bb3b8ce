"""Operator view (revenue summary) and the nightly reconciliation."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tenants.billing import reconciliation, services
from tenants.billing.models import Invoice, ReconciliationMismatch, Subscription
from tenants.billing.selectors import revenue_summary
from tests.billing.fixtures import paying_subscription


def test_revenue_summary_counts_mrr_states_and_failed_payments(acme, globex, platform, db):
    from tenants.models import Plan

    team, business = Plan.objects.get(slug="team"), Plan.objects.get(slug="business")
    Subscription.objects.create(tenant=acme, status="active", plan=team, interval="month", seats=3)
    Subscription.objects.create(tenant=globex, status="active", plan=business, interval="year", seats=0)
    summary = revenue_summary()
    assert summary["mrr_cents"] == 4900 + 3 * 900 + 199000 // 12
    assert summary["active"] == 2
    Subscription.objects.filter(tenant=globex).update(status="canceled", canceled_at=timezone.now())
    Invoice.objects.create(tenant=acme, stripe_invoice_id="in_f", payment_failed_at=timezone.now())
    Invoice.objects.create(
        tenant=acme, stripe_invoice_id="in_old", payment_failed_at=timezone.now() - timedelta(days=90)
    )
    summary = revenue_summary()
    assert (summary["active"], summary["churned"], summary["failed_payments"]) == (1, 1, 1)
    assert summary["mrr_cents"] == 4900 + 3 * 900
    assert set(summary) >= {"mrr_cents", "active", "trialing", "past_due", "churned", "failed_payments"}


def test_operator_sees_the_revenue_page(client_for, oscar):
    page = client_for(oscar).get("/admin/billing/subscription/revenue/")
    assert page.status_code == 200
    assert b"MRR" in page.content
    assert b"Failed payments" in page.content


def test_reconciliation_lists_mismatches_once_and_resolves_them(acme, alice, synced_plans, stripe_on):
    sub = services.customer_ensure(tenant=acme, email=alice.email)
    stripe_sub = paying_subscription(
        stripe_on, sub.stripe_customer_id, synced_plans["team"].stripe_price_monthly_id
    )
    Subscription.objects.filter(pk=sub.pk).update(
        stripe_subscription_id=stripe_sub["id"], status="past_due", plan=synced_plans["team"]
    )
    assert reconciliation.reconcile()["mismatches"] >= 1
    row = ReconciliationMismatch.objects.get(tenant=acme, field="status", resolved_at__isnull=True)
    assert (row.field, row.local_value, row.stripe_value) == ("status", "past_due", "active")
    assert reconciliation.reconcile()["mismatches"] == 0  # not listed twice
    Subscription.objects.filter(pk=sub.pk).update(status="active")
    reconciliation.reconcile()
    row.refresh_from_db()
    assert row.resolved_at is not None


def test_operator_sees_mismatches_in_the_admin(client_for, oscar, acme, db):
    ReconciliationMismatch.objects.create(
        tenant=acme, field="status", local_value="active", stripe_value="canceled"
    )
    page = client_for(oscar).get("/admin/billing/reconciliationmismatch/?state=open")
    assert page.status_code == 200
    assert b"canceled" in page.content
