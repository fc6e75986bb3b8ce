"""Public-schema billing models: one Stripe subscription mirror per tenant, checkout
attempts, invoices, webhook events (stored once), usage reports and reconciliation findings.

Stripe is the source of truth for money; these rows are a local mirror that webhooks and
the nightly reconciliation keep in step. Nothing here is ever deleted by dunning.
"""

from __future__ import annotations

from django.db import models

from tenants.models import Plan, Tenant


class Subscription(models.Model):
    """A tenant's Stripe customer and (at most one) current subscription."""

    class Status(models.TextChoices):
        NONE = "none", "no subscription"
        INCOMPLETE = "incomplete"
        INCOMPLETE_EXPIRED = "incomplete_expired"
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        UNPAID = "unpaid"
        PAUSED = "paused"
        CANCELED = "canceled"

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, related_name="billing")
    stripe_customer_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    stripe_subscription_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.NONE, db_index=True)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    interval = models.CharField(max_length=8, blank=True, help_text="month or year")
    seats = models.PositiveIntegerField(default=0, help_text="Seat quantity last sent to Stripe.")
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    trial_end = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(
        null=True, blank=True, help_text="Start of dunning; cleared when an invoice is paid."
    )
    canceled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    synced_at = models.DateTimeField(null=True, blank=True, help_text="Last re-fetch from Stripe.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__slug"]

    def __str__(self) -> str:
        return f"{self.tenant} · {self.status}"


class CheckoutAttempt(models.Model):
    """A Checkout Session we created; the success page waits until a webhook completes it."""

    class Status(models.TextChoices):
        OPEN = "open"
        COMPLETE = "complete"
        EXPIRED = "expired"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="checkout_attempts")
    session_id = models.CharField(max_length=128, unique=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    interval = models.CharField(max_length=8)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_by = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.session_id


class Invoice(models.Model):
    """Mirror of a Stripe invoice, shown on the tenant's billing page."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invoices")
    stripe_invoice_id = models.CharField(max_length=64, unique=True)
    number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=24, blank=True)
    currency = models.CharField(max_length=8, default="usd")
    amount_due = models.IntegerField(default=0)
    amount_paid = models.IntegerField(default=0)
    hosted_invoice_url = models.URLField(max_length=500, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    payment_failed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    failed_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return self.number or self.stripe_invoice_id


class WebhookEvent(models.Model):
    """Every Stripe event we accepted, stored once (unique `event_id`) and processed in Celery."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        IGNORED = "ignored"
        FAILED = "failed"

    event_id = models.CharField(max_length=128, unique=True)
    type = models.CharField(max_length=64, db_index=True)
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class UsageReport(models.Model):
    """One usage figure sent to Stripe. `identifier` is also Stripe's idempotency identifier."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="usage_reports")
    metric = models.CharField(max_length=32)
    value = models.PositiveIntegerField()
    period = models.CharField(max_length=16, help_text="e.g. 2026-11-21 (daily buckets)")
    identifier = models.CharField(max_length=200, unique=True)
    reported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reported_at"]

    def __str__(self) -> str:
        return self.identifier


class ReconciliationMismatch(models.Model):
    """A difference between the local mirror and Stripe, found by the nightly reconciliation."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    stripe_subscription_id = models.CharField(max_length=64, blank=True)
    field = models.CharField(max_length=32)
    local_value = models.CharField(max_length=200, blank=True)
    stripe_value = models.CharField(max_length=200, blank=True)
    found_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-found_at"]
        verbose_name_plural = "reconciliation mismatches"

    def __str__(self) -> str:
        return f"{self.tenant}: {self.field} {self.local_value!r} ≠ {self.stripe_value!r}"


class TenantPlan(Tenant):
    """The admin's "assign a plan" list (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "plan assignment"
        verbose_name_plural = "plan assignments"
