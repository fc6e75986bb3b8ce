"""Governance reads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from compliance.governance.models import (
    AIReviewItem,
    ConsentRecord,
    DataSubjectRequest,
    ErasedSubject,
    PolicyViolation,
)
from compliance.models import AuditEvent

MEMBER_FIELDS = ("id", "email", "name", "role", "is_active", "date_joined", "last_login")


def violations(*, resolved: bool | None = False) -> QuerySet[PolicyViolation]:
    qs = PolicyViolation.objects.select_related("resolved_by")
    return qs if resolved is None else qs.filter(resolved=resolved)


def open_dsrs() -> QuerySet[DataSubjectRequest]:
    return DataSubjectRequest.objects.filter(status=DataSubjectRequest.Status.RECEIVED).order_by("deadline")


def dsr_deadline_summary() -> dict[str, Any]:
    now = timezone.now()
    qs = open_dsrs()
    return {
        "open": qs.count(),
        "overdue": qs.filter(deadline__lt=now).count(),
        "due_within_7_days": qs.filter(deadline__gte=now, deadline__lt=now + timedelta(days=7)).count(),
        "next": list(qs[:5]),
    }


def pending_reviews() -> QuerySet[AIReviewItem]:
    return AIReviewItem.objects.filter(status=AIReviewItem.Status.PENDING).select_related(
        "system", "submitted_by"
    )


def _member(email: str) -> Any:
    return get_user_model().objects.filter(email__iexact=email).first()


def _audit_of(email: str, member: Any) -> QuerySet[AuditEvent]:
    q = Q(actor_label__iexact=email)
    if member is not None:
        q |= Q(actor_type="member", actor_id=str(member.pk))
        q |= Q(target_type="accounts.user", target_id=str(member.pk))
    return AuditEvent.objects.filter(q).order_by("id")


def person_is_known(*, email: str) -> bool:
    member = _member(email)
    return (
        member is not None
        or ConsentRecord.objects.filter(subject_email__iexact=email).exists()
        or _invitations(email).exists()
        or _audit_of(email, None).exists()
    )


def _invitations(email: str) -> Any:
    from tenants.members.models import Invitation

    return Invitation.objects.filter(email__iexact=email)


def person_data(*, email: str) -> dict[str, Iterable[Any]]:
    """Everything this tenant holds about one person, by kind (for a DSR export)."""
    member = _member(email)
    aliases = erased_aliases()
    data: dict[str, Iterable[Any]] = {
        "member": [{f: getattr(member, f) for f in MEMBER_FIELDS}] if member else [],
        "consent_records": list(
            ConsentRecord.objects.filter(subject_email__iexact=email).values(
                "id", "purpose", "granted", "source", "recorded_at", "withdrawn_at"
            )
        ),
        # A generator: a long audit history is streamed into the export, never held whole.
        "audit_events": (
            {
                "id": e.id,
                "time": e.occurred_at,
                "action": e.action,
                "target": f"{e.target_type}:{e.target_id}",
                "payload": e.payload,
                **audit_mask(e, aliases),
            }
            for e in _audit_of(email, member).iterator(chunk_size=2000)
        ),
        "policy_violations": list(
            PolicyViolation.objects.filter(
                Q(actor_label__iexact=email) | (Q(actor_id=str(member.pk)) if member else Q(pk__in=[]))
            ).values("id", "policy_name", "action", "outcome", "message", "occurred_at", "resolved")
        ),
        "invitations": list(
            _invitations(email).values("id", "role", "created_at", "expires_at", "accepted_at", "revoked_at")
        ),
        "data_subject_requests": list(
            DataSubjectRequest.objects.filter(subject_email__iexact=email).values(
                "id", "kind", "status", "received_at", "deadline", "completed_at"
            )
        ),
    }
    if member is not None:
        data["ai_reviews"] = list(
            AIReviewItem.objects.filter(Q(submitted_by=member) | Q(reviewer=member)).values(
                "id", "system__name", "subject", "status", "submitted_at", "reviewed_at"
            )
        )
    return data


def erased_aliases() -> dict[str, str]:
    """actor id → alias of every erased member of this tenant."""
    return dict(ErasedSubject.objects.values_list("actor_id", "alias"))


def audit_mask(event: AuditEvent, aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """The personal columns of an audit event as a reader may show them after erasures.

    For an erased actor (or an event that targets the erased member), the label, IP and
    user agent are replaced by the alias; the stored, hashed row is unchanged.
    """
    aliases = erased_aliases() if aliases is None else aliases
    shown = {
        "actor_label": event.actor_label,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "target_label": event.target_label,
    }
    if event.actor_type == "member" and event.actor_id in aliases:
        shown.update(actor_label=aliases[event.actor_id], ip=None, user_agent="")
    if event.target_type == "accounts.user" and event.target_id in aliases:
        shown["target_label"] = aliases[event.target_id]
    return shown
