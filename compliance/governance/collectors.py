"""Evidence collectors: each reads portal state and says pass, fail or "needs manual input".

A collector that depends on another app reads it through `apps.get_model` and checks the
fields it needs first: when that app (or a field) is not there yet, the evidence says so and
asks for manual input instead of failing the report. Any error in a collector degrades the
same way; it runs inside a savepoint so the caller's transaction stays usable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

log = logging.getLogger(__name__)

PASS, FAIL, MANUAL = "pass", "fail", "manual"


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)


@dataclass
class Evidence:
    collector: str
    status: str
    summary: str
    link: str = ""
    details: list[str] = field(default_factory=list)
    as_of: datetime = field(default_factory=timezone.now)


class Missing(Exception):
    """The portal state this collector reads does not exist (yet)."""


Collector = Callable[[Period, str | None], Evidence]
COLLECTORS: dict[str, Collector] = {}


def collector(key: str) -> Callable[[Collector], Collector]:
    def register(fn: Collector) -> Collector:
        COLLECTORS[key] = fn
        return fn

    return register


def collect(spec: str, period: Period) -> Evidence:
    key, _, arg = spec.partition(":")
    fn = COLLECTORS[key]
    try:
        with transaction.atomic():
            evidence = fn(period, arg or None)
    except Missing as exc:
        return Evidence(spec, MANUAL, f"Needs manual input: {exc}")
    except Exception as exc:
        log.warning("collector %s failed", spec, exc_info=True)
        return Evidence(
            spec, MANUAL, f"Needs manual input: the collector could not run ({type(exc).__name__})."
        )
    evidence.collector = spec
    return evidence


def model(label: str, *fields: str) -> Any:
    try:
        cls = apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise Missing(f"{label} is not part of this portal yet.") from exc
    names = {f.name for f in cls._meta.get_fields()}
    absent = [f for f in fields if f not in names]
    if absent:
        raise Missing(f"{label} has no {', '.join(absent)} field yet.")
    return cls


def _ev(status: str, summary: str, link: str = "", details: list[str] | None = None) -> Evidence:
    return Evidence("", status, summary, link, details or [])


@collector("mfa_coverage")
def mfa_coverage(period: Period, arg: str | None) -> Evidence:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    members = get_user_model().objects.filter(is_active=True).exclude(role="")
    if getattr(get_user_model(), "is_service_account", None) is not None:
        members = members.exclude(is_service_account=True)
    total = members.count()
    covered = set(
        TOTPDevice.objects.filter(confirmed=True, user__in=members)
        .values_list("user_id", flat=True)
        .distinct()
    )
    missing = [m.email for m in members if m.pk not in covered]
    summary = f"{len(covered)} of {total} active members have a confirmed authenticator (TOTP)."
    return _ev(
        PASS if total and not missing else FAIL, summary, "/members/", [f"No MFA: {e}" for e in missing[:20]]
    )


@collector("secrets_rotation")
def secrets_rotation(period: Period, arg: str | None) -> Evidence:
    secret_model = model("vault.Secret", "rotation_policy", "rotated_at")
    secrets = secret_model.objects.all()
    if "deleted_at" in {f.name for f in secret_model._meta.get_fields()}:
        secrets = secrets.filter(deleted_at__isnull=True)
    now = timezone.now()
    without, overdue = [], []
    for secret in secrets:
        due = getattr(secret, "rotation_due_at", None)
        if secret.rotation_policy in ("", "none") or due is None:
            without.append(secret.name)
        elif due < now:
            overdue.append(f"{secret.name} (due {due:%Y-%m-%d})")
    count = secrets.count()
    details = [f"Overdue: {s}" for s in overdue[:20]] + [f"No rotation period: {s}" for s in without[:20]]
    summary = (
        f"{count} secrets; {len(overdue)} overdue for rotation, {len(without)} without a rotation period."
    )
    return _ev(FAIL if overdue or without else PASS, summary, "/vault/", details)


def _production_runs(period: Period) -> Any:
    run_model = model("deployments.DeployRun", "environment", "requested_by", "created_at", "status")
    model("deployments.Environment", "is_production")
    return run_model.objects.filter(
        environment__is_production=True, created_at__gte=period.since, created_at__lt=period.until
    ).exclude(status__in=["cancelled", "awaiting_approval"])


@collector("deploy_second_approval")
def deploy_second_approval(period: Period, arg: str | None) -> Evidence:
    model("deployments.DeployApproval", "run", "approver")
    runs = list(_production_runs(period).prefetch_related("approvals"))
    lacking = [
        str(run) for run in runs if not any(a.approver_id != run.requested_by_id for a in run.approvals.all())
    ]
    summary = (
        f"{len(runs) - len(lacking)} of {len(runs)} production deploys in the period "
        "were approved by a second person."
    )
    return _ev(
        FAIL if lacking else PASS,
        summary,
        "/deployments/",
        [f"Not approved by another person: {r}" for r in lacking[:20]],
    )


@collector("backup_before_prod_deploy")
def backup_before_prod_deploy(period: Period, arg: str | None) -> Evidence:
    model("deployments.DeployTarget", "run", "backup_name")
    runs = list(_production_runs(period).exclude(status="queued").prefetch_related("targets"))
    lacking = [
        str(run) for run in runs if not run.targets.all() or any(not t.backup_name for t in run.targets.all())
    ]
    summary = (
        f"{len(runs) - len(lacking)} of {len(runs)} production deploys in the period "
        "had a backup on every target first."
    )
    return _ev(FAIL if lacking else PASS, summary, "/deployments/", [f"No backup: {r}" for r in lacking[:20]])


@collector("terminal_sessions_recorded")
def terminal_sessions_recorded(period: Period, arg: str | None) -> Evidence:
    session_model = model("deployments.TerminalSession", "recording", "started_at", "ended_at")
    sessions = session_model.objects.filter(
        started_at__gte=period.since, started_at__lt=period.until, ended_at__isnull=False
    )
    total = sessions.count()
    unrecorded = list(sessions.filter(recording="")[:20])
    summary = f"{total - len(unrecorded)} of {total} terminal sessions in the period have a recording."
    return _ev(
        FAIL if unrecorded else PASS, summary, "/deployments/", [f"Not recorded: {s}" for s in unrecorded]
    )


@collector("audit_events_recorded")
def audit_events_recorded(period: Period, arg: str | None) -> Evidence:
    from compliance.models import AuditEvent

    events = AuditEvent.objects.filter(occurred_at__gte=period.since, occurred_at__lt=period.until)
    count = events.count()
    if not count:
        return _ev(FAIL, "No audit events were recorded in the period.", "/compliance/")
    return _ev(PASS, f"{count} audit events recorded in the period.", "/compliance/")


@collector("audit_chain_verified")
def audit_chain_verified(period: Period, arg: str | None) -> Evidence:
    checkpoint_model = model("compliance.AuditCheckpoint", "seq", "hash", "signed_at")
    link = "/compliance/"
    try:
        from compliance.verification import audit_chain_verify
    except ImportError as exc:
        raise Missing("the audit module has no verifier yet.") from exc
    # From the last trusted checkpoint: fast on a long chain. No chaining here: a report only reads.
    result = audit_chain_verify(from_last_checkpoint=True, chain_first=False)
    if not result.ok:
        return _ev(FAIL, result.summary(), link)
    if result.last_trusted_checkpoint_seq is None:
        return _ev(
            FAIL, "The chain verifies, but no signed checkpoint anchors it yet.", link, [result.summary()]
        )
    in_period = checkpoint_model.objects.filter(
        signed_at__gte=period.since, signed_at__lt=period.until
    ).count()
    details = [result.summary(), f"{in_period} signed checkpoints in the period."]
    return _ev(PASS, "The audit chain verifies against its last signed checkpoint.", link, details)


@collector("audit_retention_configured")
def audit_retention_configured(period: Period, arg: str | None) -> Evidence:
    settings_model = model("compliance.AuditSettings", "retention_days")
    row = settings_model.objects.first()
    if row is None:
        return _ev(FAIL, "No audit retention is configured for this workspace.", "/compliance/")
    return _ev(PASS, f"Audit events are retained for {row.retention_days} days.", "/compliance/")


@collector("policy_enabled")
def policy_enabled(period: Period, arg: str | None) -> Evidence:
    from compliance.governance.models import Policy
    from compliance.governance.policy_templates import BY_KEY

    template = BY_KEY[arg or ""]
    policy = Policy.objects.filter(template=arg).first()
    link = "/compliance/policies/"
    if policy is None:
        return _ev(FAIL, f"The policy {template.name!r} is not installed.", link)
    if not policy.enabled:
        return _ev(FAIL, f"The policy {policy.name!r} is installed but disabled.", link)
    return _ev(PASS, f"The policy {policy.name!r} is enabled ({policy.action}).", link)


@collector("open_violations")
def open_violations(period: Period, arg: str | None) -> Evidence:
    from compliance.governance.models import PolicyViolation

    in_period = PolicyViolation.objects.filter(occurred_at__gte=period.since, occurred_at__lt=period.until)
    stale = PolicyViolation.objects.filter(resolved=False, occurred_at__lt=timezone.now() - timedelta(days=7))
    summary = (
        f"{in_period.count()} policy violations in the period, "
        f"{in_period.filter(resolved=False).count()} unresolved; "
        f"{stale.count()} unresolved for more than 7 days."
    )
    return _ev(FAIL if stale.exists() else PASS, summary, "/compliance/violations/")


@collector("dsr_deadlines")
def dsr_deadlines(period: Period, arg: str | None) -> Evidence:
    from compliance.governance.models import DataSubjectRequest

    now = timezone.now()
    overdue = DataSubjectRequest.objects.filter(status="received", deadline__lt=now)
    late = DataSubjectRequest.objects.filter(
        completed_at__gte=period.since, completed_at__lt=period.until, completed_at__gt=F("deadline")
    )
    done = DataSubjectRequest.objects.filter(completed_at__gte=period.since, completed_at__lt=period.until)
    summary = (
        f"{done.count()} requests completed in the period ({late.count()} late); "
        f"{overdue.count()} open past the deadline."
    )
    details = [f"Overdue: request #{d.pk} ({d.kind}), deadline {d.deadline:%Y-%m-%d}" for d in overdue[:20]]
    return _ev(
        FAIL if overdue.exists() or late.exists() else PASS, summary, "/compliance/privacy/requests/", details
    )


@collector("consent_records")
def consent_records(period: Period, arg: str | None) -> Evidence:
    from compliance.governance.models import ConsentRecord

    count = ConsentRecord.objects.count()
    if not count:
        return _ev(
            MANUAL,
            "No consent records are kept in the portal: attach where consent is recorded.",
            "/compliance/privacy/consent/",
        )
    withdrawn = ConsentRecord.objects.filter(withdrawn_at__isnull=False).count()
    return _ev(PASS, f"{count} consent records, {withdrawn} withdrawn.", "/compliance/privacy/consent/")


@collector("dpia_register")
def dpia_register(period: Period, arg: str | None) -> Evidence:
    from compliance.governance.models import Dpia

    link = "/compliance/privacy/dpia/"
    dpias = list(Dpia.objects.all())
    if not dpias:
        return _ev(
            MANUAL, "The DPIA register is empty: register the assessments of high-risk processing.", link
        )
    today = timezone.now().date()
    problems = [
        f"High risk, not approved: {d.title}"
        for d in dpias
        if d.risk_level == "high" and d.status != "approved"
    ]
    problems += [f"Review overdue: {d.title}" for d in dpias if d.review_due and d.review_due < today]
    approved = sum(1 for d in dpias if d.status == "approved")
    return _ev(FAIL if problems else PASS, f"{len(dpias)} DPIAs, {approved} approved.", link, problems)


@collector("ai_register_classified")
def ai_register_classified(period: Period, arg: str | None) -> Evidence:
    from compliance.governance.models import AISystem

    link = "/compliance/ai/"
    systems = list(AISystem.objects.exclude(status="retired").prefetch_related("assessments"))
    if not systems:
        return _ev(MANUAL, "No AI systems are registered: register them, or confirm none is in use.", link)
    problems = [f"Not classified: {s.name}" for s in systems if s.risk_class == "unclassified"]
    problems += [f"No risk assessment: {s.name}" for s in systems if not s.assessments.all()]
    return _ev(FAIL if problems else PASS, f"{len(systems)} AI systems in the register.", link, problems)


@collector("ai_prohibited_systems")
def ai_prohibited_systems(period: Period, arg: str | None) -> Evidence:
    from compliance.governance.models import AISystem

    bad = list(AISystem.objects.filter(risk_class="unacceptable").exclude(status="retired"))
    if bad:
        return _ev(
            FAIL,
            f"{len(bad)} systems of unacceptable risk are not retired.",
            "/compliance/ai/",
            [s.name for s in bad],
        )
    return _ev(PASS, "No system of unacceptable risk is in use.", "/compliance/ai/")


@collector("ai_human_review")
def ai_human_review(period: Period, arg: str | None) -> Evidence:
    from compliance.governance.models import AIReviewItem, AISystem

    link = "/compliance/ai/reviews/"
    high = AISystem.objects.filter(risk_class="high", status="active")
    if not high.exists():
        return _ev(PASS, "No active high-risk AI system needs human review.", link)
    lacking = [s.name for s in high if not s.human_oversight.strip()]
    stale = AIReviewItem.objects.filter(
        status="pending", submitted_at__lt=timezone.now() - timedelta(days=2)
    ).count()
    reviewed = AIReviewItem.objects.filter(
        reviewed_at__gte=period.since, reviewed_at__lt=period.until
    ).count()
    summary = f"{reviewed} decisions reviewed by a human in the period; {stale} waiting more than 2 days."
    details = [f"No human oversight described: {n}" for n in lacking]
    return _ev(FAIL if lacking or stale else PASS, summary, link, details)
