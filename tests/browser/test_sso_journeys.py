"""Journeys of SAML sign-in and the email-address page, in Chromium under the strict CSP.

The SAML IdP is a small HTTP server in this process on 127.0.0.1 (another site than
`<slug>.localhost`): it answers the portal's AuthnRequest with a page whose form posts a
signed Response to the tenant's ACS, as a real IdP does. That exercises what the test
client cannot: the CSP's form-action on the redirect to the IdP, the cross-site POST to the
ACS and allauth's hand-over cookie, and the session cookie on the way back.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django_tenants.utils import schema_context, tenant_context
from playwright.sync_api import expect

from tests.browser.test_member_journeys import fresh_owner as fresh_owner
from tests.members.saml_idp import SamlIdp, authn_request_id

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class IdpServer:
    """Serves GET /sso: "continue as <email>" with the signed SAMLResponse in a form."""

    def __init__(self, email: str, groups: tuple[str, ...]) -> None:
        self.email, self.groups = email, groups
        self.sp: dict[str, str] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.idp = SamlIdp(entity_id="https://idp.journey.test/saml", sso_url=f"{self.origin}/sso")

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                location = f"{outer.origin}{self.path}"
                query = parse_qs(urlsplit(location).query)
                if "SAMLRequest" not in query:  # e.g. the browser's /favicon.ico
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                response = outer.idp.response(
                    acs_url=outer.sp["acs_url"],
                    audience=outer.sp["audience"],
                    in_response_to=authn_request_id(location),
                    email=outer.email,
                    groups=outer.groups,
                    name="Sam Saml",
                )
                relay = query.get("RelayState", [""])[0]
                body = (
                    '<!doctype html><title>Test IdP</title><link rel="icon" href="data:,"><h1>Test IdP</h1>'
                    f'<form method="post" action="{html.escape(outer.sp["acs_url"])}">'
                    f'<input type="hidden" name="SAMLResponse" value="{response}">'
                    f'<input type="hidden" name="RelayState" value="{html.escape(relay)}">'
                    f"<button>Continue as {html.escape(outer.email)}</button></form>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> IdpServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def saml_idp(fresh_owner: Any) -> Iterator[IdpServer]:
    slug = fresh_owner.host.split(".")[0]
    with IdpServer(email=f"sam@{slug}.test", groups=("eng",)) as server:
        yield server


def test_a_member_signs_in_through_the_tenants_saml_idp(journey, fresh_owner, saml_idp):
    from portal.accounts.models import User
    from tenants.members import saml
    from tenants.models import Tenant

    slug = fresh_owner.host.split(".")[0]
    with journey("saml-sign-in") as j:
        base = j.server.tenant_url(slug, f"/accounts/saml/{saml.SLUG}")
        saml_idp.sp = {"acs_url": f"{base}/acs/", "audience": f"{base}/metadata/"}
        tenant = Tenant.objects.get(slug=slug)
        with tenant_context(tenant):
            saml.saml_configure(
                actor=User.objects.get(email=fresh_owner.email),
                entity_id=saml_idp.idp.entity_id,
                sso_url=saml_idp.idp.sso_url,
                x509cert=saml_idp.idp.cert_pem,
                name_attribute="displayName",
                role_map={"eng": "developer"},
            )
        page = j.page()
        page.goto(j.server.tenant_url(slug, "/accounts/login/"))
        page.get_by_role("link", name="SAML single sign-on").click()
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Test IdP")
        page.get_by_role("button", name=f"Continue as {saml_idp.email}").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Tenant {slug}")
        expect(page.locator(".whoami")).to_contain_text("Developer")
        with schema_context(fresh_owner.schema_name):
            sam = User.objects.get(email=saml_idp.email)
        assert sam.role == "developer"
        assert sam.name == "Sam Saml"


def test_the_email_page_confirms_removal_without_csp_violations(journey, fresh_owner):
    from allauth.account.models import EmailAddress

    from portal.accounts.models import User

    slug = fresh_owner.host.split(".")[0]
    with journey("account-email") as j:
        with schema_context(fresh_owner.schema_name):
            owner = User.objects.get(email=fresh_owner.email)
            EmailAddress.objects.get_or_create(user=owner, email=owner.email, defaults={"primary": True})
            EmailAddress.objects.create(user=owner, email=f"old@{slug}.test", verified=False)
        page = j.page(fresh_owner)
        page.goto(j.server.tenant_url(slug, "/accounts/email/"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Email addresses")
        page.get_by_label(f"old@{slug}.test").check()
        page.get_by_role("button", name="Remove").click()
        dialog = page.locator("#confirm-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("remove the selected email address")
        dialog.get_by_role("button", name="Cancel").click()
        expect(page.locator("main")).to_contain_text(f"old@{slug}.test")  # nothing happened
        page.get_by_role("button", name="Remove").click()
        dialog.get_by_role("button", name="Yes, continue").click()
        expect(page.locator(".messages")).to_be_visible()
        expect(page.locator("fieldset")).not_to_contain_text(f"old@{slug}.test")
        with schema_context(fresh_owner.schema_name):
            assert not EmailAddress.objects.filter(email=f"old@{slug}.test").exists()


def test_an_owner_fixes_a_bad_certificate_on_the_saml_settings_page(journey, fresh_owner):
    from tests.members.saml_idp import key_and_certificate

    slug = fresh_owner.host.split(".")[0]
    with journey("saml-settings") as j:
        j.allow("status of 400")  # the form re-rendered with its errors
        page = j.page(fresh_owner)
        page.goto(j.server.tenant_url(slug, "/members/sso/saml/"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Single sign-on (SAML)")
        expect(page.locator("#sp-acs-url")).to_contain_text(f"{slug}.localhost")
        page.get_by_label("IdP entity ID").fill("https://idp.example.test/saml")
        page.get_by_label("IdP single sign-on URL").fill("https://idp.example.test/sso")
        page.get_by_label("IdP signing certificate").fill(
            "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"
        )
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".has-error")).to_contain_text("not an X.509 certificate")
        expect(page.get_by_label("IdP signing certificate")).to_be_focused()
        page.get_by_label("IdP signing certificate").fill(key_and_certificate("idp.example.test")[1])
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".messages")).to_contain_text("SAML single sign-on settings saved")
