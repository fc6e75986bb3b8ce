"""SSO per tenant: OpenID Connect (and SAML, `saml.py`) through allauth, configured by the
tenant's org admin.

The OIDC client is allauth's `SocialApp` (provider `openid_connect`, provider id `sso`)
stored in the tenant's own schema, so each tenant has its own IdP and nothing is shared.
`SsoConfig` adds what allauth does not know: on/off, just-in-time provisioning, and the
IdP group claim → role mapping. SAML keeps its own copy of those settings (`saml.py`).

Members are provisioned on first login (`member_create`, so the email index and audit
follow); on every SSO login a mapped group claim re-syncs the role. SSO never grants or
removes `owner`.
"""

from __future__ import annotations

from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from compliance import audit
from portal.accounts.models import Role, User
from tenants.members import permissions, saml
from tenants.members.models import SsoConfig

PROVIDER = "openid_connect"
PROVIDER_ID = "sso"
SAML_PROVIDER = saml.PROVIDER
SAML_SLUG = saml.SLUG  # allauth's organization slug: /accounts/saml/sso/…
# When several groups map, the first role in this order wins.
ROLE_PRECEDENCE = (Role.ORG_ADMIN, Role.OPERATOR, Role.DEVELOPER, Role.AUDITOR, Role.VIEWER)
SSO_ROLES = tuple(str(role) for role in ROLE_PRECEDENCE)


def sso_config() -> SsoConfig:
    return SsoConfig.objects.filter(pk=1).first() or SsoConfig(pk=1)


def sso_app() -> SocialApp | None:
    return SocialApp.objects.filter(provider=PROVIDER, provider_id=PROVIDER_ID).first()


def sso_enabled() -> bool:
    return connection.schema_name != "public" and sso_config().enabled and sso_app() is not None


def role_from_claims(claims: dict[str, Any], config: Any) -> str | None:
    """The role the IdP groups map to, or None when no group is mapped."""
    groups = claims.get(config.group_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    mapped = {config.role_map.get(str(group)) for group in groups} - {None}
    for role in ROLE_PRECEDENCE:
        if role in mapped:
            return str(role)
    return None


def claims_of(sociallogin: Any) -> dict[str, Any]:
    data = sociallogin.account.extra_data or {}
    if sociallogin.account.provider == SAML_PROVIDER:
        return dict(data)  # SAML attributes (each a list of values)
    claims = dict(data.get("id_token") or {})
    claims.update(data.get("userinfo") or {})
    return claims


def clean_role_map(role_map: dict[str, str]) -> dict[str, str]:
    cleaned = {}
    for group, role in role_map.items():
        if role not in SSO_ROLES:
            raise ValidationError(
                {"role_map": f"{group!r} maps to {role!r}; use one of {', '.join(SSO_ROLES)}."}
            )
        cleaned[str(group).strip()] = role
    return cleaned


@transaction.atomic
def sso_configure(
    *,
    actor: Any,
    enabled: bool,
    server_url: str,
    client_id: str,
    client_secret: str = "",
    jit_provisioning: bool = True,
    group_claim: str = "groups",
    role_map: dict[str, str] | None = None,
    default_role: str = Role.VIEWER,
) -> SsoConfig:
    """Create or update the tenant's OIDC client and SSO settings. An empty
    `client_secret` keeps the stored one. The secret never reaches the audit log."""
    permissions.authorize(actor, "sso.manage")
    if default_role not in SSO_ROLES:
        raise ValidationError({"default_role": "SSO cannot provision owners."})
    if enabled and not (server_url and client_id):
        raise ValidationError({"server_url": "An issuer URL and a client id are needed to enable SSO."})
    app = sso_app() or SocialApp(provider=PROVIDER, provider_id=PROVIDER_ID, name="Single sign-on")
    app.client_id = client_id.strip()
    if client_secret:
        app.secret = client_secret
    app.settings = {"server_url": server_url.strip(), "token_auth_method": "client_secret_post"}
    app.save()
    config = sso_config()
    config.enabled = enabled
    config.jit_provisioning = jit_provisioning
    config.group_claim = group_claim.strip() or "groups"
    config.role_map = clean_role_map(role_map or {})
    config.default_role = default_role
    config.save()
    audit.record(
        action="sso.configure",
        actor=actor,
        target=config,
        payload={
            "enabled": enabled,
            "server_url": app.settings["server_url"],
            "client_id": app.client_id,
            "secret_changed": bool(client_secret),
            "jit_provisioning": jit_provisioning,
            "role_map": config.role_map,
            "default_role": default_role,
        },
    )
    return config


def mapping_for(provider: str) -> Any:
    """On/off, JIT, group claim, role map and default role of a provider's sign-ins: OIDC's
    live in `SsoConfig`, SAML's next to the IdP settings (`saml.saml_mapping`)."""
    return saml.saml_mapping() if provider == SAML_PROVIDER else sso_config()


def _first(value: Any) -> str:
    """SAML attributes are lists of values; OIDC claims are plain."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    return str(value or "")


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """allauth hooks: per-tenant app list, JIT provisioning, group → role sync."""

    def list_apps(
        self, request: HttpRequest | None, provider: str | None = None, client_id: str | None = None
    ):
        if connection.schema_name == "public":
            return []
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        enabled = {PROVIDER: sso_config().enabled, SAML_PROVIDER: saml.saml_mapping().enabled}
        return [app for app in apps if enabled.get(app.provider, True)]

    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        config = mapping_for(sociallogin.account.provider)
        return config.enabled and config.jit_provisioning

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        user = sociallogin.user
        if user.pk and getattr(user, "is_service_account", False):
            raise PermissionDenied("Service accounts cannot sign in.")
        if user.pk and user.role == Role.OWNER and getattr(sociallogin, "_did_authenticate_by_email", None):
            # An org admin controls the IdP settings; matching an owner by email would let them
            # sign in as the owner. Owners sign in with their password (and second factor).
            raise ImmediateHttpResponse(self._refused(request, sociallogin, "owner_by_email"))
        if user.pk and sociallogin.is_existing:
            self._sync_role(user, sociallogin)

    def save_user(self, request: HttpRequest, sociallogin: Any, form: Any = None) -> User:
        """Just-in-time provisioning through the member service (email index + audit)."""
        from tenants.members.services import member_create

        provider = sociallogin.account.provider
        config = mapping_for(provider)
        claims = claims_of(sociallogin)
        email = (sociallogin.user.email or _first(claims.get("email"))).strip().lower()
        if not email:
            raise ValidationError("The identity provider sent no email address.")
        role = role_from_claims(claims, config) or config.default_role
        name_key = config.name_attribute if provider == SAML_PROVIDER else "name"
        name = _first(claims.get(name_key)) if name_key else ""
        try:
            user = member_create(email=email, role=role, name=name[:150], source="sso")
        except ValidationError as exc:  # e.g. the plan's member limit: a clear 403, not a 500
            if provider == SAML_PROVIDER:
                raise  # views/saml.py answers with its own refusal page
            from tenants.billing.limits import PlanLimitExceeded

            kind = "plan_limit" if isinstance(exc, PlanLimitExceeded) else "not_provisioned"
            message = saml.refuse(kind=kind, detail="; ".join(exc.messages), provider=provider)
            context = {"message": message, "kind": kind}
            raise ImmediateHttpResponse(
                render(request, "members/sso_refused.html", context, status=403)
            ) from exc
        user.set_unusable_password()
        user.save(update_fields=["password"])
        sociallogin.user = user
        sociallogin.save(request)
        return user

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        """OIDC failures (bad state, the IdP's error, a token that does not verify) are
        audited like refused SAML responses."""
        detail = f"{error or 'unknown'}: {exception!r}" if exception else str(error or "unknown")
        saml.refuse(kind="provider_error", detail=detail, provider=str(getattr(provider, "id", "") or ""))
        super().on_authentication_error(request, provider, error, exception, extra_context)

    def _refused(self, request: HttpRequest, sociallogin: Any, kind: str) -> HttpResponse:
        message = saml.refuse(kind=kind, provider=sociallogin.account.provider)
        return render(request, "members/sso_refused.html", {"message": message, "kind": kind}, status=403)

    def _sync_role(self, user: User, sociallogin: Any) -> None:
        from tenants.members.services import member_role_set

        role = role_from_claims(claims_of(sociallogin), mapping_for(sociallogin.account.provider))
        if role and role != user.role and user.role != Role.OWNER:
            member_role_set(member=user, role=role, actor=None, source="sso")
            user.refresh_from_db(fields=["role"])
