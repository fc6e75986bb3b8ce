"""SSO per tenant: OpenID Connect through allauth, configured by the tenant's org admin.

The OIDC client is allauth's `SocialApp` (provider `openid_connect`, provider id `sso`)
stored in the tenant's own schema, so each tenant has its own IdP and nothing is shared.
`SsoConfig` adds what allauth does not know: on/off, just-in-time provisioning, and the
IdP group claim → role mapping.

Members are provisioned on first login (`member_create`, so the email index and audit
follow); on every SSO login a mapped group claim re-syncs the role. SSO never grants or
removes `owner`.
"""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.http import HttpRequest

from compliance import audit
from portal.accounts.models import Role, User
from tenants.members import permissions
from tenants.members.models import SsoConfig

PROVIDER = "openid_connect"
PROVIDER_ID = "sso"
SAML_PROVIDER = "saml"
SAML_SLUG = "sso"  # allauth's organization slug: /accounts/saml/sso/…
# When several groups map, the first role in this order wins.
ROLE_PRECEDENCE = (Role.ORG_ADMIN, Role.OPERATOR, Role.DEVELOPER, Role.AUDITOR, Role.VIEWER)
SSO_ROLES = tuple(str(role) for role in ROLE_PRECEDENCE)


def sso_config() -> SsoConfig:
    return SsoConfig.objects.filter(pk=1).first() or SsoConfig(pk=1)


def sso_app() -> SocialApp | None:
    return SocialApp.objects.filter(provider=PROVIDER, provider_id=PROVIDER_ID).first()


def sso_enabled() -> bool:
    return connection.schema_name != "public" and sso_config().enabled and sso_app() is not None


def role_from_claims(claims: dict[str, Any], config: SsoConfig) -> str | None:
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


def _clean_role_map(role_map: dict[str, str]) -> dict[str, str]:
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
    config.role_map = _clean_role_map(role_map or {})
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


def saml_app() -> SocialApp | None:
    return SocialApp.objects.filter(provider=SAML_PROVIDER, client_id=SAML_SLUG).first()


@transaction.atomic
def saml_configure(
    *, actor: Any, entity_id: str, sso_url: str, x509cert: str, email_attribute: str = "email"
) -> SocialApp:
    """The tenant's SAML IdP (allauth's SAML provider, python3-saml). On/off, JIT and the
    group → role mapping are shared with OIDC in `SsoConfig` (group attribute = group claim)."""
    permissions.authorize(actor, "sso.manage")
    if not (entity_id and sso_url and x509cert):
        raise ValidationError({"entity_id": "The IdP entity id, SSO URL and certificate are all needed."})
    app = saml_app() or SocialApp(provider=SAML_PROVIDER, client_id=SAML_SLUG, name="SAML single sign-on")
    app.settings = {
        "idp": {"entity_id": entity_id.strip(), "sso_url": sso_url.strip(), "x509cert": x509cert.strip()},
        "attribute_mapping": {"uid": "uid", "email": email_attribute, "email_verified": "email_verified"},
        "advanced": {"want_assertion_signed": True, "reject_deprecated_algorithm": True},
    }
    app.save()
    audit.record(
        action="sso.saml.configure",
        actor=actor,
        target=app,
        payload={"entity_id": entity_id.strip(), "sso_url": sso_url.strip()},
    )
    return app


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """allauth hooks: per-tenant app list, JIT provisioning, group → role sync."""

    def list_apps(
        self, request: HttpRequest | None, provider: str | None = None, client_id: str | None = None
    ):
        if connection.schema_name == "public":
            return []
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        if not sso_config().enabled:
            apps = [app for app in apps if app.provider not in (PROVIDER, SAML_PROVIDER)]
        return apps

    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        config = sso_config()
        return config.enabled and config.jit_provisioning

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        user = sociallogin.user
        if user.pk and getattr(user, "is_service_account", False):
            raise PermissionDenied("Service accounts cannot sign in.")
        if user.pk and sociallogin.is_existing:
            self._sync_role(user, claims_of(sociallogin))

    def save_user(self, request: HttpRequest, sociallogin: Any, form: Any = None) -> User:
        """Just-in-time provisioning through the member service (email index + audit)."""
        from tenants.members.services import member_create

        config = sso_config()
        claims = claims_of(sociallogin)
        email = (sociallogin.user.email or claims.get("email") or "").strip().lower()
        if not email:
            raise ValidationError("The identity provider sent no email address.")
        role = role_from_claims(claims, config) or config.default_role
        name = str(claims.get("name") or "")[:150]
        user = member_create(email=email, role=role, name=name, source="sso")
        user.set_unusable_password()
        user.save(update_fields=["password"])
        sociallogin.user = user
        sociallogin.save(request)
        return user

    def _sync_role(self, user: User, claims: dict[str, Any]) -> None:
        from tenants.members.services import member_role_set

        role = role_from_claims(claims, sso_config())
        if role and role != user.role and user.role != Role.OWNER:
            member_role_set(member=user, role=role, actor=None, source="sso")
            user.refresh_from_db(fields=["role"])
