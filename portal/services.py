"""Operator-console writes: support access to a tenant's data."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django_tenants.utils import schema_context

from compliance import audit

SUPPORT_REASON_MIN_LENGTH = 10


@transaction.atomic
def support_access_record(*, tenant: Any, operator: Any, reason: str, section: str) -> None:
    """Audit one operator look at a tenant's data, in the tenant's own chain and the operator chain.

    The tenant's chain is the point: the tenant's admins see, in their own audit viewer,
    which operator looked at what and why. If either write fails, the caller shows nothing.
    """
    if not getattr(operator, "is_staff", False) or not getattr(operator, "is_active", False):
        raise PermissionDenied("Only platform operators may open support access.")
    reason = " ".join(reason.split())
    if len(reason) < SUPPORT_REASON_MIN_LENGTH:
        raise ValidationError({"reason": "Say why you need to look (at least 10 characters, e.g. a ticket)."})
    if tenant.schema_name == "public" or not tenant.is_ready:
        raise ValidationError("This tenant has no data to look at.")
    payload = {"section": section, "operator": operator.email, "reason": reason[:300]}
    with schema_context(tenant.schema_name):
        audit.record(action="support.access", actor=operator, target=tenant, payload=payload)
    with schema_context("public"):
        audit.record(action="support.access", actor=operator, target=tenant, payload=payload)
