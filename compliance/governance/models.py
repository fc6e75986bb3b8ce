"""Governance models (tenant schema): policies, violations, DSRs, consent, DPIA, AI systems.

Writes go through `compliance.governance.services`; reads beyond one line through `selectors`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

DSR_DEADLINE_DAYS = 30


class Policy(models.Model):
    class Outcome(models.TextChoices):
        BLOCK = "block"
        WARN = "warn"
        AUDIT = "audit"

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    applies_to = models.JSONField(
        default=list, help_text='Actions, e.g. ["deploy.run"]; a trailing ".*" matches a family.'
    )
    conditions = models.JSONField(default=dict, help_text="When these match, the policy is violated.")
    action = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.BLOCK)
    enabled = models.BooleanField(default=True)
    template = models.CharField(max_length=64, blank=True, help_text="Built-in template it came from.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name


class PolicyViolation(models.Model):
    """One evaluation in which a policy matched. `uid` lets a rolled-back write be replayed once."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No FK: a violation outlives the policy, and is replayed outside the caller's transaction.
    policy_id_ref = models.BigIntegerField(null=True, blank=True)
    policy_name = models.CharField(max_length=120)
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=8, choices=Policy.Outcome.choices)
    message = models.CharField(max_length=400)
    actor_label = models.CharField(max_length=254, blank=True)
    actor_id = models.CharField(max_length=64, blank=True)
    context = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved = models.BooleanField(default=False, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.CharField(max_length=400, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.policy_name}: {self.action} ({self.outcome})"


class DataSubjectRequest(models.Model):
    class Kind(models.TextChoices):
        EXPORT = "export"
        ERASE = "erase"

    class Status(models.TextChoices):
        RECEIVED = "received"
        COMPLETED = "completed"
        REJECTED = "rejected"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    subject_email = models.EmailField(blank=True, help_text="Blanked once an erasure completes.")
    subject_digest = models.CharField(max_length=64, db_index=True, help_text="Salted hash of the email.")
    received_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    result_file = models.CharField(max_length=300, blank=True, help_text="Storage name of the export zip.")
    result_summary = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["deadline", "id"]

    def __str__(self) -> str:
        return f"DSR #{self.pk} {self.kind}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.deadline:
            self.deadline = self.received_at + timedelta(days=DSR_DEADLINE_DAYS)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.RECEIVED

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.deadline < timezone.now()


class ErasedSubject(models.Model):
    """An erased person, by the actor id their audit events carry.

    The audit chain hashes actor_label, ip, user_agent and target_label, so erasure cannot
    blank them without breaking verification. Instead the person is listed here and every
    reader that shows audit rows (viewer, exports, DSR exports) masks those columns for this
    actor id with `alias` (`compliance.governance.selectors.audit_mask`).
    """

    actor_id = models.CharField(max_length=64, unique=True)
    subject_digest = models.CharField(max_length=64, db_index=True)
    alias = models.CharField(max_length=254)
    erased_at = models.DateTimeField(default=timezone.now)
    request = models.ForeignKey(
        "DataSubjectRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return self.alias


class ConsentRecord(models.Model):
    subject_email = models.EmailField(db_index=True)
    purpose = models.CharField(max_length=120)
    granted = models.BooleanField(default=True)
    source = models.CharField(
        max_length=120, blank=True, help_text="Where consent was given, e.g. signup form v3."
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.purpose} ({'granted' if self.is_active else 'withdrawn'})"

    @property
    def is_active(self) -> bool:
        return self.granted and self.withdrawn_at is None


class Dpia(models.Model):
    """A data-protection impact assessment (GDPR art. 35)."""

    class Risk(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"

    class Status(models.TextChoices):
        DRAFT = "draft"
        APPROVED = "approved"

    title = models.CharField(max_length=200)
    processing = models.TextField(help_text="What processing is assessed, and why.")
    data_categories = models.CharField(max_length=300, blank=True)
    risk_level = models.CharField(max_length=8, choices=Risk.choices, default=Risk.MEDIUM)
    mitigations = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    review_due = models.DateField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "id"]
        verbose_name = "DPIA"

    def __str__(self) -> str:
        return self.title


class AISystem(models.Model):
    """An AI system in use, classified by EU AI Act risk class."""

    class RiskClass(models.TextChoices):
        UNACCEPTABLE = "unacceptable"
        HIGH = "high"
        LIMITED = "limited"
        MINIMAL = "minimal"
        UNCLASSIFIED = "unclassified"

    class Status(models.TextChoices):
        PLANNED = "planned"
        ACTIVE = "active"
        RETIRED = "retired"

    name = models.CharField(max_length=120, unique=True)
    purpose = models.TextField()
    provider = models.CharField(max_length=120, blank=True)
    risk_class = models.CharField(max_length=12, choices=RiskClass.choices, default=RiskClass.UNCLASSIFIED)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PLANNED)
    human_oversight = models.TextField(blank=True, help_text="Who can override the system, and how.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "AI system"

    def __str__(self) -> str:
        return self.name


class AIRiskAssessment(models.Model):
    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="assessments")
    risk_class = models.CharField(max_length=12, choices=AISystem.RiskClass.choices)
    likelihood = models.PositiveSmallIntegerField(help_text="1 (rare) to 5 (almost certain)")
    impact = models.PositiveSmallIntegerField(help_text="1 (negligible) to 5 (severe)")
    rationale = models.TextField()
    mitigations = models.TextField(blank=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assessed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-assessed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.system} → {self.risk_class}"

    @property
    def score(self) -> int:
        return self.likelihood * self.impact


class AIReviewItem(models.Model):
    """A high-risk AI decision waiting for a human to approve or reject it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    system = models.ForeignKey(AISystem, on_delete=models.PROTECT, related_name="reviews")
    subject = models.CharField(max_length=200, help_text="What the decision is about (no personal data).")
    proposed_outcome = models.TextField()
    model_output = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_at = models.DateTimeField(default=timezone.now)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ["submitted_at", "id"]
        verbose_name = "AI review item"

    def __str__(self) -> str:
        return f"{self.system}: {self.subject}"
