"""SAML: the assertion consumer's second half, and the SAML settings page.

`acs_finish` replaces allauth's `FinishACSView` (same URL and name, mounted in front of
allauth's URLs). allauth's ACS view stores the IdP's POST in a short-lived cookie and
redirects here, so the session cookie (SameSite=Lax) is present. Compared with allauth's
version this one also refuses a response or assertion id seen before (any browser), refuses
a response this browser did not ask for with a message instead of a bare 403, and audits
every refusal with python3-saml's reason.
"""

from __future__ import annotations

import binascii
import logging
from typing import Any

from allauth.core.internal import httpkit
from allauth.socialaccount.helpers import complete_social_login
from allauth.socialaccount.internal import statekit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.saml.utils import build_auth, get_app_or_404
from allauth.socialaccount.sessions import LoginSession
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from lxml import etree
from onelogin.saml2.errors import OneLogin_Saml2_Error
from rest_framework import throttling

from portal.pages import render_form, submit_form
from portal.throttling import SlidingWindowCounterMixin
from tenants.billing.limits import PlanLimitExceeded
from tenants.members import permissions, saml
from tenants.members.forms import SamlForm

logger = logging.getLogger(__name__)


def _refused(request: HttpRequest, kind: str, detail: str = "", issuer: str = "") -> HttpResponse:
    message = saml.refuse(kind=kind, detail=detail, issuer=issuer)
    logger.warning("SAML response refused: %s (%s)", kind, detail)
    return render(request, "members/sso_refused.html", {"message": message, "kind": kind}, status=403)


class _AcsThrottle(SlidingWindowCounterMixin, throttling.SimpleRateThrottle):
    """ACS responses per client IP and tenant (`SSO_ACS_RATE`). Every refusal is audited, so
    without a limit an anonymous client could write audit rows (and make the portal parse XML)
    as fast as it can post."""

    scope = "sso_acs"

    def get_rate(self) -> str:
        return settings.SSO_ACS_RATE

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def acs_finish(request: HttpRequest, organization_slug: str) -> HttpResponse:
    throttle = _AcsThrottle()
    if not throttle.allow_request(request, None):
        logger.warning("SAML ACS rate limit hit from %s", throttle.get_ident(request))
        response = render(
            request,
            "members/sso_refused.html",
            {
                "message": "Too many sign-in attempts from your address. Wait a minute and try again.",
                "kind": "throttled",
            },
            status=429,
        )
        response["Retry-After"] = str(max(1, int(throttle.wait() or 1)))
        return response
    app = get_app_or_404(request, organization_slug)
    provider = app.get_provider(request)
    acs_session = LoginSession(request, "saml_acs_session", "saml-acs-session")
    stored = acs_session.store.get("request")
    acs_session.delete()
    if not stored:
        return _refused(request, "no_response", "SAML ACS session missing")
    acs_request = httpkit.deserialize_request(stored, HttpRequest())
    auth = build_auth(acs_request, provider)
    detail = ""
    try:
        # InResponseTo is checked below against the state this browser stashed.
        auth.process_response(request_id=None)
    except (binascii.Error, ValueError, SyntaxError, etree.LxmlError) as exc:  # not base64 / not XML / DTD
        detail = f"undecodable response: {exc}"
    except OneLogin_Saml2_Error as exc:
        detail = str(exc)
    if detail or auth.get_errors():
        detail = auth.get_last_error_reason() or detail or ", ".join(auth.get_errors())
        return _refused(request, saml.classify(detail), detail)
    if not auth.is_authenticated():
        return _refused(request, "invalid", "not authenticated")
    issuer = str(app.settings.get("idp", {}).get("entity_id", ""))
    if not saml.message_ids_consume(
        response_id=auth.get_last_message_id(),
        assertion_id=auth.get_last_assertion_id(),
        issuer=issuer,
        not_on_or_after=auth.get_last_assertion_not_on_or_after(),
    ):
        detail = f"response {auth.get_last_message_id()} / assertion {auth.get_last_assertion_id()}"
        return _refused(request, "replayed", detail, issuer)
    state_id = auth.get_last_response_in_response_to()
    state = (
        statekit.unstash_state(request, provider_id=provider.sub_id, state_id=state_id) if state_id else None
    )
    if state is None:  # IdP-initiated, or started in another browser: never accepted
        return _refused(request, "unsolicited", f"InResponseTo={state_id!r}", issuer)
    login = provider.sociallogin_from_response(request, auth)
    login.state = state
    if not login.user.email:
        return _refused(request, "no_email", "no email attribute or NameID", issuer)
    # The tenant's own IdP is its member directory: its addresses count as verified, so an
    # existing member signs in to their account (never an owner's: see the adapter).
    for address in login.email_addresses:
        address.verified = True
    try:
        return complete_social_login(request, login)
    except PlanLimitExceeded as exc:  # JIT provisioning would go over the plan's seats
        return _refused(request, "plan_limit", str(exc), issuer)
    except ValidationError as exc:
        return _refused(request, "not_provisioned", "; ".join(exc.messages), issuer)


def _pem(body: str) -> str:
    """The stored base64 body shown as the PEM text an admin would paste."""
    if not body:
        return ""
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----"])


def _initial(app: SocialApp | None) -> dict[str, object]:
    if app is None:
        return {"enabled": True, "jit_provisioning": True}
    settings = app.settings or {}
    idp, mapping = settings.get("idp", {}), settings.get("attribute_mapping", {})
    config = saml.saml_mapping(app)
    return {
        "enabled": config.enabled,
        "entity_id": idp.get("entity_id", ""),
        "sso_url": idp.get("sso_url", ""),
        "x509cert": _pem(idp.get("x509cert", "")),
        "email_attribute": mapping.get("email", "email"),
        "uid_attribute": mapping.get("uid", ""),
        "name_attribute": config.name_attribute,
        "group_attribute": config.group_claim,
        "role_map": "\n".join(f"{group} = {role}" for group, role in config.role_map.items()),
        "default_role": config.default_role,
        "jit_provisioning": config.jit_provisioning,
    }


@permissions.permission_required("sso.manage")
@require_http_methods(["GET", "POST"])
def saml_settings(request: HttpRequest) -> HttpResponse:
    app = saml.saml_app()
    form = SamlForm(request.POST or None, initial=_initial(app))
    done = submit_form(
        request,
        form,
        lambda data: saml.saml_configure(actor=request.user, **data),
        success="SAML single sign-on settings saved.",
        next_url="members:sso-saml",
        step_up=True,
    )
    if done:
        return done
    context = {
        "form": form,
        "configured": app is not None,
        "sp_entity_id": request.build_absolute_uri(reverse("saml_metadata", args=[saml.SLUG])),
        "acs_url": request.build_absolute_uri(reverse("saml_acs", args=[saml.SLUG])),
        "metadata_url": request.build_absolute_uri(reverse("saml_metadata", args=[saml.SLUG])),
    }
    return render_form(request, "members/sso_saml.html", context)
