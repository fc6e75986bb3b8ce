"""Billing reads: a tenant's usage and billing page, and the operator's revenue summary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldError
from django.db.models import Count, Q
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.billing.models import CheckoutAttempt, Invoice, ReconciliationMismatch, Subscription
from tenants.models import Plan, Tenant

CHURN_WINDOW_DAYS = 30


def _model(label: str) -> Any:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _count(label: str, **filters: Any) -> int:
    """Count rows of another app's model in the current schema; 0 while that app has none."""
    model = _model(label)
    if model is None:
        return 0
    try:
        return model._default_manager.filter(**filters).count()
    except FieldError:  # the other app renamed a field: count everything rather than fail
        return model._default_manager.count()


def month_start() -> Any:
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


USAGE_KINDS = ("members", "agents", "environments", "secrets", "deploys_per_month")


def usage_count(kind: str) -> int:
    """How many of one limited kind exist in the *current* schema (the plan limits' units)."""
    if kind == "members":
        return _count("accounts.User", is_active=True)
    if kind == "seats":  # invitations reserve a seat until accepted, revoked or expired
        pending = _count(
            "members.Invitation",
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        return usage_count("members") + pending
    if kind == "agents":
        return _count("deployments.Agent", status__in=["online", "offline"])
    if kind == "environments":
        return _count("deployments.Environment")
    if kind == "secrets":
        from tenants.billing.limits import SYSTEM_SECRETS

        model = _model("vault.Secret")
        if model is None:
            return 0
        secrets = model._default_manager.filter(deleted_at__isnull=True)
        for environment, prefix in SYSTEM_SECRETS:
            secrets = secrets.exclude(environment=environment, name__startswith=prefix)
        return secrets.count()
    if kind == "deploys_per_month":
        return _count("deployments.DeployRun", created_at__gte=month_start())
    raise KeyError(f"unknown limit {kind!r}")


def tenant_usage(tenant: Tenant) -> dict[str, int]:
    """What the tenant uses now, in the units of the plan limits."""
    with schema_context(tenant.schema_name):
        return {kind: usage_count(kind) for kind in USAGE_KINDS}


def subscription_for(tenant: Tenant) -> Subscription | None:
    return Subscription.objects.select_related("plan").filter(tenant=tenant).first()


def tenant_billing_overview(tenant: Tenant) -> dict[str, Any]:
    return {
        "plan": tenant.plan,
        "subscription": subscription_for(tenant),
        "invoices": list(Invoice.objects.filter(tenant=tenant)[:24]),
        "plans": list(Plan.objects.filter(is_public=True)),
        "usage": tenant_usage(tenant),
    }


def checkout_attempt_for(tenant: Tenant, session_id: str) -> CheckoutAttempt | None:
    """Only the tenant's own attempts: a session id from another tenant finds nothing."""
    return CheckoutAttempt.objects.filter(tenant=tenant, session_id=session_id).first()


def subscription_monthly_cents(sub: Subscription) -> int:
    plan = sub.plan
    if plan is None:
        return 0
    base = plan.yearly_price_cents // 12 if sub.interval == "year" else plan.monthly_price_cents
    # Seat prices are monthly figures whatever the interval.
    return base + plan.seat_price_cents * sub.seats


def revenue_summary() -> dict[str, Any]:
    """MRR and tenant counts for the operator dashboard (all amounts in cents)."""
    now = timezone.now()
    paying = Subscription.objects.select_related("plan").filter(
        status__in=[Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE]
    )
    mrr = sum(subscription_monthly_cents(sub) for sub in paying)
    by_status = dict(
        Tenant.objects.exclude(schema_name="public")
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    since = now - timedelta(days=CHURN_WINDOW_DAYS)
    failed = Invoice.objects.filter(payment_failed_at__gte=since)
    return {
        "mrr_cents": mrr,
        "currency": "usd",
        "active": Subscription.objects.filter(status=Subscription.Status.ACTIVE).count(),
        "trialing": Subscription.objects.filter(status=Subscription.Status.TRIALING).count(),
        "past_due": Subscription.objects.filter(
            Q(status__in=[Subscription.Status.PAST_DUE, Subscription.Status.UNPAID])
            | Q(past_due_since__isnull=False)
        ).count(),
        "churned": Subscription.objects.filter(
            status=Subscription.Status.CANCELED, canceled_at__gte=since
        ).count(),
        "failed_payments": failed.count(),
        "failed_payments_unpaid": failed.filter(paid_at__isnull=True).count(),
        "tenants_by_status": by_status,
        "open_mismatches": ReconciliationMismatch.objects.filter(resolved_at__isnull=True).count(),
        "window_days": CHURN_WINDOW_DAYS,
    }
