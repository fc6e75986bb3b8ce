"""Compliance models. Every table here lives in every schema (each tenant and public).

The audit chain (see `compliance.chain`):

- `AuditEvent` rows are inserted by `audit.record(...)` without a hash. `id` is assigned
  at write time (a sequence; rolled-back transactions leave gaps in it).
- The chainer later fills `seq` (gap-free, in commit order), `prev_hash`, `hash` and
  `chained_at`. Rows with `hash IS NULL` are not chained yet; verification ignores them.
- A database trigger refuses UPDATE and DELETE, except that fill-in and pruning below a
  retention checkpoint (migration 0002).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One audited action, one link of the schema's hash chain once chained."""

    class ActorType(models.TextChoices):
        MEMBER = "member"
        OPERATOR = "operator"
        SERVICE_ACCOUNT = "service_account"
        AGENT = "agent"
        SYSTEM = "system"

    occurred_at = models.DateTimeField()
    tenant = models.CharField(max_length=63, blank=True, help_text="Schema the event was written in.")
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    # Filled once by the chainer (the only UPDATE the trigger allows).
    seq = models.BigIntegerField(null=True, blank=True, unique=True)
    prev_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)
    chained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["action", "id"], name="audit_action_id"),
            models.Index(fields=["actor_id", "id"], name="audit_actor_id"),
            models.Index(fields=["target_type", "target_id", "id"], name="audit_target_id"),
            models.Index(fields=["occurred_at", "id"], name="audit_time_id"),
            models.Index(fields=["id"], name="audit_unchained", condition=models.Q(hash__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action}"

    @property
    def is_chained(self) -> bool:
        return self.hash is not None


class AuditCheckpoint(models.Model):
    """An Ed25519-signed statement "the chain of <schema> had hash H at seq N at time T"."""

    class Kind(models.TextChoices):
        PERIODIC = "periodic"
        ON_DEMAND = "on_demand"
        RETENTION = "retention", "retention cut"
        EXPORT = "export"

    chain = models.CharField(max_length=63, help_text="Schema whose chain this signs.")
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key_id = models.CharField(max_length=16, help_text="First 16 hex of SHA-256 of the public key.")
    signature = models.CharField(max_length=128, help_text="Base64 Ed25519 signature.")
    storage_name = models.CharField(max_length=255, blank=True, help_text="Write-once copy in storage.")

    class Meta:
        ordering = ["-seq", "-id"]
        indexes = [models.Index(fields=["kind", "seq"], name="audit_ckpt_kind_seq")]

    def __str__(self) -> str:
        return f"checkpoint {self.chain}@{self.seq}"


class AuditChainName(models.Model):
    """A schema name this chain had before a rename (`tenants.services.tenant_schema_rename`).

    Checkpoints signed before stable chain ids carry the schema name; this keeps them trusted.
    """

    name = models.CharField(max_length=63, unique=True)
    renamed_to = models.CharField(max_length=63)
    renamed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} → {self.renamed_to}"


class AuditSettings(models.Model):
    """Per-schema audit settings (one row)."""

    retention_days = models.PositiveIntegerField(default=30)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "audit settings"

    def __str__(self) -> str:
        return f"retention {self.retention_days} days"


class AuditExport(models.Model):
    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"
        CEF = "cef", "CEF"
        SYSLOG = "syslog", "RFC 5424 syslog"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    format = models.CharField(max_length=8, choices=Format.choices)
    since = models.DateTimeField()
    until = models.DateTimeField()
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    row_count = models.PositiveBigIntegerField(default=0)
    first_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    manifest_name = models.CharField(max_length=255, blank=True)
    checkpoint = models.ForeignKey(AuditCheckpoint, null=True, blank=True, on_delete=models.PROTECT)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.status})"


class AuditForwarder(models.Model):
    """A destination that receives every chained event, in seq order, at least once."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (HMAC-signed)"
        SYSLOG_TCP = "syslog_tcp", "Syslog over TCP"
        SYSLOG_UDP = "syslog_udp", "Syslog over UDP"
        S3 = "s3", "S3 bucket"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    url = models.CharField(max_length=500, blank=True, help_text="Webhook URL")
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    bucket = models.CharField(max_length=255, blank=True)
    prefix = models.CharField(max_length=255, blank=True)
    endpoint_url = models.CharField(max_length=500, blank=True)
    # Webhook HMAC secret / S3 "access:secret", sealed with AES-GCM (compliance.forwarding).
    secret_sealed = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    last_seq = models.BigIntegerField(default=0, help_text="Highest seq delivered.")
    failures = models.PositiveIntegerField(default=0, help_text="Consecutive failures.")
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def is_failing(self) -> bool:
        return self.failures > 0


class AuditForwardAttempt(models.Model):
    forwarder = models.ForeignKey(AuditForwarder, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    first_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'failed'} {self.forwarder_id} {self.at:%Y-%m-%d %H:%M:%S}"
