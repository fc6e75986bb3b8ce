"""Models of the vault app (tenant schema). Values are only ever stored sealed (see keyring)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models

from tenants.models import Tenant

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*$")
NAME_MAX = 200
ENV_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,39}$")
MAX_VALUE_BYTES = 64 * 1024
# Environments whose secrets developers may not write or reveal (object rules in vault.rules).
PRODUCTION_ENVIRONMENTS = frozenset({"production", "prod"})


class DataKey(models.Model):
    """The tenant's data key, wrapped by a key-encryption key. Never stored in clear."""

    wrapped = models.BinaryField()
    kek_id = models.CharField(max_length=200, db_index=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"data key {self.pk} ({self.kek_id})"


class SecretType(models.TextChoices):
    PASSWORD = "password"  # noqa: S105 - a type name, not a credential
    API_KEY = "api_key", "API key"
    CERTIFICATE = "certificate"
    SSH_KEY = "ssh_key", "SSH key"
    GENERIC = "generic"


class RotationPolicy(models.TextChoices):
    NONE = "none"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


ROTATION_INTERVALS = {
    RotationPolicy.WEEKLY: timedelta(days=7),
    RotationPolicy.MONTHLY: timedelta(days=30),
    RotationPolicy.QUARTERLY: timedelta(days=91),
    RotationPolicy.YEARLY: timedelta(days=365),
}


class Secret(models.Model):
    name = models.CharField(max_length=NAME_MAX, help_text="Path-like, e.g. prod/db/password")
    secret_type = models.CharField(max_length=16, choices=SecretType.choices, default=SecretType.GENERIC)
    environment = models.CharField(max_length=32, default="development", db_index=True)
    description = models.TextField(blank=True, max_length=2000)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = models.JSONField(default=list, blank=True)
    rotation_policy = models.CharField(
        max_length=16, choices=RotationPolicy.choices, default=RotationPolicy.NONE
    )
    # {"length": 32, "kind": "password"} for secrets the portal generated; None otherwise.
    generator = models.JSONField(null=True, blank=True)
    auto_rotate = models.BooleanField(default=False)
    allowed_roles = models.JSONField(default=list, blank=True, help_text="Empty: every role that may reveal.")
    allowed_service_accounts = models.JSONField(default=list, blank=True)
    current_version = models.PositiveIntegerField(default=0)
    rotated_at = models.DateTimeField()
    overdue_reported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["name"], name="vault_secret_name_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_production(self) -> bool:
        return self.environment in PRODUCTION_ENVIRONMENTS

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def rotation_due_at(self) -> datetime | None:
        interval = ROTATION_INTERVALS.get(RotationPolicy(self.rotation_policy))
        return self.rotated_at + interval if interval else None


class SecretVersion(models.Model):
    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    data_key = models.ForeignKey(DataKey, on_delete=models.PROTECT, related_name="+")
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["secret", "version"], name="vault_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.secret_id} v{self.version}"


class VaultTenant(Tenant):
    """The operator admin's view of each tenant's vault: counts and KEK status, never values."""

    class Meta:
        proxy = True
        verbose_name = "tenant vault"
        verbose_name_plural = "tenant vaults"
