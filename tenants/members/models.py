"""Tenant-schema identity models: invitations, API tokens, service accounts, MFA backup
codes, SSO settings, the tenant's security policy and the member session index.

Every table lives in the tenant's own schema, so a row from tenant A cannot even be looked
up from tenant B's host.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django_otp.models import Device, DeviceManager

from portal.accounts.models import Role


class SecurityPolicy(models.Model):
    """One row per tenant (pk=1): security settings an org admin controls."""

    require_mfa_for_all = models.BooleanField(
        default=False, help_text="Every member, not only admins, must use a second factor."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "security policy"

    def __str__(self) -> str:
        return "security policy"


class Invitation(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REVOKED = "revoked"
        EXPIRED = "expired"

    email = models.EmailField(db_index=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    # Only the SHA-256 of the link token is stored; the link itself goes out by email once.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation for {self.email} ({self.role})"

    @property
    def state(self) -> str:
        if self.accepted_at:
            return self.State.ACCEPTED
        if self.revoked_at:
            return self.State.REVOKED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.PENDING


class ServiceAccount(models.Model):
    """A non-human identity for automation: a User row (role, tokens) plus this profile."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account"
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    # CIDRs; empty = any address.
    allowed_ips = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read"
        WRITE = "write"
        DEPLOY = "deploy"
        VAULT = "vault"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="First characters, to recognise the token.")
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class TenantDeviceManager(DeviceManager):
    """django-otp asks every device model for a user's devices, also on the public schema
    (the operator console), where this tenant-only table does not exist."""

    def devices_for_user(self, user: Any, confirmed: bool | None = None) -> Any:
        if connection.schema_name == "public":
            return self.none()
        return super().devices_for_user(user, confirmed=confirmed)


class BackupCodeDevice(Device):
    """Ten single-use recovery codes, stored as keyed hashes (otp_static keeps plaintext)."""

    code_hashes = models.JSONField(default=list)

    objects = TenantDeviceManager()

    class Meta(Device.Meta):
        verbose_name = "backup code set"

    def verify_token(self, token: str) -> bool:
        from tenants.members.mfa import backup_code_hash

        digest = backup_code_hash(str(token))
        if digest not in self.code_hashes:
            return False
        self.code_hashes = [h for h in self.code_hashes if h != digest]
        self.save(update_fields=["code_hashes"])
        return True

    @property
    def remaining(self) -> int:
        return len(self.code_hashes)


class SsoConfig(models.Model):
    """Tenant SSO settings beyond the OIDC client (which is allauth's SocialApp)."""

    enabled = models.BooleanField(default=False)
    jit_provisioning = models.BooleanField(default=True, help_text="Create members on first SSO login.")
    group_claim = models.CharField(max_length=64, default="groups")
    # {"idp-group": "role"}; the highest mapped role wins. Owner is never granted by SSO.
    role_map = models.JSONField(default=dict, blank=True)
    default_role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SSO settings"
        verbose_name_plural = "SSO settings"

    def __str__(self) -> str:
        return "SSO settings"


class MemberSession(models.Model):
    """Index of a member's live sessions, so they can see them and end the others."""

    session_key = models.CharField(max_length=40, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"session of {self.user_id}"


class SamlMessageId(models.Model):
    """IDs of SAML responses and assertions already accepted (replay guard). A captured
    response posted again, from any browser, is refused. Rows are kept until the assertion
    could no longer pass the time checks anyway, then pruned."""

    class Kind(models.TextChoices):
        RESPONSE = "response"
        ASSERTION = "assertion"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    message_id = models.CharField(max_length=256)
    issuer = models.CharField(max_length=1024, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "message_id"], name="members_saml_message_id_once")
        ]

    def __str__(self) -> str:
        return f"SAML {self.kind} {self.message_id}"
