"""MFA with django-otp: session state, step-up, TOTP enrolment and hashed backup codes.

Two different facts live in the session:

- **signed in with MFA**: django-otp's `otp_device_id` (set at the login challenge);
  `request.user.is_verified()` reads it. Without it, a member who has (or must have) a
  device can only reach the MFA pages.
- **step-up fresh**: `mfa_verified_at`, the time of the last OTP entered. Revealing a
  secret, opening a terminal, approving a production deploy and changing MFA or SSO need
  it to be at most `STEP_UP_SECONDS` (5 minutes) old.

Other apps use `step_up_required` (page views), `RequiresStepUp` (DRF) or
`step_up_satisfied(request)`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user, match_token
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.permissions import BasePermission

from compliance import audit
from tenants.members import permissions

STEP_UP_SESSION_KEY = "mfa_verified_at"
STEP_UP_URL = "/members/security/step-up/"
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


# --- session state ------------------------------------------------------------------------
def session_mark_signed_in(session: Any, device: Any) -> None:
    """The login challenge was passed with `device` (django-otp's own session key)."""
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id


def session_mark_verified(session: Any, user: Any, device: Any = None) -> None:
    """An OTP was entered just now: signed in with MFA, and step-up is fresh."""
    device = device or next(iter(devices_for_user(user, confirmed=True)), None)
    if device is not None:
        session_mark_signed_in(session, device)
    session[STEP_UP_SESSION_KEY] = time.time()


def step_up_fresh(session: Any) -> bool:
    verified_at = session.get(STEP_UP_SESSION_KEY) if session is not None else None
    return bool(verified_at) and time.time() - float(verified_at) <= settings.STEP_UP_SECONDS


def step_up_satisfied(request: Any, *, allow_service_accounts: bool = False) -> bool:
    """A session with a fresh OTP; or, where the caller allows it, a service account's token
    (automation cannot type an OTP: its IP allow-list and scopes are its controls)."""
    if getattr(request, "auth", None) is not None:
        user = getattr(request, "user", None)
        return allow_service_accounts and bool(getattr(user, "is_service_account", False))
    return step_up_fresh(getattr(request, "session", None))


def step_up_url(next_path: str) -> str:
    return f"{STEP_UP_URL}?{urlencode({'next': next_path})}"


def step_up_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Page views: without a fresh OTP, send the member to the step-up page and back."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"/accounts/login/?{urlencode({'next': request.path})}")
        if not step_up_fresh(request.session):
            if request.path.startswith("/api/") or request.headers.get("HX-Request"):
                return JsonResponse(
                    {"error": {"code": "step_up_required", "message": "Enter a fresh one-time code."}},
                    status=403,
                )
            return redirect(step_up_url(request.get_full_path()))
        return view(request, *args, **kwargs)

    return wrapped


class RequiresStepUp(BasePermission):
    """DRF: a fresh OTP (within 5 minutes) on the session. Set
    `step_up_allows_service_accounts = True` on a view to let service-account tokens through."""

    message = "This action needs a one-time code entered within the last 5 minutes."
    code = "step_up_required"

    def has_permission(self, request: Any, view: Any) -> bool:
        allow = bool(getattr(view, "step_up_allows_service_accounts", False))
        return step_up_satisfied(request, allow_service_accounts=allow)


# --- reads ---------------------------------------------------------------------------------
def policy_requires_mfa_for_all() -> bool:
    from tenants.members.models import SecurityPolicy

    policy = SecurityPolicy.objects.filter(pk=1).only("require_mfa_for_all").first()
    return bool(policy and policy.require_mfa_for_all)


def mfa_required_for(user: Any) -> bool:
    """Admins always; everyone when the tenant's policy says so. Service accounts never log in."""
    if getattr(user, "is_service_account", False):
        return False
    return permissions.role_of(user) in permissions.ADMINS or policy_requires_mfa_for_all()


def user_has_mfa(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def session_passes_mfa_gate(session: Any, user: Any) -> bool:
    """For places the HTTP middleware does not cover (websocket consumers): a member who
    has, or must have, a factor must have passed the challenge in this session. Call it
    inside the tenant's schema (e.g. from a `tenant_sync` method)."""
    if not getattr(user, "is_authenticated", False):
        return False
    device_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if device_id:
        from django_otp.models import Device

        device = Device.from_persistent_id(device_id)
        if device is not None and device.user_id == user.pk:
            return True
    return not (user_has_mfa(user) or mfa_required_for(user))


def totp_device_of(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def backup_code_hash(code: str) -> str:
    """Keyed hash: 50-bit random codes, so HMAC-SHA256 with a server key is enough offline
    protection and keeps verification cheap (no 10 × Argon2 per attempt)."""
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    key = hashlib.sha256(f"backup-codes:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


def otp_match(user: Any, code: str) -> Any:
    """The device (TOTP or backup codes) that accepts `code`, else None. A TOTP code is
    accepted once: django-otp remembers the last time step used (`last_t`)."""
    code = (code or "").strip().replace(" ", "")
    if not code or len(code) > 16:
        return None
    return match_token(user, code)


def totp_qr_svg(device: TOTPDevice) -> bytes:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


# --- writes ------------------------------------------------------------------------------
@transaction.atomic
def totp_enrolment_begin(*, user: Any) -> TOTPDevice:
    """A fresh unconfirmed TOTP device (replacing any earlier unconfirmed one)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def _audit_mfa(action: str, user: Any, **payload: Any) -> None:
    audit.record(action=action, actor=user, target=user, payload=payload)


@transaction.atomic
def totp_enrolment_confirm(*, user: Any, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm with a first code; returns new backup codes, or None if the code is wrong."""
    if device.user_id != user.pk or device.confirmed:
        return None
    if not device.verify_token((code or "").strip()):
        _audit_mfa("mfa.totp.enrol_failed", user)
        return None
    TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    _audit_mfa("mfa.totp.added", user, device=device.persistent_id)
    return backup_codes_regenerate(user=user)


@transaction.atomic
def backup_codes_regenerate(*, user: Any) -> list[str]:
    """Ten new codes, shown once; the old set stops working."""
    from tenants.members.models import BackupCodeDevice

    codes = []
    for _ in range(BACKUP_CODE_COUNT):
        raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    device, _ = BackupCodeDevice.objects.get_or_create(
        user=user, defaults={"name": "Backup codes", "confirmed": True}
    )
    device.code_hashes = [backup_code_hash(code) for code in codes]
    device.save(update_fields=["code_hashes"])
    _audit_mfa("mfa.backup_codes.regenerated", user, count=len(codes))
    return codes


@transaction.atomic
def mfa_remove(*, user: Any, actor: Any) -> None:
    """Remove every factor of `user` (self-service, or an admin resetting a lost device)."""
    from tenants.members.models import BackupCodeDevice

    if actor.pk != user.pk:
        permissions.authorize(actor, "members.manage")
    TOTPDevice.objects.filter(user=user).delete()
    BackupCodeDevice.objects.filter(user=user).delete()
    audit.record(action="mfa.removed", actor=actor, target=user, payload={})
