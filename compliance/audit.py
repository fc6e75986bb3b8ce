"""`audit.record(...)`: the single way every service writes an audit event.

It writes in the caller's transaction (so if the audit write fails, the action fails)
and into the current schema's log: a tenant's own, or the public one for operator actions.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from compliance.models import AuditEvent
from portal.context import current_request_meta


def describe_actor(actor: Any) -> tuple[str, str, str]:
    """(type, id, label) for a member, operator, service account, agent or the system."""
    if actor is None:
        return "system", "", "system"
    kind = getattr(actor, "audit_actor_type", None)
    if kind is None:
        kind = "operator" if getattr(actor, "is_staff", False) else "member"
    label = getattr(actor, "email", None) or str(actor)
    return kind, str(getattr(actor, "pk", "") or ""), label[:254]


def describe_target(target: Any) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    meta = getattr(target, "_meta", None)
    kind = meta.label_lower if meta else type(target).__name__
    return kind[:64], str(getattr(target, "pk", "") or "")[:64], str(target)[:254]


def record(
    *,
    action: str,
    actor: Any = None,
    target: Any = None,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    actor_type, actor_id, actor_label = describe_actor(actor)
    target_type, target_id, target_label = describe_target(target)
    meta = current_request_meta()
    return AuditEvent.objects.create(
        occurred_at=timezone.now(),
        actor_type=actor_type,
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label,
        ip=meta.get("ip"),
        user_agent=meta.get("user_agent", "")[:400],
        request_id=meta.get("request_id", ""),
        payload=payload or {},
    )
