"""Plan limits, enforced in the services that create things.

Other apps call, inside their create service and before the insert:

    from tenants.billing.limits import check_limit
    check_limit(connection.tenant, "agents", Agent.objects.exclude(status="revoked").count())

`current_count` is how many exist *before* the new one; `None` in a plan limit means
unlimited. The error is a `ValidationError` (so forms and the API show it) whose message
names the plan, the limit and where to upgrade.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from tenants.models import Plan, Tenant

LIMIT_FIELDS = {
    "members": ("max_members", "members"),
    "agents": ("max_agents", "agents"),
    "environments": ("max_environments", "environments"),
    "secrets": ("max_secrets", "secrets"),
    "deploys_per_month": ("max_deploys_per_month", "deploys this month"),
}


class PlanLimitExceeded(ValidationError):
    def __init__(self, *, kind: str, limit: int, current: int, plan: Plan) -> None:
        self.kind, self.limit, self.current, self.plan = kind, limit, current, plan
        label = LIMIT_FIELDS[kind][1]
        super().__init__(
            f"Your {plan.name} plan allows {limit} {label} and you have {current}. "
            "Upgrade your plan on the Billing page (/billing/) to add more.",
            code="plan_limit",
        )


def _real_tenant(tenant: Any) -> Tenant | None:
    """django-tenants' schema_context gives a FakeTenant without a plan; load the real row."""
    if isinstance(tenant, Tenant):
        return tenant
    schema = getattr(tenant, "schema_name", None)
    return Tenant.objects.select_related("plan").filter(schema_name=schema).first() if schema else None


def limit_for(plan: Plan | None, kind: str) -> int | None:
    if kind not in LIMIT_FIELDS:
        raise KeyError(f"unknown limit {kind!r}")
    return getattr(plan, LIMIT_FIELDS[kind][0]) if plan is not None else None


def check_limit(tenant: Any, kind: str, current_count: int) -> None:
    """Raise `PlanLimitExceeded` when one more `kind` would go over the tenant's plan."""
    real = _real_tenant(tenant)
    plan = real.plan if real is not None else None
    limit = limit_for(plan, kind)
    if limit is not None and plan is not None and current_count >= limit:
        raise PlanLimitExceeded(kind=kind, limit=limit, current=current_count, plan=plan)


def over_limits(plan: Plan, usage: dict[str, int]) -> list[dict[str, Any]]:
    """What `usage` has beyond `plan`'s limits: [{kind, label, limit, current}], empty if it fits."""
    rows = []
    for kind, (_field, label) in LIMIT_FIELDS.items():
        limit = limit_for(plan, kind)
        current = usage.get(kind, 0)
        if limit is not None and current > limit:
            rows.append({"kind": kind, "label": label, "limit": limit, "current": current})
    return rows


def seats_changed(tenant: Any) -> None:
    """Call after a member is added, removed or (de)activated: the seat quantity follows."""
    real = _real_tenant(tenant)
    if real is None or real.schema_name == "public":
        return
    from tenants.billing.stripe_client import billing_enabled

    if not billing_enabled():
        return
    from tenants.billing import tasks

    tenant_id, key = real.pk, uuid.uuid4().hex  # the key survives Celery retries
    transaction.on_commit(lambda: tasks.seats_sync.delay(tenant_id, key))
