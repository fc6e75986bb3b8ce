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

LIVE = ("active", "trialing", "past_due")


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
    subs = {
        sub.pk: sub
        for sub in Subscription.objects.exclude(stripe_customer_id=None).select_related("plan", "tenant")
    }
    findings: dict[int, list[tuple[str, str, str]]] = {pk: [] for pk in subs}
    known = {sub.stripe_subscription_id for sub in subs.values() if sub.stripe_subscription_id}
    for sub in subs.values():
        if sub.stripe_subscription_id:
            findings[sub.pk] += _compare(sub, stripe_client.subscription_retrieve(sub.stripe_subscription_id))
    # Live subscriptions of our customers that we have never mirrored (a lost webhook).
    by_customer = {sub.stripe_customer_id: sub for sub in subs.values()}
    for fetched in stripe_client.subscription_list(status="all"):
        owner = by_customer.get(fetched.get("customer"))
        if owner is not None and fetched["id"] not in known and fetched.get("status") in LIVE:
            findings[owner.pk].append(("unmirrored", owner.stripe_subscription_id or "", fetched["id"]))
    recorded = sum(_record(subs[pk], rows, now) for pk, rows in findings.items())
    checked = sum(1 for sub in subs.values() if sub.stripe_subscription_id)
    return {"checked": checked, "mismatches": recorded}


@transaction.atomic
def _record(sub: Subscription, findings: list[tuple[str, str, str]], now: Any) -> int:
    """Open a row per new finding; resolve open rows that no longer hold. Returns new rows."""
    wanted = {(field, local[:200], remote[:200]) for field, local, remote in findings}
    open_rows = ReconciliationMismatch.objects.filter(tenant=sub.tenant, resolved_at__isnull=True)
    existing = set()
    for row in open_rows:
        key = (row.field, row.local_value, row.stripe_value)
        if key in wanted:
            existing.add(key)
        else:
            row.resolved_at = now
            row.save(update_fields=["resolved_at"])
    for field, local, remote in sorted(wanted - existing):
        ReconciliationMismatch.objects.create(
            tenant=sub.tenant,
            stripe_subscription_id=sub.stripe_subscription_id or "",
            field=field,
            local_value=local,
            stripe_value=remote,
        )
    return len(wanted - existing)
