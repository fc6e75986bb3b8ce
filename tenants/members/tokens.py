"""API tokens and service accounts.

A token is `tnt_` + 43 random URL-safe characters (256 bits). Only its SHA-256 is stored:
with that much entropy a slow hash adds nothing, and a fast one keeps authentication at a
single indexed lookup. The plaintext is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from compliance import audit
from portal.accounts.models import Role, User
from tenants.members import permissions
from tenants.members.models import ApiToken, ServiceAccount

TOKEN_PREFIX = "tnt_"  # noqa: S105 (a marker, not a secret)
LAST_USED_RESOLUTION = timedelta(minutes=1)
SERVICE_ACCOUNT_ROLES = (Role.AUDITOR, Role.OPERATOR, Role.DEVELOPER, Role.VIEWER)


def token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def token_lookup(plaintext: str) -> ApiToken | None:
    """One query: the token row joined with its user and service-account profile."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 100:
        return None
    try:
        return ApiToken.objects.select_related("user", "user__service_account").get(
            token_hash=token_hash(plaintext)
        )
    except ApiToken.DoesNotExist:
        return None


def ip_allowed(allowed: list[str], ip: str | None) -> bool:
    if not allowed:
        return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in allowed)
    except ValueError:
        return False


def _clean_scopes(scopes: list[str]) -> list[str]:
    cleaned = sorted(set(scopes))
    unknown = [scope for scope in cleaned if scope not in permissions.SCOPES]
    if unknown or not cleaned:
        raise ValidationError({"scopes": f"Choose one or more of: {', '.join(permissions.SCOPES)}."})
    return cleaned


def _can_manage_tokens_of(actor: Any, owner: User) -> bool:
    if owner.is_service_account:
        return permissions.has_perm(actor, "service_accounts.manage")
    return actor.pk == owner.pk and permissions.has_perm(actor, "tokens.manage_own")


@transaction.atomic
def token_create(
    *, owner: User, actor: Any, name: str, scopes: list[str], expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token for `owner` (yourself, or a service account you manage). Returns the row
    and the plaintext, which is never stored nor shown again."""
    if not _can_manage_tokens_of(actor, owner):
        raise PermissionDenied("You cannot create tokens for this account.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=owner,
        name=name.strip()[:100] or "token",
        prefix=plaintext[:12],
        token_hash=token_hash(plaintext),
        scopes=_clean_scopes(scopes),
        expires_at=expires_at,
        created_by=actor,
    )
    audit.record(
        action="token.create",
        actor=actor,
        target=token,
        payload={
            "owner": owner.email,
            "scopes": token.scopes,
            "expires_at": expires_at and expires_at.isoformat(),
        },
    )
    return token, plaintext


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: Any) -> ApiToken:
    if not _can_manage_tokens_of(actor, token.user):
        raise PermissionDenied("You cannot revoke this token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(action="token.revoke", actor=actor, target=token, payload={"owner": token.user.email})
    return token


def token_touch(*, token: ApiToken, ip: str | None) -> None:
    """Record last use, at most once a minute per token: no write on every request."""
    now = timezone.now()
    if token.last_used_at and now - token.last_used_at < LAST_USED_RESOLUTION and token.last_used_ip == ip:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at, token.last_used_ip = now, ip


def token_rejected(*, reason: str, prefix: str = "") -> None:
    """Audit a refused token (unknown, another tenant's, revoked, expired, wrong IP)."""
    audit.record(
        action="auth.token.rejected", actor=None, target=None, payload={"reason": reason, "prefix": prefix}
    )


# --- service accounts ---------------------------------------------------------------------
def _clean_cidrs(allowed_ips: list[str]) -> list[str]:
    cleaned = []
    for value in allowed_ips:
        value = value.strip()
        if not value:
            continue
        try:
            cleaned.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError as exc:
            raise ValidationError({"allowed_ips": f"{value!r} is not an IP address or network."}) from exc
    return cleaned


@transaction.atomic
def service_account_create(
    *, actor: Any, name: str, role: str, description: str = "", allowed_ips: list[str] | None = None
) -> ServiceAccount:
    permissions.authorize(actor, "service_accounts.manage")
    if role not in SERVICE_ACCOUNT_ROLES:
        raise ValidationError({"role": "Service accounts may be auditor, operator, developer or viewer."})
    slug = slugify(name)[:40] or "service"
    user = User.objects.create_user(
        email=f"{slug}.{secrets.token_hex(4)}@service-accounts.invalid",
        password=None,
        name=name.strip()[:150],
        role=role,
        is_service_account=True,
    )
    account = ServiceAccount.objects.create(
        user=user,
        name=name.strip()[:100],
        description=description[:300],
        allowed_ips=_clean_cidrs(allowed_ips or []),
        created_by=actor,
    )
    audit.record(
        action="service_account.create",
        actor=actor,
        target=account,
        payload={"role": role, "allowed_ips": account.allowed_ips},
    )
    return account


@transaction.atomic
def service_account_update(*, account: ServiceAccount, actor: Any, allowed_ips: list[str]) -> ServiceAccount:
    permissions.authorize(actor, "service_accounts.manage")
    account.allowed_ips = _clean_cidrs(allowed_ips)
    account.save(update_fields=["allowed_ips"])
    audit.record(
        action="service_account.update",
        actor=actor,
        target=account,
        payload={"allowed_ips": account.allowed_ips},
    )
    return account
