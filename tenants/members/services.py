"""Member writes: members, roles, invitations, the security policy and sessions.

Each keeps the public email → tenant index in step with the schema and writes its audit
event in the same transaction. Token and service-account writes are in `tokens.py`, MFA
writes in `mfa.py`, SSO writes in `sso.py`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from importlib import import_module
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance import audit
from portal.accounts.models import Role, User
from tenants.billing import limits  # plan limits and seat quantity (billing owns these)
from tenants.members import permissions
from tenants.members.access import access_version_bump
from tenants.members.models import Invitation, MemberSession, SecurityPolicy
from tenants.models import TenantEmail

INVITATION_DAYS = 7
# Roles ordered by power; owner > org_admin > the rest, which are peers for escalation rules.
_RANK = {Role.OWNER: 3, Role.ORG_ADMIN: 2}


def email_index_add(*, email: str) -> None:
    tenant = connection.tenant
    TenantEmail.objects.get_or_create(email=email.lower(), tenant_id=tenant.pk)


def email_index_remove(*, email: str) -> None:
    TenantEmail.objects.filter(email=email.lower(), tenant_id=connection.tenant.pk).delete()


def _refuse(*, action: str, actor: Any, target: Any, reason: str, exc: type[Exception]) -> None:
    """Record the refused attempt, then raise. The audit row must outlive the refusal, so it
    is written outside any transaction the caller may roll back."""
    audit.record(action=action, actor=actor, target=target, payload={"reason": reason})
    raise exc(reason)


@transaction.atomic
def member_create(
    *,
    email: str,
    role: str,
    name: str = "",
    password: str | None = None,
    password_hash: str | None = None,
    actor: Any = None,
    source: str = "",
) -> User:
    """Add a member to the current tenant's schema."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    email = email.strip().lower()
    if User.objects.filter(email=email).exists():
        raise ValidationError({"email": "This address is already a member."})
    limits.check_limit(connection.tenant, "members")
    user = User.objects.create_user(email=email, password=password, name=name, role=role)
    if password_hash:
        user.password = password_hash
        user.save(update_fields=["password"])
    email_index_add(email=user.email)
    payload = {"role": role} | ({"source": source} if source else {})
    audit.record(action="member.create", actor=actor, target=user, payload=payload)
    limits.seats_changed(connection.tenant)
    return user


def _owners_left(excluding: User) -> int:
    return User.objects.filter(role=Role.OWNER, is_active=True).exclude(pk=excluding.pk).count()


def member_role_set(*, member: User, role: str, actor: Any, source: str = "") -> User:
    """Change a member's role. Refused (and audited): changing your own role, granting or
    removing owner unless you are an owner, leaving the tenant without an active owner."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if actor is not None:
        if not permissions.has_perm(actor, "members.manage"):
            _refuse(
                action="member.role.refused",
                actor=actor,
                target=member,
                reason="Your role does not allow changing roles.",
                exc=PermissionDenied,
            )
        if actor.pk == member.pk:
            _refuse(
                action="member.role.refused",
                actor=actor,
                target=member,
                reason="You cannot change your own role.",
                exc=PermissionDenied,
            )
        touches_owner = Role.OWNER in (role, member.role)
        if touches_owner and permissions.role_of(actor) != Role.OWNER:
            _refuse(
                action="member.role.refused",
                actor=actor,
                target=member,
                reason="Only an owner can grant or remove the owner role.",
                exc=PermissionDenied,
            )
    if member.is_service_account and role in permissions.ADMINS:
        raise ValidationError({"role": "Service accounts cannot be owners or org admins."})
    return _member_role_write(member=member, role=role, actor=actor, source=source)


@transaction.atomic
def _member_role_write(*, member: User, role: str, actor: Any, source: str) -> User:
    member = User.objects.select_for_update().get(pk=member.pk)
    if member.role == role:
        return member
    if member.role == Role.OWNER and _owners_left(member) == 0:
        raise ValidationError({"role": "The tenant needs at least one active owner."})
    previous, member.role = member.role, role
    member.save(update_fields=["role"])
    access_version_bump(member.pk)  # open websockets re-check at their next message
    payload = {"from": previous, "to": role} | ({"source": source} if source else {})
    audit.record(action="member.role.change", actor=actor, target=member, payload=payload)
    return member


def member_staff_refuse(*, member: User, actor: Any) -> None:
    """Tenant members are never platform operators: `is_staff` is not theirs to grant."""
    _refuse(
        action="member.escalation.refused",
        actor=actor,
        target=member,
        reason="Platform operator (staff) status cannot be granted from a tenant.",
        exc=PermissionDenied,
    )


def member_active_set(*, member: User, active: bool, actor: Any) -> User:
    """Deactivate or reactivate a member. Deactivation ends their sessions at once."""
    permissions.authorize(actor, "members.manage")
    if actor.pk == member.pk:
        _refuse(
            action="member.active.refused",
            actor=actor,
            target=member,
            reason="You cannot deactivate yourself.",
            exc=PermissionDenied,
        )
    if member.role == Role.OWNER and permissions.role_of(actor) != Role.OWNER:
        _refuse(
            action="member.active.refused",
            actor=actor,
            target=member,
            reason="Only an owner can deactivate an owner.",
            exc=PermissionDenied,
        )
    return _member_active_write(member=member, active=active, actor=actor)


@transaction.atomic
def _member_active_write(*, member: User, active: bool, actor: Any) -> User:
    member = User.objects.select_for_update().get(pk=member.pk)
    if active and not member.is_active:
        limits.check_limit(connection.tenant, "members")
    if not active and member.role == Role.OWNER and _owners_left(member) == 0:
        raise ValidationError({"is_active": "The tenant needs at least one active owner."})
    member.is_active = active
    member.save(update_fields=["is_active"])
    access_version_bump(member.pk)
    if active:
        email_index_add(email=member.email)
    else:
        email_index_remove(email=member.email)
        sessions_end(user=member)
    audit.record(action="member.activate" if active else "member.deactivate", actor=actor, target=member)
    limits.seats_changed(connection.tenant)
    return member


@transaction.atomic
def member_profile_update(*, member: User, name: str) -> User:
    member.name = name.strip()[:150]
    member.save(update_fields=["name"])
    audit.record(action="member.profile.update", actor=member, target=member, payload={"fields": ["name"]})
    return member


# --- invitations --------------------------------------------------------------------------
def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_create(
    *, email: str, role: str, actor: Any, days: int = INVITATION_DAYS
) -> tuple[Invitation, str]:
    """Invite an address with a role; returns the invitation and the one-time link token."""
    permissions.authorize(actor, "members.manage")
    email = email.strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if role == Role.OWNER and permissions.role_of(actor) != Role.OWNER:
        _refuse(
            action="invitation.refused",
            actor=actor,
            target=None,
            reason="Only an owner can invite another owner.",
            exc=PermissionDenied,
        )
    if User.objects.filter(email=email).exists():
        _refuse(
            action="invitation.refused",
            actor=actor,
            target=None,
            reason=f"{email} is already a member.",
            exc=ValidationError,
        )
    return _invitation_write(email=email, role=role, actor=actor, days=days)


@transaction.atomic
def _invitation_write(*, email: str, role: str, actor: Any, days: int) -> tuple[Invitation, str]:
    Invitation.objects.filter(email=email, accepted_at=None, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    limits.check_limit(connection.tenant, "seats")  # a re-invite replaces its own pending seat
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        email=email,
        role=role,
        token_hash=invitation_token_hash(token),
        invited_by=actor,
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit.record(
        action="invitation.create",
        actor=actor,
        target=invitation,
        payload={"email": email, "role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    transaction.on_commit(lambda: _invitation_send(invitation=invitation, token=token))
    return invitation, token


def _invitation_send(*, invitation: Invitation, token: str) -> None:
    from django.conf import settings
    from django.core.mail import send_mail

    tenant = connection.tenant
    host = tenant.get_primary_domain().domain
    port = "" if settings.PORTAL_SCHEME == "https" else f":{settings.PORTAL_PORT}"
    link = f"{settings.PORTAL_SCHEME}://{host}{port}/members/invitations/accept/{token}/"
    send_mail(
        subject=f"You are invited to {tenant.name} on Tenantry",
        message=(
            f"You have been invited to join {tenant.name} as {invitation.get_role_display()}.\n\n"
            f"Accept the invitation: {link}\n\nThe link works once and expires on "
            f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC."
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: Any) -> Invitation:
    permissions.authorize(actor, "members.manage")
    if invitation.state == Invitation.State.PENDING:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(
            action="invitation.revoke", actor=actor, target=invitation, payload={"email": invitation.email}
        )
    return invitation


def invitation_for_token(token: str) -> Invitation | None:
    return Invitation.objects.filter(token_hash=invitation_token_hash(token)).first()


def invitation_check(*, token: str) -> Invitation:
    """The pending invitation behind a link. Unknown, used, revoked or expired links are
    audited and raise ValidationError (a 4xx for the caller)."""
    invitation = invitation_for_token(token)
    if invitation is None:
        _refuse(
            action="invitation.accept.refused",
            actor=None,
            target=None,
            reason="This invitation link is not valid.",
            exc=ValidationError,
        )
    assert invitation is not None
    state = invitation.state
    if state != Invitation.State.PENDING:
        _refuse(
            action="invitation.accept.refused",
            actor=None,
            target=invitation,
            reason=f"This invitation is {state}.",
            exc=ValidationError,
        )
    return invitation


def invitation_accept(*, token: str, password: str, name: str = "") -> User:
    """Redeem a link: one use, before expiry, and only for an address not yet a member."""
    invitation = invitation_check(token=token)
    validate_password(password, User(email=invitation.email, name=name))
    return _invitation_redeem(invitation=invitation, password=password, name=name)


@transaction.atomic
def _invitation_redeem(*, invitation: Invitation, password: str, name: str) -> User:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.state != Invitation.State.PENDING:
        raise ValidationError(f"This invitation is {invitation.state}.")
    try:
        user = member_create(
            email=invitation.email, role=invitation.role, name=name, password=password, source="invitation"
        )
    except limits.PlanLimitExceeded as exc:
        # The invitee cannot upgrade the plan: tell them who can (the invitation stays pending).
        raise ValidationError(
            "This organisation has no free seat on its plan right now. Ask the person who invited "
            "you to free a seat or upgrade the plan, then open this link again.",
            code="plan_limit",
        ) from exc
    invitation.accepted_at, invitation.accepted_by = timezone.now(), user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    # The link went to this address, so it is proven: record it as verified. Without the
    # record, allauth's email authentication would wipe the member's password the first
    # time they sign in through the tenant's SSO (its guard against pre-registered accounts).
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"primary": True, "verified": True}
    )
    audit.record(action="invitation.accept", actor=user, target=invitation, payload={"role": invitation.role})
    return user


# --- policy and sessions ----------------------------------------------------------------
@transaction.atomic
def policy_update(*, actor: Any, require_mfa_for_all: bool) -> SecurityPolicy:
    permissions.authorize(actor, "policies.manage")
    policy, _ = SecurityPolicy.objects.select_for_update().get_or_create(pk=1)
    if policy.require_mfa_for_all != require_mfa_for_all:
        policy.require_mfa_for_all = require_mfa_for_all
        policy.save()
        audit.record(
            action="policy.mfa.update",
            actor=actor,
            target=policy,
            payload={"require_mfa_for_all": require_mfa_for_all},
        )
    return policy


def session_register(*, user: User, session_key: str, ip: str | None, user_agent: str) -> None:
    MemberSession.objects.update_or_create(
        session_key=session_key, defaults={"user": user, "ip": ip, "user_agent": user_agent[:300]}
    )


def sessions_delete(keys: list[str]) -> None:
    """Delete these sessions from the database and from the session cache (`cached_db`
    serves a cached session without reading the row, so deleting rows alone is not enough)."""
    if not keys:
        return
    Session.objects.filter(session_key__in=keys).delete()
    sessions_uncache(keys)


def sessions_uncache(keys: list[str]) -> None:
    """Drop the cached copies of these sessions of the current schema, now and again once the
    caller commits (a request in between may have cached the row again)."""
    prefix = getattr(import_module(settings.SESSION_ENGINE).SessionStore, "cache_key_prefix", None)
    if prefix is None or not keys:
        return
    cache_keys = [prefix + key for key in keys]
    schema = connection.schema_name  # cache keys carry the schema: drop them under this one

    def drop() -> None:
        with schema_context(schema):
            caches[settings.SESSION_CACHE_ALIAS].delete_many(cache_keys)

    drop()
    transaction.on_commit(drop)


@transaction.atomic
def sessions_end(*, user: User, keep: str | None = None) -> int:
    """End `user`'s sessions (all, or all but `keep`); returns how many were ended."""
    rows = MemberSession.objects.filter(user=user)
    if keep:
        rows = rows.exclude(session_key=keep)
    keys = list(rows.values_list("session_key", flat=True))
    sessions_delete(keys)
    rows.delete()
    if keys:
        # Open websockets of the ended sessions re-check at their next message and close.
        access_version_bump(user.pk)
        audit.record(
            action="session.end_others" if keep else "session.end_all",
            actor=user,
            target=user,
            payload={"count": len(keys)},
        )
    return len(keys)
