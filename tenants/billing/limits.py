"""Plan limits, enforced in the services that create things.

Other apps call, inside their (atomic) create service and before the insert:

    from tenants.billing import limits
    limits.check_limit(connection.tenant, "agents")

Without `current_count`, billing counts what exists now in the tenant's schema, the same way
the billing page and the downgrade preview count usage (`selectors.usage_count`), after
taking a transaction-level advisory lock per (schema, limit): two concurrent creates cannot
both take the last slot. `current_count`, when given, is how many exist *before* the new one.
`None` in a plan limit means unlimited. The error is a `ValidationError` keyed on
NON_FIELD_ERRORS (so page forms, `message_dict` users and the API all show it) whose message
names the plan, the limit and where to upgrade.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, transaction
from django_tenants.utils import schema_context

from tenants.models import Plan, Tenant

LIMIT_FIELDS = {
    "members": ("max_members", "members"),
    "agents": ("max_agents", "agents"),
    "environments": ("max_environments", "environments"),
    "secrets": ("max_secrets", "secrets"),
    "deploys_per_month": ("max_deploys_per_month", "deploys this month"),
    # Inviting someone reserves a seat: members plus pending invitations, against max_members.
    "seats": ("max_members", "members and pending invitations"),
}

# The portal's own keys kept in the vault (deployments' release-signing keys, by environment
# and name prefix) are not the tenant's secrets: they never count against the plan and their
# creation (first environment, key rotation) is never refused.
SYSTEM_SECRETS = (("release-signing", "deployments/release-signing/"),)


def is_system_secret(*, name: str, environment: str) -> bool:
    return any(environment == env and name.startswith(prefix) for env, prefix in SYSTEM_SECRETS)


class PlanLimitExceeded(ValidationError):
    def __init__(self, *, kind: str, limit: int, current: int, plan: Plan) -> None:
        self.kind, self.limit, self.current, self.plan = kind, limit, current, plan
        label = LIMIT_FIELDS[kind][1]
        self.message_text = (
            f"Your {plan.name} plan allows {limit} {label} and you have {current}. "
            "Upgrade your plan on the Billing page (/billing/) to add more."
        )
        super().__init__({NON_FIELD_ERRORS: [ValidationError(self.message_text, code="plan_limit")]})

    def __str__(self) -> str:
        return self.message_text


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


def _current_plan(tenant: Any) -> Plan | None:
    """The plan as stored now (the routing cache's Tenant may be seconds old after an upgrade)."""
    schema = getattr(tenant, "schema_name", None)
    if not schema or schema == "public":
        return None
    return Plan.objects.filter(tenants__schema_name=schema).first()


def _lock(schema: str, kind: str) -> None:
    """Serialise creates of one limited kind per tenant until the caller's transaction ends."""
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                [f"billing-limit:{schema}:{LIMIT_FIELDS[kind][0]}"],
            )


def check_limit(tenant: Any, kind: str, current_count: int | None = None) -> None:
    """Raise `PlanLimitExceeded` when one more `kind` would go over the tenant's plan.

    The community edition (one self-hosted tenant, no billing) has no plan limits.
    """
    from portal import editions

    if kind not in LIMIT_FIELDS:
        raise KeyError(f"unknown limit {kind!r}")
    if not editions.enabled("multi_tenant"):
        return
    plan = _current_plan(tenant)
    limit = limit_for(plan, kind)
    if limit is None or plan is None:
        return
    if current_count is None:
        from tenants.billing.selectors import usage_count

        schema = tenant.schema_name
        _lock(schema, kind)
        with schema_context(schema):
            current_count = usage_count(kind)
    if current_count >= limit:
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
