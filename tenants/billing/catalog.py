"""The plan catalogue in Stripe: one Product per paid plan, monthly/yearly/seat Prices.

Stripe Prices cannot change their amount, so a new amount makes a new Price and the old
one is archived (`active=false`); existing subscriptions keep the old Price until moved.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from compliance import audit
from tenants.billing import stripe_client
from tenants.models import Plan

PRICES = (
    ("stripe_price_monthly_id", "monthly_price_cents", "month", "base"),
    ("stripe_price_yearly_id", "yearly_price_cents", "year", "base"),
    ("stripe_price_seat_id", "seat_price_cents", "month", "seat"),
)


def _price_ok(price: dict[str, Any] | None, amount: int, interval: str, product: str) -> bool:
    if not price or not price.get("active", True):
        return False
    recurring = price.get("recurring") or {}
    return (
        int(price.get("unit_amount") or 0) == amount
        and recurring.get("interval", interval) == interval
        and price.get("product") == product
    )


def plan_sync(plan: Plan) -> list[str]:
    """Create or update the plan's Product and Prices in Stripe; returns what changed."""
    changes: list[str] = []
    metadata = {"tenantry_plan": plan.slug}
    if plan.stripe_product_id:
        stripe_client.product_update(plan.stripe_product_id, params={"name": plan.name, "metadata": metadata})
    else:
        product = stripe_client.product_create(
            params={"name": plan.name, "metadata": metadata}, idempotency_key=f"tenantry-product-{plan.slug}"
        )
        plan.stripe_product_id = product["id"]
        changes.append(f"product {product['id']}")
    for id_field, amount_field, interval, kind in PRICES:
        amount = getattr(plan, amount_field)
        current_id = getattr(plan, id_field)
        if not amount:
            continue
        current = stripe_client.price_retrieve(current_id) if current_id else None
        if _price_ok(current, amount, interval, plan.stripe_product_id):
            continue
        price = stripe_client.price_create(
            params={
                "product": plan.stripe_product_id,
                "unit_amount": amount,
                "currency": "usd",
                "recurring": {"interval": interval},
                "nickname": f"{plan.name} {kind} ({interval})",
                "metadata": {**metadata, "kind": kind},
            },
            idempotency_key=f"tenantry-price-{plan.slug}-{kind}-{interval}-{amount}",
        )
        if current and current.get("active", True):
            stripe_client.price_update(current["id"], params={"active": False})
        setattr(plan, id_field, price["id"])
        changes.append(f"{kind}/{interval} price {price['id']}")
    with transaction.atomic():
        plan.save()
        if changes:
            audit.record(action="billing.plan.sync", target=plan, payload={"changes": changes})
    return changes


def plans_sync() -> dict[str, list[str]]:
    """Every paid plan; the free plan has no Stripe objects."""
    return {plan.slug: plan_sync(plan) for plan in Plan.objects.all() if plan.monthly_price_cents}
