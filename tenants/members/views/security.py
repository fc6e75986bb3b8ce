"""Security pages: MFA challenge and step-up, TOTP enrolment, backup codes, sessions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance import audit
from tenants.members import mfa, services
from tenants.members.forms import OtpCodeForm
from tenants.members.models import BackupCodeDevice, MemberSession
from tenants.members.views.common import safe_next

ENROL_SESSION_KEY = "mfa_enrol_device"


@login_required
def security_home(request: HttpRequest) -> HttpResponse:
    user = request.user
    backup = BackupCodeDevice.objects.filter(user=user).first()
    context = {
        "totp": mfa.totp_device_of(user),
        "backup_remaining": backup.remaining if backup else 0,
        "mfa_required": mfa.mfa_required_for(user),
        "sessions": MemberSession.objects.filter(user=user),
        "current_session": request.session.session_key,
        "step_up_fresh": mfa.step_up_fresh(request.session),
    }
    return render(request, "mfa/security.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def otp_challenge(request: HttpRequest, purpose: str = "verify") -> HttpResponse:
    """The sign-in challenge (`verify`) and the step-up prompt: an OTP or a backup code."""
    form = OtpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = mfa.otp_match(request.user, form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            mfa.session_mark_verified(request.session, request.user, device)
            kind = "backup_code" if isinstance(device, BackupCodeDevice) else "totp"
            audit.record(
                action=f"mfa.{purpose}", actor=request.user, target=request.user, payload={"device": kind}
            )
            return redirect(safe_next(request))
        audit.record(action=f"mfa.{purpose}.failed", actor=request.user, target=request.user, payload={})
        form.add_error("code", "That code is not valid, or was already used. Try the next one.")
    template = "mfa/verify.html" if purpose == "verify" else "mfa/step_up.html"
    status = 400 if form.errors else 200
    return render(request, template, {"form": form, "next": safe_next(request)}, status=status)


def _step_up_needed(request: HttpRequest) -> bool:
    """Changing a factor needs a fresh OTP, except enrolling the very first one."""
    has_factor = mfa.user_has_mfa(request.user)
    return has_factor and not mfa.step_up_fresh(request.session)


@login_required
@require_http_methods(["GET", "POST"])
def totp_enrol(request: HttpRequest) -> HttpResponse:
    if _step_up_needed(request):
        return redirect(mfa.step_up_url(request.get_full_path()))
    device = None
    device_id = request.session.get(ENROL_SESSION_KEY)
    if device_id:
        device = TOTPDevice.objects.filter(pk=device_id, user=request.user, confirmed=False).first()
    if device is None or request.method == "GET":
        device = mfa.totp_enrolment_begin(user=request.user)
        request.session[ENROL_SESSION_KEY] = device.pk
    form = OtpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = mfa.totp_enrolment_confirm(user=request.user, device=device, code=form.cleaned_data["code"])
        if codes is not None:
            request.session.pop(ENROL_SESSION_KEY, None)
            otp_login(request, device)
            mfa.session_mark_verified(request.session, request.user, device)
            return render(request, "mfa/backup_codes.html", {"codes": codes, "changed": True})
        form.add_error("code", "That code did not match. Check the time on your phone and try again.")
    context = {
        "form": form,
        "secret": device.key,
        "account": request.user.email,
        "next": safe_next(request),
    }
    return render(request, "mfa/totp_enrol.html", context, status=400 if form.errors else 200)


@login_required
def totp_qr(request: HttpRequest) -> HttpResponse:
    """The enrolment QR code as an SVG image (an <img>, so no inline markup or script)."""
    device_id = request.session.get(ENROL_SESSION_KEY)
    device = TOTPDevice.objects.filter(pk=device_id, user=request.user, confirmed=False).first()
    if device is None:
        raise Http404("No enrolment in progress.")
    response = HttpResponse(mfa.totp_qr_svg(device), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def backup_codes_new(request: HttpRequest) -> HttpResponse:
    if not mfa.step_up_fresh(request.session):
        return redirect(mfa.step_up_url("/members/security/"))
    if not mfa.user_has_mfa(request.user):
        messages.error(request, "Set up an authenticator app first.")
        return redirect("members:security")
    codes = mfa.backup_codes_regenerate(user=request.user)
    return render(request, "mfa/backup_codes.html", {"codes": codes, "changed": True})


@login_required
@require_POST
def mfa_remove(request: HttpRequest) -> HttpResponse:
    if not mfa.step_up_fresh(request.session):
        return redirect(mfa.step_up_url("/members/security/"))
    mfa.mfa_remove(user=request.user, actor=request.user)
    messages.success(request, "Your second factor was removed.")
    return redirect("members:security")


@login_required
@require_POST
def sessions_end_others(request: HttpRequest) -> HttpResponse:
    count = services.sessions_end(user=request.user, keep=request.session.session_key)
    messages.success(request, f"Signed out {count} other session{'s' if count != 1 else ''}.")
    return redirect("members:security")
