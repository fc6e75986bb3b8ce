"""Nightly reconciliation: compare every local subscription mirror with Stripe.

Differences are listed in the admin (`ReconciliationMismatch`); findings that no longer
hold are marked resolved. Nothing is changed automatically: the operator decides, e.g.
by replaying the webhook event that was missed.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from tenants.billing import stripe_client
from tenants.billing.models import ReconciliationMismatch, Subscription
from tenants.billing.services import plan_for_price


def _compare(sub: Subscription, fetched: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    if fetched is None:
        return [("subscription", sub.stripe_subscription_id or "", "missing in Stripe")]
    found: list[tuple[str, str, str]] = []
    if fetched.get("status") != sub.status:
        found.append(("status", sub.status, str(fetched.get("status"))))
    if fetched.get("customer") != sub.stripe_customer_id:
        found.append(("customer", sub.stripe_customer_id or "", str(fetched.get("customer"))))
    items = (fetched.get("items") or {}).get("data") or []
    plans = [plan_for_price(stripe_client.item_price_id(item))[0] for item in items]
    stripe_plan = next((p.slug for p in plans if p is not None), "")
    local_plan = sub.plan.slug if sub.plan else ""
    if stripe_plan != local_plan:
        found.append(("plan", local_plan, stripe_plan))
    return found


def reconcile() -> dict[str, int]:
    """Compare every mirrored subscription; record new mismatches and resolve stale ones."""
    now = timezone.now()
    checked = recorded = 0
    known: set[str] = set()
    for sub in Subscription.objects.exclude(stripe_subscription_id=None).select_related("plan", "tenant"):
        checked += 1
        known.add(sub.stripe_subscription_id or "")
        findings = _compare(sub, stripe_client.subscription_retrieve(sub.stripe_subscription_id or ""))
        recorded += _record(sub, findings, now)
    # Live subscriptions of our customers that we have never mirrored (a lost webhook).
    customers = dict(
        Subscription.objects.exclude(stripe_customer_id=None).values_list("stripe_customer_id", "pk")
    )
    for fetched in stripe_client.subscription_list(status="all"):
        if (
            fetched.get("customer") in customers
            and fetched["id"] not in known
            and fetched.get("status")
            in (
                "active",
                "trialing",
                "past_due",
            )
        ):
            sub = Subscription.objects.get(pk=customers[fetched["customer"]])
            recorded += _record(sub, [("subscription", sub.stripe_subscription_id or "", fetched["id"])], now)
    return {"checked": checked, "mismatches": recorded}


@transaction.atomic
def _record(sub: Subscription, findings: list[tuple[str, str, str]], now: Any) -> int:
    open_rows = ReconciliationMismatch.objects.filter(tenant=sub.tenant, resolved_at__isnull=True)
    fields = {field for field, _, _ in findings}
    open_rows.exclude(field__in=fields).update(resolved_at=now)
    created = 0
    for field, local, remote in findings:
        row = open_rows.filter(field=field).first()
        if row and (row.local_value, row.stripe_value) == (local[:200], remote[:200]):
            continue
        if row:
            row.resolved_at = now
            row.save(update_fields=["resolved_at"])
        ReconciliationMismatch.objects.create(
            tenant=sub.tenant,
            stripe_subscription_id=sub.stripe_subscription_id or "",
            field=field,
            local_value=local[:200],
            stripe_value=remote[:200],
        )
        created += 1
    return created
