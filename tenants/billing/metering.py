"""Usage sent to Stripe: the seat quantity on the subscription, and daily meter events
(seats, active agents, deploys this month) with idempotency identifiers.

Meter events carry `identifier = tenantry:<tenant>:<metric>:<day>`; Stripe drops a second
event with the same identifier, and the local `UsageReport` row (unique identifier) stops
us from sending it twice in the first place. The meters are meant to aggregate with
"last" (they are gauges), so a late re-send never double-counts.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.billing import stripe_client
from tenants.billing.models import Subscription, UsageReport
from tenants.billing.selectors import tenant_usage
from tenants.models import Tenant

log = logging.getLogger(__name__)

METER_EVENTS = {
    "members": "tenantry_seats",
    "agents": "tenantry_active_agents",
    "deploys_per_month": "tenantry_deploys",
}
REPORTED_STATUSES = ("active", "trialing", "past_due")


def seats_sync(*, tenant: Tenant, key: str) -> int | None:
    """Set the seat item's quantity to the number of active members; returns it (None: no-op).

    `key` comes from the task arguments, so a Celery retry reuses the same idempotency key.
    """
    sub = Subscription.objects.select_related("tenant__plan").filter(tenant=tenant).first()
    plan = tenant.plan
    if sub is None or not sub.stripe_subscription_id or plan is None or not plan.stripe_price_seat_id:
        return None
    seats = max(1, tenant_usage(tenant)["members"])
    fetched = stripe_client.subscription_retrieve(sub.stripe_subscription_id)
    if fetched is None:
        return None
    items = (fetched.get("items") or {}).get("data") or []
    item = next((i for i in items if stripe_client.item_price_id(i) == plan.stripe_price_seat_id), None)
    if item is None:
        return None
    if int(item.get("quantity") or 0) != seats:
        # Stripe prorates by default (proration_behavior=create_prorations).
        stripe_client.subscription_modify(
            sub.stripe_subscription_id,
            params={"items": [{"id": item["id"], "quantity": seats}]},
            idempotency_key=f"tenantry-seats-{item['id']}-{seats}-{key}",
        )
    Subscription.objects.filter(pk=sub.pk).update(seats=seats, updated_at=timezone.now())
    return seats


def usage_report(*, tenant: Tenant, day: date | None = None) -> list[str]:
    """Send today's usage figures once; returns the identifiers sent now."""
    sub = Subscription.objects.filter(tenant=tenant).first()
    if sub is None or not sub.stripe_customer_id or sub.status not in REPORTED_STATUSES:
        return []
    period = (day or timezone.now().date()).isoformat()
    usage = tenant_usage(tenant)
    sent = []
    for metric, event_name in METER_EVENTS.items():
        identifier = f"tenantry:{tenant.pk}:{metric}:{period}"
        if UsageReport.objects.filter(identifier=identifier).exists():
            continue
        stripe_client.meter_event_create(
            event_name=event_name,
            customer_id=sub.stripe_customer_id,
            value=usage[metric],
            identifier=identifier,
        )
        try:
            with transaction.atomic():
                UsageReport.objects.create(
                    tenant=tenant, metric=metric, value=usage[metric], period=period, identifier=identifier
                )
        except IntegrityError:
            log.info("usage %s was recorded concurrently", identifier)
            continue
        sent.append(identifier)
    return sent


def usage_report_all() -> dict[str, Any]:
    subs = Subscription.objects.filter(status__in=REPORTED_STATUSES).select_related("tenant")
    return {sub.tenant.slug: usage_report(tenant=sub.tenant) for sub in subs}
