"""SAML single sign-on per tenant (allauth's SAML provider on python3-saml/xmlsec).

The IdP is an allauth `SocialApp` (provider `saml`, client id `sso`) in the tenant's own
schema, so the URLs are `/accounts/saml/sso/{login,acs,metadata}/` on the tenant's host and
the SP entity id is the tenant's metadata URL. allauth reads `idp`, `attribute_mapping` and
`advanced` from `SocialApp.settings`; Tenantry's own settings (on/off, JIT, group attribute,
group → role map, default role) sit next to them under `tenantry`, separate from OIDC's.

Signed assertions are required (`want_assertion_signed`), SHA-1 is refused, and IdP-initiated
responses are refused. On top of python3-saml's checks (signature, issuer, audience,
destination, recipient, time window), `message_ids_consume` refuses a response or assertion
id seen before, and `refuse` audits every refused response before the member sees why.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from allauth.socialaccount.models import SocialApp
from cryptography import x509
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance import audit
from portal.accounts.models import Role
from tenants.members import permissions
from tenants.members.models import SamlMessageId

PROVIDER = "saml"
SLUG = "sso"  # allauth's "organization slug": /accounts/saml/sso/…
# Kept past an assertion's NotOnOrAfter: python3-saml tolerates this much clock drift.
REPLAY_MARGIN = timedelta(minutes=10)
REPLAY_DEFAULT_TTL = timedelta(hours=24)  # an assertion without NotOnOrAfter


@dataclass(frozen=True)
class SamlMapping:
    """What Tenantry does with a SAML sign-in (the duck type `sso.role_from_claims` reads)."""

    enabled: bool = False
    jit_provisioning: bool = True
    group_claim: str = "groups"
    role_map: dict[str, str] = field(default_factory=dict)
    default_role: str = str(Role.VIEWER)
    name_attribute: str = ""


def saml_app() -> SocialApp | None:
    return SocialApp.objects.filter(provider=PROVIDER, client_id=SLUG).first()


def saml_mapping(app: SocialApp | None = None) -> SamlMapping:
    app = app if app is not None else saml_app()
    if app is None:
        return SamlMapping()
    data = (app.settings or {}).get("tenantry") or {}
    return SamlMapping(
        enabled=bool(data.get("enabled", False)),
        jit_provisioning=bool(data.get("jit_provisioning", True)),
        group_claim=str(data.get("group_attribute") or "groups"),
        role_map=dict(data.get("role_map") or {}),
        default_role=str(data.get("default_role") or Role.VIEWER),
        name_attribute=str(data.get("name_attribute") or ""),
    )


def certificate_body(text: str) -> str:
    """The base64 body of a PEM (or bare base64) X.509 certificate, checked to parse and to
    be valid now. A ValidationError names the `x509cert` field."""
    lines = [line.strip() for line in (text or "").strip().splitlines()]
    body = "".join(line for line in lines if line and not line.startswith("-----"))
    if not body:
        raise ValidationError({"x509cert": "Paste the identity provider's signing certificate."})
    try:
        der = base64.b64decode(body, validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(
            {"x509cert": "This is not an X.509 certificate. Paste the PEM text, BEGIN/END lines included."}
        ) from exc
    now = timezone.now()
    if cert.not_valid_after_utc <= now:
        expired = cert.not_valid_after_utc.date().isoformat()
        raise ValidationError({"x509cert": f"This certificate expired on {expired}."})
    if cert.not_valid_before_utc > now + REPLAY_MARGIN:
        raise ValidationError({"x509cert": "This certificate is not valid yet."})
    return body


def _https_url(url: str) -> str:
    """https only; outside production a loopback IdP (a local Keycloak, the browser tests)
    may use http."""
    url = (url or "").strip()
    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1") and not settings.PRODUCTION
    loopback = parts.scheme == "http" and local
    if not (parts.scheme == "https" or loopback) or not parts.hostname:
        raise ValidationError({"sso_url": "The single sign-on URL must be an https:// address."})
    return url


def _attribute(value: str, name: str, default: str = "") -> str:
    value = (value or "").strip() or default
    if len(value) > 256 or any(ch.isspace() for ch in value):
        raise ValidationError({name: "An attribute name has no spaces and at most 256 characters."})
    return value


@transaction.atomic
def saml_configure(
    *,
    actor: Any,
    entity_id: str,
    sso_url: str,
    x509cert: str,
    enabled: bool = True,
    email_attribute: str = "email",
    name_attribute: str = "",
    uid_attribute: str = "",
    group_attribute: str = "groups",
    role_map: dict[str, str] | None = None,
    default_role: str = Role.VIEWER,
    jit_provisioning: bool = True,
) -> SocialApp:
    """Create or update the tenant's SAML IdP and what a SAML sign-in maps to."""
    from tenants.members.sso import SSO_ROLES, clean_role_map

    permissions.authorize(actor, "sso.manage")
    entity_id = (entity_id or "").strip()
    if not entity_id or len(entity_id) > 1024:
        raise ValidationError({"entity_id": "Enter the identity provider's entity id (issuer)."})
    if default_role not in SSO_ROLES:
        raise ValidationError({"default_role": "SSO cannot provision owners."})
    sso_url = _https_url(sso_url)
    cert = certificate_body(x509cert)
    email_attribute = _attribute(email_attribute, "email_attribute", "email")
    uid_attribute = _attribute(uid_attribute, "uid_attribute")
    tenantry = {
        "enabled": bool(enabled),
        "jit_provisioning": bool(jit_provisioning),
        "group_attribute": _attribute(group_attribute, "group_attribute", "groups"),
        "role_map": clean_role_map(role_map or {}),
        "default_role": str(default_role),
        "name_attribute": _attribute(name_attribute, "name_attribute"),
    }
    app = saml_app() or SocialApp(provider=PROVIDER, client_id=SLUG, name="SAML single sign-on")
    attribute_mapping = {"email": email_attribute}
    if uid_attribute:  # otherwise the NameID is the account's uid
        attribute_mapping["uid"] = uid_attribute
    app.settings = {
        "idp": {"entity_id": entity_id, "sso_url": sso_url, "x509cert": cert},
        "attribute_mapping": attribute_mapping,
        "advanced": {
            "want_assertion_signed": True,
            "reject_deprecated_algorithm": True,
            "reject_idp_initiated_sso": True,
            "strict": True,
        },
        "tenantry": tenantry,
    }
    app.save()
    audit.record(
        action="sso.saml.configure",
        actor=actor,
        target=app,
        payload={"entity_id": entity_id, "sso_url": sso_url, "attribute_mapping": attribute_mapping}
        | {k: v for k, v in tenantry.items()},
    )
    return app


def message_ids_consume(
    *, response_id: str | None, assertion_id: str | None, issuer: str, not_on_or_after: Any
) -> bool:
    """Remember an accepted response's ids; False when either was seen before (a replay).
    Committed on its own, so a sign-in that fails later still burns its ids."""
    now = timezone.now()
    if isinstance(not_on_or_after, (int, float)):
        expires = datetime.fromtimestamp(not_on_or_after, tz=UTC)
    else:
        expires = now + REPLAY_DEFAULT_TTL
    expires = max(expires, now) + REPLAY_MARGIN
    rows = [
        SamlMessageId(kind=kind, message_id=str(value)[:256], issuer=issuer[:1024], expires_at=expires)
        for kind, value in (
            (SamlMessageId.Kind.RESPONSE, response_id),
            (SamlMessageId.Kind.ASSERTION, assertion_id),
        )
        if value
    ]
    if not rows:
        return False  # python3-saml refuses responses without ids; never accept one here
    try:
        with transaction.atomic():
            SamlMessageId.objects.bulk_create(rows)
    except IntegrityError:
        return False
    SamlMessageId.objects.filter(expires_at__lt=now).delete()
    return True


# Why a response was refused, for the member (the audit event keeps python3-saml's words).
REASONS = {
    "unsigned": "The identity provider's response was not signed.",
    "bad_signature": "The response's signature does not match the certificate configured for this portal.",
    "expired": "The response has expired. Sign in again.",
    "wrong_audience": "The response was issued for another service, not this portal.",
    "wrong_destination": "The response was addressed to another portal.",
    "wrong_issuer": "The response comes from an identity provider this portal does not trust.",
    "replayed": "This response was already used. Sign in again.",
    "unsolicited": (
        "This portal did not start this sign-in, or it was started in another browser. Sign in again."
    ),
    "no_response": "No sign-in response was received. Sign in again.",
    "no_email": "The identity provider sent no email address.",
    "owner_by_email": "Owners sign in with their password and second factor, not through single sign-on.",
    "plan_limit": "This portal has reached its plan's member limit. Ask an administrator.",
    "not_provisioned": "Your account could not be created in this portal. Ask an administrator.",
    "invalid": "The identity provider's response is not valid.",
}


def classify(reason: str) -> str:
    text = (reason or "").lower()
    rules = (
        ("not signed", "unsigned"),
        ("no signature", "unsigned"),
        ("signature", "bad_signature"),
        ("expired", "expired"),
        ("subjectconfirmation", "expired"),  # past NotOnOrAfter or another recipient
        ("audience", "wrong_audience"),
        ("destination", "wrong_destination"),
        ("received at", "wrong_destination"),
        ("issuer", "wrong_issuer"),
    )
    return next((kind for needle, kind in rules if needle in text), "invalid")


def refuse(*, kind: str, detail: str = "", issuer: str = "", provider: str = PROVIDER) -> str:
    """Audit a refused SSO sign-in (outside any transaction a caller may roll back) and
    return the message the member sees."""
    audit.record(
        action="auth.sso.refused",
        actor=None,
        target=None,
        payload={
            "provider": provider,
            "reason": kind,
            "detail": (detail or "")[:500],
            "issuer": issuer[:300],
        },
    )
    return REASONS.get(kind, REASONS["invalid"])
