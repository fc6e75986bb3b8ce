"""SAML (allauth + python3-saml/xmlsec): per-tenant IdP config, SP metadata, AuthnRequest.

The assertion-consuming half needs an IdP that signs responses; that end-to-end flow is
not covered here (OIDC is, against a real local provider in test_sso.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.members import sso

from .conftest import audit_actions


def _certificate() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.test")])
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timezone.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return "".join(pem.splitlines()[1:-1])


def _configure(alice, *, enabled=True):
    with schema_context(alice.schema_name):
        connection.tenant = alice.tenant
        actor = alice.user()
        config = sso.sso_config()
        config.enabled = enabled
        config.save()
        sso.saml_configure(
            actor=actor,
            entity_id="https://idp.test/entity",
            sso_url="https://idp.test/sso",
            x509cert=_certificate(),
        )


def test_acme_serves_its_own_sp_metadata(alice, db):
    _configure(alice)
    response = Client(HTTP_HOST=alice.host).get(f"/accounts/saml/{sso.SAML_SLUG}/metadata/")
    assert response.status_code == 200
    assert b"EntityDescriptor" in response.content
    assert f"{alice.host}/accounts/saml/{sso.SAML_SLUG}/acs/".encode() in response.content
    assert audit_actions(alice.schema_name, "sso.saml.configure")


def test_saml_login_sends_an_authn_request_to_the_idp(alice, db):
    _configure(alice)
    response = Client(HTTP_HOST=alice.host).post(f"/accounts/saml/{sso.SAML_SLUG}/login/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == "https://idp.test/sso"
    assert "SAMLRequest" in parse_qs(target.query)


def test_globex_has_no_saml_app(alice, mallory, db):
    _configure(alice)
    assert Client(HTTP_HOST=mallory.host).get(f"/accounts/saml/{sso.SAML_SLUG}/metadata/").status_code == 404
