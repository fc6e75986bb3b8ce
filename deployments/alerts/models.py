"""Alerts (tenant schema): where to send (channels), when (rules), and what happened (history).

A rule is evaluated every 30 s by Celery beat. When it finds something and is not cooling
down, it records an `AlertEvent` and one `AlertDelivery` per channel; each delivery is sent
by a task that retries with backoff and keeps its status, attempts and last error.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def _signing_secret() -> str:
    return secrets.token_urlsafe(32)


class AlertChannel(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email"
        SLACK = "slack", "Slack-compatible webhook"
        WEBHOOK = "webhook", "generic webhook (HMAC-signed)"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    recipients = models.JSONField(default=list, blank=True, help_text="Email addresses (email channels).")
    url = models.URLField(max_length=500, blank=True, help_text="Webhook URL (Slack and generic webhooks).")
    # Generic webhooks: receivers verify X-Tenantry-Signature with this (HMAC-SHA256).
    signing_secret = models.CharField(max_length=64, default=_signing_secret)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["name"], name="alerts_channel_name_unique")]

    def __str__(self) -> str:
        return self.name


class AlertRule(models.Model):
    class Kind(models.TextChoices):
        AGENT_OFFLINE = "agent_offline", "agent offline"
        DEPLOY_FAILED = "deploy_failed", "deploy failed"
        ROLLBACK = "rollback", "rollback happened"
        EXPIRING = "expiring", "certificate or secret expiring"
        LOG_KEYWORD = "log_keyword", "error-rate keyword in logs"

    class Severity(models.TextChoices):
        INFO = "info"
        WARNING = "warning"
        CRITICAL = "critical"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    # Kind-specific: {"days": 14}, {"keyword": "ERROR", "threshold": 10, "window_minutes": 5}, …
    params = models.JSONField(default=dict, blank=True)
    channels = models.ManyToManyField(AlertChannel, related_name="rules", blank=True)
    cooldown_seconds = models.PositiveIntegerField(default=900)
    is_active = models.BooleanField(default=True)
    # Event rules (deploys, logs) look at what happened after this point.
    watermark = models.DateTimeField(default=timezone.now)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["name"], name="alerts_rule_name_unique")]

    def __str__(self) -> str:
        return self.name

    def cooling_down(self, now: object) -> bool:
        if self.last_fired_at is None:
            return False
        return (now - self.last_fired_at).total_seconds() < self.cooldown_seconds  # type: ignore[operator]


class AlertEvent(models.Model):
    """One firing of a rule: what it found, kept as history."""

    rule = models.ForeignKey(AlertRule, null=True, on_delete=models.SET_NULL, related_name="events")
    rule_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=24, choices=AlertRule.Kind.choices)
    severity = models.CharField(max_length=16, choices=AlertRule.Severity.choices)
    title = models.CharField(max_length=300)
    findings = models.JSONField(default=list, help_text="[{subject, summary, …}]")
    fired_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-fired_at", "-id"]

    def __str__(self) -> str:
        return self.title


class AlertDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RETRYING = "retrying"
        SENT = "sent"
        FAILED = "failed"

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    channel_name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.channel_name}: {self.status}"
