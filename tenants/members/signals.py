"""Authentication events → audit log (and the member session index).

Sign-in, sign-out, failures and lockouts are raised by Django, allauth and axes as
signals; each becomes one `audit.record(...)` in the schema the request is on.
"""

from __future__ import annotations

import time
from typing import Any

from allauth.account.signals import email_changed, email_confirmed
from allauth.account.signals import user_logged_in as allauth_user_logged_in
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import connection
from django.dispatch import receiver

from compliance import audit
from portal.middleware import client_ip


@receiver(user_logged_in, dispatch_uid="members.login")
def on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from tenants.members.middleware import AUTH_AT_KEY, LAST_SEEN_KEY

    session = getattr(request, "session", None)
    if session is not None:
        session[AUTH_AT_KEY] = session[LAST_SEEN_KEY] = time.time()
        if connection.schema_name != "public" and session.session_key:
            from tenants.members.services import session_register

            session_register(
                user=user,
                session_key=session.session_key,
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
    audit.record(action="auth.login", actor=user, target=user, payload={})


@receiver(allauth_user_logged_in, dispatch_uid="members.sso_login")
def on_allauth_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is not None:
        audit.record(
            action="auth.sso.login",
            actor=user,
            target=user,
            payload={"provider": sociallogin.account.provider, "uid": str(sociallogin.account.uid)[:200]},
        )


@receiver(user_logged_out, dispatch_uid="members.logout")
def on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record(action="auth.logout", actor=user, target=user, payload={})


@receiver(user_login_failed, dispatch_uid="members.login_failed")
def on_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    from tenants.members.lockout import axes_username

    audit.record(
        action="auth.login.failed",
        actor=None,
        target=None,
        payload={"login": axes_username(request, credentials)},
    )


@receiver(user_locked_out, dispatch_uid="members.locked_out")
def on_locked_out(sender: Any, request: Any, username: str, ip_address: str, **kwargs: Any) -> None:
    audit.record(
        action="auth.lockout", actor=None, target=None, payload={"login": username, "ip": ip_address}
    )


@receiver(email_changed, dispatch_uid="members.email_changed")
@receiver(email_confirmed, dispatch_uid="members.email_confirmed")
def on_email_changed_or_confirmed(sender: Any, request: Any = None, **kwargs: Any) -> None:
    """allauth's email page can change a member's login address: making another verified
    address primary, or confirming the first address of a member who had none on record
    (allauth then makes it primary). Either way the public email → tenant index follows, so
    "find your portal" knows the new address and forgets the old one."""
    from portal.accounts.models import User
    from tenants.members.services import email_index_add, email_index_remove
    from tenants.models import TenantEmail

    if connection.schema_name == "public":
        return
    address = kwargs.get("to_email_address") or kwargs.get("email_address")
    user = User.objects.filter(pk=address.user_id).first() if address is not None else None
    if user is None:
        return
    email_index_add(email=user.email)
    members = {email.lower() for email in User.objects.values_list("email", flat=True)}
    indexed = set(TenantEmail.objects.filter(tenant_id=connection.tenant.pk).values_list("email", flat=True))
    for email in indexed - members:
        email_index_remove(email=email)
        audit.record(action="member.email.change", actor=user, target=user, payload={"index_removed": True})
