"""The SSO settings page (org admins; saving needs a fresh OTP), and the CSP allowance of
the SSO start pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from portal.pages import render_form, submit_form
from tenants.members import mfa, permissions
from tenants.members import sso as sso_service
from tenants.members.forms import SsoForm


@permissions.permission_required("sso.manage")
@require_http_methods(["GET", "POST"])
def sso_settings(request: HttpRequest) -> HttpResponse:
    config, app = sso_service.sso_config(), sso_service.sso_app()
    initial = {
        "enabled": config.enabled,
        "server_url": app.settings.get("server_url", "") if app else "",
        "client_id": app.client_id if app else "",
        "jit_provisioning": config.jit_provisioning,
        "group_claim": config.group_claim,
        "role_map": "\n".join(f"{group} = {role}" for group, role in config.role_map.items()),
        "default_role": config.default_role,
    }
    form = SsoForm(request.POST or None, initial=initial)
    if request.method == "POST" and not mfa.step_up_fresh(request.session):
        return redirect(mfa.step_up_url(request.path))
    done = submit_form(
        request,
        form,
        lambda data: sso_service.sso_configure(actor=request.user, **data),
        success="Single sign-on settings saved.",
        next_url="members:sso",
    )
    if done:
        return done
    callback = request.build_absolute_uri(f"/accounts/oidc/{sso_service.PROVIDER_ID}/login/callback/")
    context = {"form": form, "callback_url": callback, "has_secret": bool(app and app.secret)}
    return render_form(request, "members/sso.html", context)


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def idp_origin(provider: str) -> str | None:
    """Where the SSO "continue" form ends up: the SAML IdP's SSO URL, or the OIDC issuer
    (its authorization endpoint is assumed to share the issuer's origin)."""
    from tenants.members import saml

    if provider == saml.PROVIDER:
        app = saml.saml_app()
        return _origin(app.settings.get("idp", {}).get("sso_url", "")) if app else None
    app = sso_service.sso_app()
    return _origin(app.settings.get("server_url", "")) if app else None


def allow_idp_form_action(view: Callable[..., HttpResponse], provider: str) -> Callable[..., HttpResponse]:
    """allauth's SSO start page posts a form whose answer is a redirect to the IdP, and
    browsers check form-action against redirects too: add the tenant's own IdP origin to
    that page's CSP (and only that page's)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        origin = idp_origin(provider)
        if origin:
            response._csp_update = {"form-action": [origin]}  # type: ignore[attr-defined]
        return response

    return wrapped
