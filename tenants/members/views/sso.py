"""The SSO settings page (org admins; saving needs a fresh OTP), and the CSP allowance of
the SSO start pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from portal.pages import render_form, submit_form
from tenants.members import permissions
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
    done = submit_form(
        request,
        form,
        lambda data: sso_service.sso_configure(actor=request.user, **data),
        success="Single sign-on settings saved.",
        next_url="members:sso",
        step_up=True,
    )
    if done:
        return done
    callback = request.build_absolute_uri(f"/accounts/oidc/{sso_service.PROVIDER_ID}/login/callback/")
    context = {"form": form, "callback_url": callback, "has_secret": bool(app and app.secret)}
    return render_form(request, "members/sso.html", context)


def _origin(url: str) -> str | None:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def idp_origins(provider: str) -> list[str]:
    """Where the SSO "continue" form ends up: the SAML IdP's SSO URL; for OIDC the issuer and
    the authorization endpoint its discovery document names (it may be on another origin, as
    with AWS Cognito's hosted UI)."""
    from tenants.members import saml

    if provider == saml.PROVIDER:
        app = saml.saml_app()
        origin = _origin(app.settings.get("idp", {}).get("sso_url", "")) if app else None
        return [origin] if origin else []
    app = sso_service.sso_app()
    issuer = _origin(app.settings.get("server_url", "")) if app else None
    if not issuer:
        return []
    endpoint = _origin(_oidc_authorization_endpoint(app.settings["server_url"]))
    return [issuer] if endpoint in (None, issuer) else [issuer, endpoint]


def _oidc_authorization_endpoint(server_url: str) -> str:
    """From the discovery document allauth itself reads, cached per tenant (keys carry the
    schema) for an hour, or a minute after a failure (then only the issuer is allowed)."""
    import requests
    from allauth.socialaccount.adapter import get_adapter
    from django.core.cache import cache

    key = f"sso:oidc:authorization_endpoint:{server_url}"
    cached = cache.get(key)
    if cached is not None:
        return str(cached)
    # The URL allauth's OpenIDConnectProvider.wk_server_url() reads.
    url = server_url if "/.well-known/" in server_url else server_url + "/.well-known/openid-configuration"
    try:
        with get_adapter().get_requests_session() as session:
            response = session.get(url, timeout=3)
            response.raise_for_status()
            endpoint = response.json().get("authorization_endpoint")
    except (requests.RequestException, ValueError, AttributeError):
        cache.set(key, "", 60)
        return ""
    endpoint = endpoint if isinstance(endpoint, str) else ""
    cache.set(key, endpoint, 3600)
    return endpoint


def allow_idp_form_action(view: Callable[..., HttpResponse], provider: str) -> Callable[..., HttpResponse]:
    """allauth's SSO start page posts a form whose answer is a redirect to the IdP, and
    browsers check form-action against redirects too: add the tenant's own IdP origins to
    that page's CSP (and only that page's)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        origins = idp_origins(provider)
        if origins:
            response._csp_update = {"form-action": origins}  # type: ignore[attr-defined]
        return response

    return wrapped
