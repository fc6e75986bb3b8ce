"""GDPR writes: data-subject requests (export, erase), consent records, DPIAs.

Personal data never goes into an audit payload here: the audit chain hashes its payload and
its label columns, so what enters it can never be erased. Audit events name a DSR by id and
by a per-tenant salted digest of the email instead.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
import zipfile
from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from compliance import audit
from compliance.governance import selectors
from compliance.governance.models import (
    DSR_DEADLINE_DAYS,
    ConsentRecord,
    DataSubjectRequest,
    Dpia,
    ErasedSubject,
)
from tenants.members.permissions import authorize


def subject_digest(email: str) -> str:
    """Per-tenant salted digest of an email: links records of one person without storing them."""
    schema = getattr(connection, "schema_name", "public")
    return salted_hmac(f"governance.subject.{schema}", email.strip().lower(), algorithm="sha256").hexdigest()


def pseudonym(email: str) -> str:
    return f"erased-{subject_digest(email)[:16]}@erased.invalid"


@transaction.atomic
def dsr_create(*, actor: Any, kind: str, subject_email: str, notes: str = "") -> DataSubjectRequest:
    authorize(actor, "privacy.manage")
    if kind not in DataSubjectRequest.Kind.values:
        raise ValidationError({"kind": "Choose export or erase."})
    email = (subject_email or "").strip().lower()
    if not email or "@" not in email:
        raise ValidationError({"subject_email": "Enter the email address of the person."})
    if not selectors.person_is_known(email=email):
        raise ValidationError(
            {
                "subject_email": f"No one with the email {email} is known to this workspace (no member, "
                "consent record or audit event). Check the address; there is nothing to "
                f"{kind}."
            }
        )
    now = timezone.now()
    dsr = DataSubjectRequest.objects.create(
        kind=kind,
        subject_email=email,
        subject_digest=subject_digest(email),
        received_at=now,
        deadline=now + timedelta(days=DSR_DEADLINE_DAYS),
        notes=notes,
        requested_by=actor,
    )
    audit.record(
        action="privacy.dsr.create",
        actor=actor,
        target=dsr,
        payload={"kind": kind, "subject": dsr.subject_digest, "deadline": dsr.deadline.isoformat()},
    )
    return dsr


@transaction.atomic
def dsr_reject(*, dsr: DataSubjectRequest, actor: Any, reason: str) -> DataSubjectRequest:
    authorize(actor, "privacy.manage")
    _require_open(dsr)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the request is rejected."})
    dsr.status = DataSubjectRequest.Status.REJECTED
    dsr.completed_at = timezone.now()
    dsr.notes = (dsr.notes + "\n" if dsr.notes else "") + f"Rejected: {reason}"
    dsr.save(update_fields=["status", "completed_at", "notes"])
    audit.record(action="privacy.dsr.reject", actor=actor, target=dsr, payload={"kind": dsr.kind})
    return dsr


def _require_open(dsr: DataSubjectRequest) -> None:
    if not dsr.is_open:
        raise ValidationError(f"This request is already {dsr.status}.")


@transaction.atomic
def dsr_fulfil(*, dsr: DataSubjectRequest, actor: Any) -> DataSubjectRequest:
    """Run the export or the erasure of a received request."""
    authorize(actor, "privacy.manage")
    dsr = DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)
    _require_open(dsr)
    summary = _export(dsr) if dsr.kind == DataSubjectRequest.Kind.EXPORT else _erase(dsr, actor=actor)
    dsr.status = DataSubjectRequest.Status.COMPLETED
    dsr.completed_at = timezone.now()
    dsr.result_summary = summary
    dsr.save()
    audit.record(action=f"privacy.dsr.{dsr.kind}", actor=actor, target=dsr, payload={"summary": summary})
    return dsr


def _export(dsr: DataSubjectRequest) -> dict[str, Any]:
    """Write the zip to a temporary file row by row (sha256 per file), then to storage."""
    parts = selectors.person_data(email=dsr.subject_email)
    manifest: dict[str, str] = {}
    counts: dict[str, int] = {}
    with tempfile.TemporaryFile() as spool:
        with zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, rows in parts.items():
                digest, count = hashlib.sha256(), 0
                with archive.open(f"{name}.jsonl", "w") as entry:
                    for row in rows:
                        line = (json.dumps(row, default=str, sort_keys=True) + "\n").encode()
                        entry.write(line)
                        digest.update(line)
                        count += 1
                manifest[f"{name}.jsonl"], counts[name] = digest.hexdigest(), count
            archive.writestr(
                "manifest.json",
                json.dumps(
                    {"request": dsr.pk, "generated_at": timezone.now().isoformat(), "sha256": manifest},
                    indent=2,
                ),
            )
        spool.seek(0)
        dsr.result_file = default_storage.save(
            f"governance/dsr/{dsr.pk}/export-{secrets.token_hex(8)}.zip", File(spool)
        )
    return {"files": counts}


def _erase(dsr: DataSubjectRequest, *, actor: Any) -> dict[str, Any]:
    from tenants.members.services import email_index_remove

    email = dsr.subject_email
    alias = pseudonym(email)
    summary: dict[str, Any] = {}
    user = get_user_model().objects.filter(email__iexact=email).first()
    if user is not None:
        if actor is not None and user.pk == actor.pk:
            raise ValidationError("You cannot erase yourself; ask another administrator.")
        user.email = alias
        user.name = ""
        user.is_active = False
        user.set_unusable_password()
        user.save()
        from tenants.members.access import access_version_bump

        access_version_bump(user.pk)  # their open websockets close at the next message
        email_index_remove(email=email)
        summary["member"] = "anonymised"
        summary["mfa_devices_deleted"] = _delete_devices(user)
        summary.update(_delete_identity_records(user))
    summary["invitations"] = _forget_invitations(email, alias)
    summary["consent_records"] = ConsentRecord.objects.filter(subject_email__iexact=email).update(
        subject_email=alias
    )
    from compliance.governance.models import PolicyViolation

    summary["policy_violations"] = PolicyViolation.objects.filter(actor_label__iexact=email).update(
        actor_label=alias
    )
    summary["audit"] = _erase_audit(dsr=dsr, email=email, user=user)
    # Earlier requests of the same person lose the address too; the digest keeps them linked.
    DataSubjectRequest.objects.filter(subject_digest=dsr.subject_digest).exclude(pk=dsr.pk).update(
        subject_email=""
    )
    dsr.subject_email = ""
    return summary


def _delete_identity_records(user: Any) -> dict[str, int]:
    """allauth's address book and SSO links (their `extra_data` keeps the IdP's profile: email,
    name, groups), and the member's session index (IP, user agent): all personal, none needed."""
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount

    from tenants.members.models import MemberSession

    return {
        "email_addresses_deleted": EmailAddress.objects.filter(user=user).delete()[0],
        "sso_links_deleted": SocialAccount.objects.filter(user=user).delete()[0],
        "sessions_forgotten": MemberSession.objects.filter(user=user).delete()[0],
    }


def _forget_invitations(email: str, alias: str) -> int:
    """Invitations to the address keep their history (who invited, when) under the alias; a pending
    one is revoked, so its link can no longer make a member."""
    from tenants.members.models import Invitation

    invitations = Invitation.objects.filter(email__iexact=email)
    invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return invitations.update(email=alias)


def _delete_devices(user: Any) -> int:
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return (
        TOTPDevice.objects.filter(user=user).delete()[0] + StaticDevice.objects.filter(user=user).delete()[0]
    )


def _erase_audit(*, dsr: DataSubjectRequest, email: str, user: Any) -> str:
    """Erase the person from what the audit log shows, without breaking the chain.

    The chain hashes actor_label, ip, user_agent and target_label, and a trigger refuses
    UPDATE, so those columns cannot be blanked. The person's actor id goes into the
    ErasedSubject mapping instead, and readers mask their rows with the alias. If the audit
    module ever offers its own erasure hook (`audit.erase_subject`), it is called as well.
    """
    if user is None:
        return "no member row: audit labels hold only the email given at the time"
    ErasedSubject.objects.update_or_create(
        actor_id=str(user.pk),
        defaults={"subject_digest": dsr.subject_digest, "alias": pseudonym(email), "request": dsr},
    )
    hook = getattr(audit, "erase_subject", None)
    if callable(hook):
        hook(email=email, actor_id=str(user.pk))
    return "masked: chained rows are kept (hashed) and shown under the alias"


@transaction.atomic
def consent_record(
    *, actor: Any, subject_email: str, purpose: str, granted: bool = True, source: str = ""
) -> ConsentRecord:
    authorize(actor, "privacy.manage")
    email = (subject_email or "").strip().lower()
    if "@" not in email:
        raise ValidationError({"subject_email": "Enter the email address of the person."})
    if not purpose.strip():
        raise ValidationError({"purpose": "Say what the consent is for."})
    record = ConsentRecord.objects.create(
        subject_email=email, purpose=purpose.strip(), granted=granted, source=source, recorded_by=actor
    )
    audit.record(
        action="privacy.consent.record",
        actor=actor,
        target=record,
        payload={"purpose": record.purpose, "granted": granted, "subject": subject_digest(email)},
    )
    return record


@transaction.atomic
def consent_withdraw(*, record: ConsentRecord, actor: Any) -> ConsentRecord:
    authorize(actor, "privacy.manage")
    if record.withdrawn_at is not None:
        raise ValidationError("This consent is already withdrawn.")
    record.withdrawn_at = timezone.now()
    record.save(update_fields=["withdrawn_at"])
    audit.record(
        action="privacy.consent.withdraw", actor=actor, target=record, payload={"purpose": record.purpose}
    )
    return record


@transaction.atomic
def dpia_save(*, actor: Any, dpia: Dpia | None = None, **fields: Any) -> Dpia:
    authorize(actor, "privacy.manage")
    allowed = {"title", "processing", "data_categories", "risk_level", "mitigations", "review_due", "owner"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(f"Cannot set {', '.join(sorted(unknown))}.")
    if "title" in fields and not str(fields["title"]).strip():
        raise ValidationError({"title": "A DPIA needs a title."})
    if fields.get("risk_level") == Dpia.Risk.HIGH and not str(fields.get("mitigations", "")).strip():
        raise ValidationError({"mitigations": "A high-risk processing needs its mitigations written down."})
    created = dpia is None
    dpia = dpia or Dpia()
    for key, value in fields.items():
        setattr(dpia, key, value)
    if not created and dpia.status == Dpia.Status.APPROVED:
        dpia.status, dpia.approved_by, dpia.approved_at = Dpia.Status.DRAFT, None, None
    dpia.full_clean(exclude=["owner", "approved_by"])
    dpia.save()
    audit.record(
        action="privacy.dpia.create" if created else "privacy.dpia.update",
        actor=actor,
        target=dpia,
        payload={"risk_level": dpia.risk_level},
    )
    return dpia


@transaction.atomic
def dpia_approve(*, dpia: Dpia, actor: Any, review_due: date | None = None) -> Dpia:
    authorize(actor, "privacy.manage")
    if dpia.status == Dpia.Status.APPROVED:
        raise ValidationError("This DPIA is already approved.")
    dpia.status = Dpia.Status.APPROVED
    dpia.approved_by = actor
    dpia.approved_at = timezone.now()
    if review_due is not None:
        dpia.review_due = review_due
    dpia.save()
    audit.record(
        action="privacy.dpia.approve", actor=actor, target=dpia, payload={"risk_level": dpia.risk_level}
    )
    return dpia
