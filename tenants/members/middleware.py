"""Session security on every request: idle/absolute expiry, live re-check of the member,
and the MFA gate.

- A session idle for `SESSION_IDLE_SECONDS` (30 min) or older than `SESSION_COOKIE_AGE`
  (12 h) since sign-in is ended. Activity is written at most once a minute.
- The user row is loaded fresh on each request (AuthenticationMiddleware); if the member
  was deactivated, removed, or is a service account, the session is flushed here so that
  it cannot come back.
- A member who has a factor, or must have one (admins, or everyone under the tenant's
  policy), reaches only the MFA pages and sign-out until they pass the challenge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, get_user_model, logout
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.functional import LazyObject, empty
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import middleware as otp_middleware
from django_otp.models import Device

from portal import rows
from portal.accounts.backends import offered_user

AUTH_AT_KEY = "auth_at"
LAST_SEEN_KEY = "last_seen"
ACTIVITY_WRITE_SECONDS = 60
MFA_OPEN_PATHS = (
    "/members/security/verify/",
    "/members/security/totp/",
    "/accounts/logout/",
    "/static/",
)


class SessionSecurityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is None or SESSION_KEY not in session:
            return self.get_response(request)  # anonymous or token requests: no queries here
        refusal = self._check_session(request)
        if refusal is not None:
            return refusal
        return self.get_response(request)

    def _check_session(self, request: HttpRequest) -> HttpResponse | None:
        session = request.session
        now = time.time()
        auth_at = float(session.get(AUTH_AT_KEY) or now)
        last_seen = float(session.get(LAST_SEEN_KEY) or now)
        if now - last_seen > settings.SESSION_IDLE_SECONDS or now - auth_at > settings.SESSION_COOKIE_AGE:
            logout(request)
            messages.info(request, "Your session expired. Please sign in again.")
            return None
        if AUTH_AT_KEY not in session:
            session[AUTH_AT_KEY] = now
        if LAST_SEEN_KEY not in session or now - last_seen >= ACTIVITY_WRITE_SECONDS:
            session[LAST_SEEN_KEY] = now
        user = request.user
        if not user.is_authenticated or getattr(user, "is_service_account", False):
            # Deactivated, deleted, or a password change: the session must not come back.
            session.flush()
            return None
        # The user is read now: hand the view the object itself rather than django-otp's lazy
        # proxy, through which each attribute read costs a few µs.
        if isinstance(user, LazyObject):
            request.user = user._wrapped
        if connection.schema_name != "public":
            return self._mfa_gate(request)
        return None

    def _mfa_gate(self, request: HttpRequest) -> HttpResponse | None:
        from tenants.members import mfa

        user = request.user
        if user.is_verified() or request.path.startswith(MFA_OPEN_PATHS):
            return None
        if mfa.user_has_mfa(user):
            target, code = "/members/security/verify/", "mfa_challenge_required"
        elif mfa.mfa_required_for(user):
            target, code = "/members/security/totp/", "mfa_enrolment_required"
        else:
            return None
        if request.path.startswith("/api/"):
            message = "Finish signing in with your second factor in the browser first."
            return JsonResponse({"error": {"code": code, "message": message}}, status=403)
        return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")


class OTPMiddleware(otp_middleware.OTPMiddleware):
    """django-otp's middleware, reading the session's user and device in one cheap SELECT
    (`portal.rows`) instead of two ORM queries (~0.5 ms of ORM for the device alone) on every
    signed-in request. The rules stay Django's and django-otp's: the user goes through
    `auth.get_user` (backend, session hash, active), the persistent id names a `Device` model,
    and `_finalize_device` drops a device of another user or an unconfirmed one (and forgets
    it in the session)."""

    def _verify_user_sync(self, request: HttpRequest, user: Any) -> Any:
        session = request.session
        persistent_id = session.get(DEVICE_ID_SESSION_KEY)
        device_ref = self._device_ref(persistent_id) if persistent_id else None
        # Only while the user is still unread (AuthenticationMiddleware's lazy object).
        if device_ref is None or SESSION_KEY not in session or getattr(user, "_wrapped", None) is not empty:
            user = super()._verify_user_sync(request, user)
        else:
            model, pk = device_ref
            row, device = rows.get_by_pk_with(get_user_model(), session[SESSION_KEY], model, pk, fk="user_id")
            # django-otp's `_verify_user_sync`, with the device already read. Setting the fields
            # evaluates the lazy user, so `auth.get_user` runs here, with the row on offer.
            with offered_user(row):
                self._init_user_fields(user)
            if user.is_authenticated:
                user.otp_device = self._finalize_device(request, user, device)
        # Read by now (setting the fields evaluated it): django-otp's lazy object wraps the
        # user itself, not Django's lazy object, on either path.
        return user._wrapped if isinstance(user, LazyObject) else user

    def _device_ref(self, persistent_id: str) -> tuple[type[Device], str] | None:
        try:
            label, pk = self._normalize_persistent_id(persistent_id).rsplit("/", 1)
            model = apps.get_model(label)
        except (ValueError, LookupError):
            return None
        return (model, pk) if issubclass(model, Device) else None

    def _device_from_persistent_id(self, persistent_id: str) -> Device | None:
        device_ref = self._device_ref(persistent_id)
        return None if device_ref is None else rows.get_by_pk(*device_ref)
