"""Policy and violation writes."""

from __future__ import annotations

import fnmatch
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance import audit
from compliance.governance import engine
from compliance.governance.conditions import validate_conditions
from compliance.governance.models import Policy, PolicyViolation
from compliance.governance.policy_templates import BY_KEY
from compliance.policies import ACTIONS
from tenants.members.permissions import authorize


def clean_applies_to(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.replace("\n", ",").split(",") if v.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError({"applies_to": "Give at least one action, e.g. deploy.run."})
    for pattern in value:
        if not any(fnmatch.fnmatchcase(a, pattern) for a in ACTIONS):
            raise ValidationError(
                {"applies_to": f"{pattern!r} matches no action. Known actions: {', '.join(ACTIONS)}."}
            )
    return value


def _clean(fields: dict[str, Any], *, instance: Policy | None = None) -> dict[str, Any]:
    if "applies_to" in fields:
        fields["applies_to"] = clean_applies_to(fields["applies_to"])
    if "conditions" in fields:
        fields["conditions"] = validate_conditions(fields["conditions"])
    if "action" in fields and fields["action"] not in Policy.Outcome.values:
        raise ValidationError({"action": "Choose block, warn or audit."})
    name = fields.get("name")
    if name is not None:
        if not str(name).strip():
            raise ValidationError({"name": "A policy needs a name."})
        clash = Policy.objects.filter(name=name)
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            raise ValidationError({"name": f"A policy named {name!r} already exists."})
    return fields


@transaction.atomic
def policy_create(
    *,
    actor: Any,
    name: str,
    applies_to: list[str] | str,
    conditions: Any,
    action: str = Policy.Outcome.BLOCK,
    enabled: bool = True,
    description: str = "",
    template: str = "",
) -> Policy:
    if actor is not None:
        authorize(actor, "policies.manage")
    fields = _clean({"name": name, "applies_to": applies_to, "conditions": conditions, "action": action})
    policy = Policy.objects.create(**fields, enabled=enabled, description=description, template=template)
    audit.record(
        action="policy.create",
        actor=actor,
        target=policy,
        payload={"applies_to": policy.applies_to, "action": policy.action, "enabled": enabled},
    )
    engine.policies_changed()
    return policy


@transaction.atomic
def policy_update(*, policy: Policy, actor: Any, **changes: Any) -> Policy:
    authorize(actor, "policies.manage")
    allowed = {"name", "description", "applies_to", "conditions", "action", "enabled"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Cannot change {', '.join(sorted(unknown))}.")
    changes = _clean(dict(changes), instance=policy)
    changed = sorted(k for k, v in changes.items() if getattr(policy, k) != v)
    for key, value in changes.items():
        setattr(policy, key, value)
    policy.save()
    audit.record(action="policy.update", actor=actor, target=policy, payload={"changed": changed})
    engine.policies_changed()
    return policy


@transaction.atomic
def policy_delete(*, policy: Policy, actor: Any) -> None:
    authorize(actor, "policies.manage")
    audit.record(action="policy.delete", actor=actor, target=policy, payload={"name": policy.name})
    policy.delete()
    engine.policies_changed()


@transaction.atomic
def policy_install_template(*, key: str, actor: Any, enabled: bool = True) -> Policy:
    template = BY_KEY.get(key)
    if template is None:
        raise ValidationError({"template": f"Unknown template {key!r}."})
    existing = Policy.objects.filter(template=key).first()
    if existing is not None:
        raise ValidationError({"template": f"{template.name!r} is already installed as {existing.name!r}."})
    return policy_create(
        actor=actor,
        name=template.name,
        description=template.description,
        applies_to=list(template.applies_to),
        conditions=template.conditions,
        action=template.action,
        enabled=enabled,
        template=key,
    )


@transaction.atomic
def violation_resolve(*, violation: PolicyViolation, actor: Any, note: str = "") -> PolicyViolation:
    authorize(actor, "policies.manage")
    if violation.resolved:
        raise ValidationError("This violation is already resolved.")
    violation.resolved = True
    violation.resolved_at = timezone.now()
    violation.resolved_by = actor
    violation.resolution_note = note[:400]
    violation.save(update_fields=["resolved", "resolved_at", "resolved_by", "resolution_note"])
    audit.record(
        action="policy.violation.resolve", actor=actor, target=violation, payload={"note": note[:400]}
    )
    return violation
