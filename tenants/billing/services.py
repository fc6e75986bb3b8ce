"""Billing writes: customers, Checkout, the Customer Portal, plan changes, the subscription
mirror and dunning. Webhook intake is in `webhooks.py`, usage/seats in `metering.py`.

Stripe calls happen before the local transaction that records their result, so a Stripe
fault leaves no half-made local state. Tenant status changes go through
`tenants.services.tenant_set_status`, which audits into the operator's and the tenant's chain.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance import audit
from tenants.billing import stripe_client
from tenants.billing.limits import over_limits
from tenants.billing.models import CheckoutAttempt, Subscription
from tenants.billing.selectors import tenant_usage
from tenants.members.permissions import authorize
from tenants.models import Plan, Tenant
from tenants.services import tenant_set_status

log = logging.getLogger(__name__)

LIVE_STATUSES = frozenset({"trialing", "active", "past_due", "unpaid", "paused"})
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})
DUNNING_TENANT_STATUSES = frozenset(
    {Tenant.Status.PAST_DUE, Tenant.Status.READ_ONLY, Tenant.Status.SUSPENDED}
)
INTERVALS = ("month", "year")


class PlanChangeRefused(ValidationError):
    """A plan change the tenant's current usage does not fit; `over` lists what exceeds."""

    def __init__(self, *, plan: Plan, over: list[dict[str, Any]]) -> None:
        self.plan, self.over = plan, over
        items = "; ".join(f"{row['label']}: {row['current']} of {row['limit']}" for row in over)
        super().__init__(
            f"You cannot move to {plan.name} yet: {items}. Remove the extra items first.",
            code="plan_over_limits",
        )


def audit_both(*, tenant: Tenant, action: str, actor: Any = None, payload: dict[str, Any]) -> None:
    """One audit event in the operator's chain and one in the tenant's."""
    with schema_context("public"):
        audit.record(action=action, actor=actor, target=tenant, payload=payload)
    if tenant.is_ready and tenant.schema_name != "public":
        with schema_context(tenant.schema_name):
            audit.record(action=action, actor=actor, target=tenant, payload=payload)


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _require_billing() -> None:
    if not stripe_client.billing_enabled():
        raise ValidationError(
            "Billing is turned off on this installation; the operator assigns plans.", code="billing_off"
        )


# --- Customer, Checkout, Portal ------------------------------------------------------------
@transaction.atomic
def customer_ensure(*, tenant: Tenant, email: str = "") -> Subscription:
    """The tenant's Stripe Customer, created once (row lock + a per-tenant idempotency key)."""
    _require_billing()
    Subscription.objects.get_or_create(tenant=tenant)
    sub = Subscription.objects.select_for_update().get(tenant=tenant)
    if sub.stripe_customer_id:
        return sub
    customer = stripe_client.customer_create(
        params={
            "name": tenant.name,
            "email": email,
            "metadata": {"tenant_id": str(tenant.pk), "tenant_slug": tenant.slug},
        },
        idempotency_key=f"tenantry-customer-{tenant.pk}",
    )
    sub.stripe_customer_id = customer["id"]
    sub.save(update_fields=["stripe_customer_id", "updated_at"])
    with schema_context("public"):
        audit.record(action="billing.customer.create", target=tenant, payload={"customer": customer["id"]})
    return sub


def _plan_price_id(plan: Plan, interval: str) -> str:
    price = plan.stripe_price_yearly_id if interval == "year" else plan.stripe_price_monthly_id
    if not price:
        raise ValidationError(
            f"The {plan.name} plan is not set up for online payment yet. Please contact support.",
            code="plan_not_synced",
        )
    return price


def plan_change_preview(*, tenant: Tenant, plan: Plan) -> list[dict[str, Any]]:
    """What the tenant has beyond `plan`'s limits; empty when the change fits."""
    return over_limits(plan, tenant_usage(tenant))


def checkout_start(
    *, tenant: Tenant, plan: Plan, interval: str, actor: Any, base_url: str
) -> tuple[CheckoutAttempt, str]:
    """Create a subscription-mode Checkout Session; return the recorded attempt and its URL."""
    authorize(actor, "billing.manage")
    _require_billing()
    if interval not in INTERVALS or not plan.monthly_price_cents:
        raise ValidationError("Choose a paid plan and a monthly or yearly interval.", code="invalid")
    over = plan_change_preview(tenant=tenant, plan=plan)
    if over:
        raise PlanChangeRefused(plan=plan, over=over)
    price_id = _plan_price_id(plan, interval)
    sub = customer_ensure(tenant=tenant, email=getattr(actor, "email", ""))
    if sub.stripe_subscription_id and sub.status in LIVE_STATUSES:
        raise ValidationError(
            "You already have a subscription. Use “Change plan” or “Manage billing” instead.",
            code="already_subscribed",
        )
    line_items: list[dict[str, Any]] = [{"price": price_id, "quantity": 1}]
    if plan.stripe_price_seat_id:
        line_items.append(
            {"price": plan.stripe_price_seat_id, "quantity": max(1, tenant_usage(tenant)["members"])}
        )
    metadata = {"tenant_id": str(tenant.pk), "plan": plan.slug}
    session = stripe_client.checkout_session_create(
        params={
            "mode": "subscription",
            "customer": sub.stripe_customer_id,
            "client_reference_id": str(tenant.pk),
            "line_items": line_items,
            "success_url": f"{base_url}/billing/checkout/done/?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{base_url}/billing/",
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
        },
        idempotency_key=f"tenantry-checkout-{tenant.pk}-{uuid.uuid4().hex}",
    )
    with transaction.atomic():
        attempt = CheckoutAttempt.objects.create(
            tenant=tenant,
            session_id=session["id"],
            plan=plan,
            interval=interval,
            created_by=getattr(actor, "email", ""),
        )
        audit.record(
            action="billing.checkout.start",
            actor=actor,
            target=tenant,
            payload={"plan": plan.slug, "interval": interval, "session": session["id"]},
        )
    return attempt, str(session.get("url") or "")


def portal_session_start(*, tenant: Tenant, actor: Any, return_url: str) -> str:
    """A Billing Portal session for the tenant's owner/org_admin; returns its URL."""
    authorize(actor, "billing.manage")
    sub = customer_ensure(tenant=tenant, email=getattr(actor, "email", ""))
    session = stripe_client.portal_session_create(
        params={"customer": sub.stripe_customer_id, "return_url": return_url}
    )
    audit.record(action="billing.portal.open", actor=actor, target=tenant, payload={})
    return str(session["url"])


# --- Plan changes ----------------------------------------------------------------------------
def plan_change(*, tenant: Tenant, plan: Plan, actor: Any, interval: str = "month") -> Subscription | None:
    """Move a subscribed tenant to another plan (prorated by Stripe), or to Free at period end.

    Refused, with the list, when current usage exceeds the new plan. A tenant without a
    subscription upgrades through Checkout instead.
    """
    authorize(actor, "billing.manage")
    _require_billing()
    over = plan_change_preview(tenant=tenant, plan=plan)
    if over:
        raise PlanChangeRefused(plan=plan, over=over)
    sub = Subscription.objects.filter(tenant=tenant).first()
    if sub is None or not sub.stripe_subscription_id or sub.status not in LIVE_STATUSES:
        if plan.monthly_price_cents:
            raise ValidationError("Subscribe through Checkout to move to a paid plan.", code="needs_checkout")
        with transaction.atomic():
            _plan_set(tenant=tenant, plan=plan, actor=actor, reason="downgrade without subscription")
        return sub
    if not plan.monthly_price_cents:
        fetched = stripe_client.subscription_modify(
            sub.stripe_subscription_id,
            params={"cancel_at_period_end": True},
            idempotency_key=f"tenantry-cancel-{sub.stripe_subscription_id}",
        )
    else:
        current = stripe_client.subscription_retrieve(sub.stripe_subscription_id) or {}
        items = (current.get("items") or {}).get("data") or []
        base = next((i for i in items if stripe_client.item_price_id(i) != plan.stripe_price_seat_id), None)
        if base is None:
            raise ValidationError("Your subscription could not be read from Stripe.", code="stripe_state")
        fetched = stripe_client.subscription_modify(
            sub.stripe_subscription_id,
            params={
                # Stripe prorates by default (proration_behavior=create_prorations).
                "items": [{"id": base["id"], "price": _plan_price_id(plan, interval)}],
            },
            idempotency_key=f"tenantry-plan-{sub.stripe_subscription_id}-{plan.slug}-{uuid.uuid4().hex}",
        )
    with transaction.atomic():
        audit.record(action="billing.plan.request", actor=actor, target=tenant, payload={"plan": plan.slug})
        return subscription_apply(tenant=tenant, fetched=fetched, actor=actor)


def _plan_set(
    *, tenant: Tenant, plan: Plan | None, actor: Any = None, reason: str, extra: dict[str, Any] | None = None
) -> None:
    if plan is None or tenant.plan_id == plan.pk:
        return
    previous = tenant.plan.slug if tenant.plan else ""
    tenant.plan = plan
    tenant.save(update_fields=["plan", "updated_at"])
    audit_both(
        tenant=tenant,
        action="billing.plan.change",
        actor=actor,
        payload={"from": previous, "to": plan.slug, "reason": reason, **(extra or {})},
    )


@transaction.atomic
def plan_assign(*, tenant: Tenant, plan: Plan, actor: Any, force: bool = False, reason: str = "") -> Tenant:
    """The operator assigns a plan (how plans work when billing is off), audited in both chains.

    A plan the tenant's current usage does not fit is refused with the list of what exceeds
    it (`PlanChangeRefused`), unless the operator forces it and says why. Nothing is deleted
    either way: over the limits, the tenant simply cannot create more until it fits.
    """
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    reason = reason.strip()
    over = plan_change_preview(tenant=tenant, plan=plan) if tenant.is_ready else []
    if over and not force:
        raise PlanChangeRefused(plan=plan, over=over)
    if over and len(reason) < 5:
        raise ValidationError(
            {"reason": ["Say why you assign a plan the tenant's usage exceeds (at least 5 characters)."]}
        )
    extra: dict[str, Any] = {"forced": True, "over_limits": over} if over else {}
    _plan_set(tenant=tenant, plan=plan, actor=actor, reason=reason or "assigned by operator", extra=extra)
    return tenant


# --- The subscription mirror ----------------------------------------------------------------
def plan_for_price(price_id: str) -> tuple[Plan | None, str]:
    if not price_id:
        return None, ""
    plan = Plan.objects.filter(stripe_price_monthly_id=price_id).first()
    if plan:
        return plan, "month"
    plan = Plan.objects.filter(stripe_price_yearly_id=price_id).first()
    return (plan, "year") if plan else (None, "")


def _free_plan() -> Plan | None:
    return Plan.objects.filter(monthly_price_cents=0).order_by("sort_order", "id").first()


def _restore_active(*, tenant: Tenant, sub: Subscription, actor: Any, reason: str) -> None:
    sub.past_due_since = None
    if tenant.status in DUNNING_TENANT_STATUSES or tenant.status == Tenant.Status.TRIAL:
        tenant_set_status(tenant=tenant, status=Tenant.Status.ACTIVE, actor=actor, reason=reason)


def dunning_start(*, tenant: Tenant, sub: Subscription, reason: str) -> None:
    if sub.past_due_since is None:
        sub.past_due_since = timezone.now()
    if tenant.status in (Tenant.Status.ACTIVE, Tenant.Status.TRIAL):
        tenant_set_status(tenant=tenant, status=Tenant.Status.PAST_DUE, reason=reason)


@transaction.atomic
def subscription_apply(
    *, tenant: Tenant, fetched: dict[str, Any], actor: Any = None, dunning: bool = True
) -> Subscription | None:
    """Make the local mirror match a subscription just fetched from Stripe.

    Only a subscription of the tenant's own Stripe customer is applied. An ended
    subscription that is not the current one is ignored, so late events about an old
    subscription never undo a newer one.
    """
    sub = Subscription.objects.select_for_update().filter(tenant=tenant).first()
    if sub is None or not sub.stripe_customer_id or fetched.get("customer") != sub.stripe_customer_id:
        log.warning("subscription %s is not for tenant %s; ignored", fetched.get("id"), tenant.slug)
        return None
    status = fetched.get("status", "")
    if sub.stripe_subscription_id not in (None, "", fetched["id"]) and status not in LIVE_STATUSES:
        return None
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    items = (fetched.get("items") or {}).get("data") or []
    plan, interval = None, ""
    seats = 0
    for item in items:
        price_id = stripe_client.item_price_id(item)
        found, found_interval = plan_for_price(price_id)
        if found:
            plan, interval = found, found_interval
        elif Plan.objects.filter(stripe_price_seat_id=price_id).exists():
            seats = int(item.get("quantity") or 0)
    sub.stripe_subscription_id = fetched["id"]
    sub.status = status if status in Subscription.Status.values else sub.status
    sub.plan = plan or sub.plan
    sub.interval = interval or sub.interval
    sub.seats = seats or sub.seats
    sub.current_period_end = _ts(fetched.get("current_period_end")) or sub.current_period_end
    sub.cancel_at_period_end = bool(fetched.get("cancel_at_period_end"))
    sub.trial_end = _ts(fetched.get("trial_end"))
    sub.synced_at = timezone.now()
    if status in ENDED_STATUSES:
        sub.canceled_at = _ts(fetched.get("canceled_at") or fetched.get("ended_at")) or timezone.now()
        _plan_set(tenant=tenant, plan=_free_plan(), actor=actor, reason=f"subscription {status}")
        _restore_active(tenant=tenant, sub=sub, actor=actor, reason="subscription ended; moved to Free")
    elif status in ("active", "trialing"):
        sub.canceled_at = None
        _plan_set(tenant=tenant, plan=plan, actor=actor, reason=f"subscription {status}")
        if status == "active" or tenant.status in DUNNING_TENANT_STATUSES:
            _restore_active(tenant=tenant, sub=sub, actor=actor, reason=f"subscription {status}")
    elif status in ("past_due", "unpaid") and dunning:
        dunning_start(tenant=tenant, sub=sub, reason=f"subscription {status}")
    sub.save()
    return sub


@transaction.atomic
def invoice_paid_apply(*, tenant: Tenant) -> None:
    """Paying restores `active` at once, whatever stage of dunning the tenant was in."""
    sub = Subscription.objects.select_for_update().filter(tenant=tenant).first()
    if sub is None:
        return
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if tenant.status in DUNNING_TENANT_STATUSES or sub.past_due_since:
        _restore_active(tenant=tenant, sub=sub, actor=None, reason="invoice paid")
        sub.save(update_fields=["past_due_since", "updated_at"])


@transaction.atomic
def invoice_failed_apply(*, tenant: Tenant) -> None:
    sub = Subscription.objects.select_for_update().filter(tenant=tenant).first()
    if sub is None:
        return
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    dunning_start(tenant=tenant, sub=sub, reason="invoice payment failed")
    sub.save(update_fields=["past_due_since", "updated_at"])


# --- Dunning ---------------------------------------------------------------------------------
def dunning_stage(past_due_since: datetime, now: datetime) -> str:
    """past_due for the grace period, then read_only for as long again, then suspended."""
    grace = timedelta(days=settings.BILLING_GRACE_DAYS)
    elapsed = now - past_due_since
    if elapsed >= 2 * grace:
        return Tenant.Status.SUSPENDED
    if elapsed >= grace:
        return Tenant.Status.READ_ONLY
    return Tenant.Status.PAST_DUE


STAGE_ORDER = [Tenant.Status.PAST_DUE, Tenant.Status.READ_ONLY, Tenant.Status.SUSPENDED]


def dunning_advance(*, now: datetime | None = None) -> dict[str, int]:
    """Beat job: move overdue tenants one way only (past_due → read_only → suspended).

    Nothing is deleted; paying (invoice.paid) restores `active` at once.
    """
    now = now or timezone.now()
    moved: dict[str, int] = {"read_only": 0, "suspended": 0}
    order = [str(stage) for stage in STAGE_ORDER]
    for sub in Subscription.objects.filter(past_due_since__isnull=False).select_related("tenant"):
        if sub.past_due_since is None:
            continue
        with transaction.atomic():
            tenant = Tenant.objects.select_for_update().get(pk=sub.tenant_id)
            target = str(dunning_stage(sub.past_due_since, now))
            current = str(tenant.status)
            if current in order and order.index(target) > order.index(current):
                tenant_set_status(tenant=tenant, status=target, reason="unpaid invoice (dunning)")
                moved[target] = moved.get(target, 0) + 1
    return moved
