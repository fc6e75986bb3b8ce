"""A SAML identity provider for tests: its own RSA key and self-signed certificate
(`cryptography`), and SAML 2.0 Responses whose Assertion is signed with python3-saml's
`OneLogin_Saml2_Utils.add_sign` (xmlsec, RSA-SHA256/SHA-256), as a real IdP would post them
to the service provider's ACS URL through the browser."""

from __future__ import annotations

import base64
import secrets
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.utils import OneLogin_Saml2_Utils

NS = {"samlp": "urn:oasis:names:tc:SAML:2.0:protocol", "saml": "urn:oasis:names:tc:SAML:2.0:assertion"}


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def key_and_certificate(common_name: str, *, days: int = 30, expired: bool = False) -> tuple[str, str]:
    """(private key PEM, certificate PEM), self-signed."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(days=10), now - timedelta(days=1)) if expired else (now, now + timedelta(days=days))
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - timedelta(minutes=5))
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def authn_request_id(location: str) -> str:
    """The ID of the AuthnRequest in an HTTP-Redirect binding URL (deflated, base64)."""
    encoded = parse_qs(urlsplit(location).query)["SAMLRequest"][0]
    xml = zlib.decompress(base64.b64decode(encoded), -15)
    return etree.fromstring(xml).get("ID")


@dataclass
class SamlIdp:
    entity_id: str = "https://idp.test/saml"
    sso_url: str = "https://idp.test/saml/sso"
    key_pem: str = ""
    cert_pem: str = ""
    issued: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.key_pem:
            self.key_pem, self.cert_pem = key_and_certificate(urlsplit(self.entity_id).hostname or "idp")

    def response(
        self,
        *,
        acs_url: str,
        audience: str,
        in_response_to: str | None,
        email: str,
        groups: tuple[str, ...] = (),
        name: str = "",
        sign: bool = True,
        signing_key: tuple[str, str] | None = None,
        lifetime: timedelta = timedelta(minutes=5),
        issued_at: datetime | None = None,
    ) -> str:
        """A base64 SAMLResponse as the browser posts it to `acs_url`."""
        now = issued_at or datetime.now(UTC)
        response_id, assertion_id = f"_r{secrets.token_hex(16)}", f"_a{secrets.token_hex(16)}"
        in_response = f" InResponseTo={quoteattr(in_response_to)}" if in_response_to else ""
        attributes = {"email": [email], "groups": list(groups)} | ({"displayName": [name]} if name else {})
        statements = "".join(
            f"<saml:Attribute Name={quoteattr(attr)}>"
            + "".join(
                f'<saml:AttributeValue xsi:type="xs:string">{escape(v)}</saml:AttributeValue>' for v in values
            )
            + "</saml:Attribute>"
            for attr, values in attributes.items()
            if values
        )
        assertion = f"""<saml:Assertion xmlns:saml="{NS["saml"]}"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"
    ID="{assertion_id}" Version="2.0" IssueInstant="{_time(now)}">
  <saml:Issuer>{escape(self.entity_id)}</saml:Issuer>
  <saml:Subject>
    <saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{escape(email)}</saml:NameID>
    <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
      <saml:SubjectConfirmationData NotOnOrAfter="{_time(now + lifetime)}"
        Recipient={quoteattr(acs_url)}{in_response}/>
    </saml:SubjectConfirmation>
  </saml:Subject>
  <saml:Conditions NotBefore="{_time(now - timedelta(seconds=30))}" NotOnOrAfter="{_time(now + lifetime)}">
    <saml:AudienceRestriction><saml:Audience>{escape(audience)}</saml:Audience></saml:AudienceRestriction>
  </saml:Conditions>
  <saml:AuthnStatement AuthnInstant="{_time(now)}" SessionIndex="_s{secrets.token_hex(8)}">
    <saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>
  </saml:AuthnStatement>
  <saml:AttributeStatement>{statements}</saml:AttributeStatement>
</saml:Assertion>"""
        if sign:
            key, cert = signing_key or (self.key_pem, self.cert_pem)
            signed = OneLogin_Saml2_Utils.add_sign(
                assertion,
                key,
                cert,
                sign_algorithm=OneLogin_Saml2_Constants.RSA_SHA256,
                digest_algorithm=OneLogin_Saml2_Constants.SHA256,
            )
            assertion = signed.decode() if isinstance(signed, bytes) else signed
            assertion = assertion.replace('<?xml version="1.0"?>', "").strip()
        response = f"""<samlp:Response xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}"
    ID="{response_id}" Version="2.0" IssueInstant="{_time(now)}"
    Destination={quoteattr(acs_url)}{in_response}>
  <saml:Issuer>{escape(self.entity_id)}</saml:Issuer>
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  {assertion}
</samlp:Response>"""
        self.issued.append(response_id)
        return base64.b64encode(response.encode()).decode()
