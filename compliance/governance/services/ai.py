"""AI-system register writes: systems, risk assessments, and the human review queue."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance import audit
from compliance.governance.models import AIReviewItem, AIRiskAssessment, AISystem
from tenants.members.permissions import authorize

RiskClass = AISystem.RiskClass


@transaction.atomic
def ai_system_save(*, actor: Any, system: AISystem | None = None, **fields: Any) -> AISystem:
    authorize(actor, "privacy.manage")
    allowed = {"name", "purpose", "provider", "status", "human_oversight", "owner"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(f"Cannot set {', '.join(sorted(unknown))}.")
    name = str(fields.get("name", system.name if system else "")).strip()
    if not name:
        raise ValidationError({"name": "An AI system needs a name."})
    clash = AISystem.objects.filter(name=name)
    if system is not None:
        clash = clash.exclude(pk=system.pk)
    if clash.exists():
        raise ValidationError({"name": f"An AI system named {name!r} is already registered."})
    created = system is None
    system = system or AISystem()
    for key, value in fields.items():
        setattr(system, key, value)
    _check_can_be_active(system)
    system.full_clean(exclude=["owner"])
    system.save()
    audit.record(
        action="ai.system.create" if created else "ai.system.update",
        actor=actor,
        target=system,
        payload={"status": system.status, "risk_class": system.risk_class},
    )
    return system


def _check_can_be_active(system: AISystem) -> None:
    if system.status != AISystem.Status.ACTIVE:
        return
    if system.risk_class == RiskClass.UNACCEPTABLE:
        raise ValidationError(
            {
                "status": "A system of unacceptable risk is prohibited by the EU AI Act (art. 5) "
                "and cannot be active."
            }
        )
    if system.risk_class == RiskClass.UNCLASSIFIED:
        raise ValidationError({"status": "Assess the system's risk class before making it active."})
    if system.risk_class == RiskClass.HIGH and not system.human_oversight.strip():
        raise ValidationError(
            {"human_oversight": "A high-risk system needs human oversight described (art. 14)."}
        )


@transaction.atomic
def ai_risk_assess(
    *,
    actor: Any,
    system: AISystem,
    risk_class: str,
    likelihood: int,
    impact: int,
    rationale: str,
    mitigations: str = "",
) -> AIRiskAssessment:
    authorize(actor, "privacy.manage")
    if risk_class not in (c for c in RiskClass.values if c != RiskClass.UNCLASSIFIED):
        raise ValidationError({"risk_class": "Choose unacceptable, high, limited or minimal."})
    for field, value in (("likelihood", likelihood), ("impact", impact)):
        if not isinstance(value, int) or not 1 <= value <= 5:
            raise ValidationError({field: "Give a number from 1 to 5."})
    if not rationale.strip():
        raise ValidationError({"rationale": "Explain the classification."})
    assessment = AIRiskAssessment.objects.create(
        system=system,
        risk_class=risk_class,
        likelihood=likelihood,
        impact=impact,
        rationale=rationale,
        mitigations=mitigations,
        assessed_by=actor,
    )
    system.risk_class = risk_class
    if risk_class == RiskClass.UNACCEPTABLE and system.status == AISystem.Status.ACTIVE:
        system.status = AISystem.Status.RETIRED  # prohibited practice: switched off at once
    system.save(update_fields=["risk_class", "status"])
    audit.record(
        action="ai.system.assess",
        actor=actor,
        target=system,
        payload={"risk_class": risk_class, "score": assessment.score, "status": system.status},
    )
    return assessment


@transaction.atomic
def ai_review_submit(
    *, actor: Any, system: AISystem, subject: str, proposed_outcome: str, model_output: Any = None
) -> AIReviewItem:
    """Queue a decision of a high-risk system for a human; it takes effect only once approved."""
    authorize(actor, "privacy.read")
    if system.risk_class != RiskClass.HIGH:
        raise ValidationError(
            {
                "system": f"{system.name} is classified {system.risk_class}; "
                "the review queue is for high-risk systems."
            }
        )
    if system.status != AISystem.Status.ACTIVE:
        raise ValidationError({"system": f"{system.name} is not active."})
    if not subject.strip() or not proposed_outcome.strip():
        raise ValidationError("Give the subject and the proposed outcome of the decision.")
    item = AIReviewItem.objects.create(
        system=system,
        subject=subject.strip()[:200],
        proposed_outcome=proposed_outcome,
        model_output=model_output if isinstance(model_output, dict) else {},
        submitted_by=actor,
    )
    audit.record(action="ai.review.submit", actor=actor, target=item, payload={"system": system.name})
    return item


@transaction.atomic
def ai_review_decide(*, actor: Any, item: AIReviewItem, approve: bool, note: str = "") -> AIReviewItem:
    authorize(actor, "privacy.manage")
    item = AIReviewItem.objects.select_for_update().get(pk=item.pk)
    if item.status != AIReviewItem.Status.PENDING:
        raise ValidationError(f"This decision was already {item.status}.")
    if item.submitted_by_id is not None and item.submitted_by_id == getattr(actor, "pk", None):
        raise ValidationError("A decision must be reviewed by someone other than who submitted it.")
    if not approve and not note.strip():
        raise ValidationError({"note": "Say why the decision is rejected."})
    item.status = AIReviewItem.Status.APPROVED if approve else AIReviewItem.Status.REJECTED
    item.reviewer = actor
    item.reviewed_at = timezone.now()
    item.review_note = note
    item.save(update_fields=["status", "reviewer", "reviewed_at", "review_note"])
    audit.record(
        action=f"ai.review.{'approve' if approve else 'reject'}",
        actor=actor,
        target=item,
        payload={"system": item.system.name},
    )
    return item
