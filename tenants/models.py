"""Public-schema models: plans, tenants, domains, the spare-schema pool and the email index."""

from __future__ import annotations

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Plan(models.Model):
    """A price list entry with its limits. `None` in a limit means unlimited."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=64)
    is_public = models.BooleanField(default=True, help_text="Offered at signup.")
    sort_order = models.PositiveSmallIntegerField(default=0)
    monthly_price_cents = models.PositiveIntegerField(default=0)
    yearly_price_cents = models.PositiveIntegerField(default=0)
    seat_price_cents = models.PositiveIntegerField(default=0)
    stripe_product_id = models.CharField(max_length=64, blank=True)
    stripe_price_monthly_id = models.CharField(max_length=64, blank=True)
    stripe_price_yearly_id = models.CharField(max_length=64, blank=True)
    stripe_price_seat_id = models.CharField(max_length=64, blank=True)
    max_members = models.PositiveIntegerField(null=True, blank=True)
    max_agents = models.PositiveIntegerField(null=True, blank=True)
    max_environments = models.PositiveIntegerField(null=True, blank=True)
    max_secrets = models.PositiveIntegerField(null=True, blank=True)
    max_deploys_per_month = models.PositiveIntegerField(null=True, blank=True)
    audit_retention_days = models.PositiveIntegerField(default=30)
    features = models.JSONField(default=list, blank=True, help_text='e.g. ["sso", "terminal", "reports"]')

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.name

    def has_feature(self, feature: str) -> bool:
        return feature in (self.features or [])


class Tenant(TenantMixin):
    class Status(models.TextChoices):
        TRIAL = "trial"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        READ_ONLY = "read_only"
        SUSPENDED = "suspended"
        DELETED = "deleted"

    class Provisioning(models.TextChoices):
        PENDING = "pending", "waiting for a schema"
        READY = "ready"
        FAILED = "failed"

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="tenants")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIAL, db_index=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=200, blank=True)
    provisioning = models.CharField(max_length=16, choices=Provisioning.choices, default=Provisioning.READY)
    provisioning_path = models.CharField(max_length=16, blank=True, help_text="pool, clone or migrate")
    provisioning_error = models.TextField(blank=True)
    pending_admin = models.JSONField(
        null=True, blank=True, help_text="First admin (email, password hash) until the schema exists."
    )
    is_canary = models.BooleanField(default=False, help_text="Migrated first by migrate_tenants.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Schemas come from the pool or from a Celery task; never from a web request.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_ready(self) -> bool:
        return self.schema_name == "public" or self.provisioning == self.Provisioning.READY

    @property
    def is_serving(self) -> bool:
        return self.is_ready and self.status != self.Status.DELETED


class Domain(DomainMixin):
    """`<slug>.<PORTAL_DOMAIN>` (primary) and any custom domains of a tenant."""

    def __str__(self) -> str:
        return self.domain


class SpareSchema(models.Model):
    """A schema that is already migrated, waiting to become a tenant (see tenants.pool)."""

    class State(models.TextChoices):
        BUILDING = "building"
        READY = "ready"
        TEMPLATE = "template", "template (cloned, never handed out)"

    schema_name = models.CharField(max_length=63, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.BUILDING)
    fingerprint = models.CharField(max_length=64, help_text="Migration state the schema was built at.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["state", "fingerprint"], name="spare_ready_idx")]

    def __str__(self) -> str:
        return self.schema_name


class TenantEmail(models.Model):
    """The public email → tenant index behind central login. Kept in sync by member services."""

    email = models.EmailField(db_index=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="emails")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["email", "tenant"], name="tenant_email_unique")]

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant_id}"


class Rollout(models.Model):
    """One `migrate_tenants` run of the platform: canaries first, then the rest in batches.

    Re-running the command resumes the newest unfinished rollout for the same target.
    """

    class Status(models.TextChoices):
        RUNNING = "running"
        HALTED = "halted", "halted (a canary failed)"
        FAILED = "failed", "failed (some tenants failed; re-run to resume)"
        DONE = "done"

    target_fingerprint = models.CharField(max_length=64, help_text="Migrations on disk at the start.")
    target_count = models.PositiveIntegerField(default=0, help_text="Migrations in the target state.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    batch_size = models.PositiveIntegerField(default=25)
    workers = models.PositiveSmallIntegerField(default=2)
    started_by = models.CharField(max_length=254, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"rollout #{self.pk} ({self.status})"


class RolloutTenant(models.Model):
    """Where one tenant schema stands in a rollout."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SKIPPED = "skipped", "skipped (already at target)"
        BACKED_UP = "backed_up", "backed up"
        MIGRATED = "migrated"
        FAILED = "failed"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="tenants")
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="rollout_rows"
    )
    schema_name = models.CharField(max_length=63)
    is_canary = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    backup_path = models.CharField(max_length=255, blank=True)
    backup_bytes = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-is_canary", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "schema_name"], name="rollout_tenant_unique")
        ]
        indexes = [models.Index(fields=["rollout", "status"], name="rollout_tenant_status_idx")]

    def __str__(self) -> str:
        return f"{self.schema_name}: {self.status}"
