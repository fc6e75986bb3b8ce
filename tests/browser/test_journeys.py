"""Journeys through the real portal in chromium (see conftest.py for the live server)."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.test_member_journeys import totp_code
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Two daphne processes, and a routing cache that would keep an entry for an hour: Mallory's
# requests may land on either process, so the suspension journey passes only if the change
# reaches the other process's cache at once (Redis pub/sub, tenants.routing), not by expiry.
SERVER_ENV = {"WEB_CONCURRENCY": "2", "TENANT_ROUTING_CACHE_SECONDS": "3600"}


def test_a_visitor_signs_up_and_lands_on_their_dashboard_at_their_subdomain(journey):
    from tenants import pool

    pool.pool_refill(max(1, pool.pool_level()))  # a ready spare, as production keeps one
    slug = f"ui-{secrets.token_hex(3)}"
    with journey("signup") as j:
        page = j.page()
        page.goto(j.server.url("/"))
        page.get_by_role("link", name="Create your portal").first.click()
        page.get_by_label("Organisation name").fill("Initech")
        page.get_by_label("Portal address").fill(slug)
        page.get_by_label("Your work email").fill(f"peter@{slug}.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create portal").click()
        page.wait_for_url(f"http://{slug}.localhost:{j.server.port}/**")
        if "/members/security/totp/" in page.url:
            # Owners must use two-step verification: the portal asks for it before anything else.
            key = page.locator("code.secret-key").inner_text().strip()
            page.get_by_label("One-time code").fill(totp_code(key))
            page.get_by_role("button", name="Turn on two-step verification").click()
            page.goto(f"http://{slug}.localhost:{j.server.port}/")
        else:
            expect(page.locator(".messages")).to_contain_text("Your portal is ready")
        expect(page.get_by_role("heading", level=1)).to_have_text("Initech")
        expect(
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard")
        ).to_have_attribute("aria-current", "page")


def operator_totp_code(persona) -> str:
    """What Oscar's authenticator shows: his persona device, the next window (never reused)."""
    from django_tenants.utils import schema_context

    from tests.conftest import persona_totp_device

    with schema_context("public"):
        device = persona_totp_device(persona.user())
        return totp_code(device.key, steps_ahead=1)


def test_signup_errors_are_shown_in_place(journey, acme):
    with journey("signup-errors") as j:
        j.allow("the server responded with a status of 400")  # the form, re-rendered with errors
        page = j.page()
        page.goto(j.server.url("/signup/"))
        page.get_by_label("Organisation name").fill("Copycat")
        page.get_by_label("Portal address").fill("acme")
        page.get_by_label("Your work email").fill("copy@cat.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create portal").click()
        address = page.get_by_label("Portal address")
        expect(address).to_have_attribute("aria-invalid", "true")
        expect(page.locator(".has-error .error")).to_contain_text("already taken")
        expect(address).to_be_focused()


def test_oscar_suspends_globex_and_mallorys_next_request_shows_the_suspended_page(
    journey, oscar, mallory, globex
):
    from tenants.models import Tenant
    from tenants.services import tenant_set_status

    try:
        with journey("operator-suspends-globex") as j:
            j.allow("the server responded with a status of 403")  # the suspended page is a 403
            mallory_page = j.page(mallory)
            mallory_page.goto(j.server.tenant_url("globex"))
            expect(mallory_page.get_by_role("heading", level=1)).to_have_text("Globex")

            page = j.page()
            page.goto(j.server.url("/admin/"))
            page.get_by_label("Email").fill(oscar.email)
            page.get_by_label("Password").fill(PASSWORD)
            token = operator_totp_code(oscar) if page.locator("#id_otp_token").count() else None
            if token:  # the admin site is an OTPAdminSite
                page.locator("#id_otp_token").fill(token)
            page.get_by_role("button", name="Log in").click()
            if token and "/admin/login/" in page.url:
                # django-otp lists the operator's devices once it knows who is signing in.
                page.locator("#id_otp_device").select_option(index=1)
                page.get_by_label("Password").fill(PASSWORD)
                page.locator("#id_otp_token").fill(token)
                page.get_by_role("button", name="Log in").click()
            page.get_by_role("link", name="Open the platform status dashboard").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Platform status")
            expect(page.locator("#console-body")).to_contain_text("Provisioning pool")

            page.get_by_role("navigation", name="Console").get_by_role("link", name="Tenants").click()
            page.get_by_role("link", name="Globex", exact=True).click()
            expect(page.locator("#content")).to_contain_text("Usage against")
            page.get_by_role("link", name="Suspend…").click()
            page.get_by_label("Reason").fill("Chargeback on invoice 42")
            page.get_by_role("button", name="Change status").click()
            dialog = page.locator("#confirm-dialog")
            expect(dialog).to_be_visible()
            dialog.get_by_role("button", name="Yes, continue").click()
            expect(page.locator(".messagelist")).to_contain_text("Globex is now suspended")
            expect(page.locator("#content")).to_contain_text("Chargeback on invoice 42")

            mallory_page.reload()
            expect(mallory_page.get_by_role("heading", level=1)).to_have_text("Account suspended")
    finally:
        tenant_set_status(
            tenant=Tenant.objects.get(pk=globex.pk), status="active", reason="browser test cleanup"
        )


def test_oscar_opens_support_access_and_alice_sees_it_on_her_dashboard(journey, oscar, alice, acme):
    reason = f"Ticket #{secrets.randbelow(10_000)}: checking Acme's members"
    with journey("operator-support-access") as j:
        page = j.page(oscar)
        page.goto(j.server.url(f"/admin/tenants/tenant/{acme.pk}/change/"))
        page.get_by_role("link", name="Support access…").click()
        page.get_by_label("Why do you need to look?").fill(reason)
        page.get_by_role("button", name="Open read-only support view").click()
        expect(page.locator("#content")).to_contain_text("Read-only support view")
        expect(page.locator("#content")).to_contain_text(alice.email)

        alice_page = j.page(alice)
        alice_page.goto(j.server.tenant_url("acme"))
        activity = alice_page.get_by_role("region", name="Recent activity")
        expect(activity).to_contain_text("support.access")
        expect(activity).to_contain_text(reason)


def test_swagger_ui_renders_offline_under_the_csp(journey):
    with journey("api-docs-swagger") as j:
        page = j.page()
        page.goto(j.server.url("/api/docs/"))
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tenantry API")


def test_redoc_renders_offline_under_the_csp(journey):
    with journey("api-docs-redoc") as j:
        # Redoc's sidebar hard-codes a "by Redocly" logo from cdn.redoc.ly; redoc-init.js points
        # it at a blank local image, so nothing is requested from a third party and nothing is blocked.
        page = j.page()
        third_party: list[str] = []
        page.on("request", lambda r: "cdn.redoc.ly" in r.url and third_party.append(r.url))
        page.goto(j.server.tenant_url("acme", "/api/redoc/"))
        expect(page.locator("#redoc-container h1").first).to_contain_text("Tenantry API")
        expect(page.get_by_role("link", name="API docs by Redocly")).to_be_visible()
        assert not third_party


def test_the_dashboard_works_on_a_phone(journey, bob):
    with journey("dashboard-mobile") as j:
        page = j.page(bob, viewport={"width": 390, "height": 844})
        page.goto(j.server.tenant_url("acme"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Acme Corp")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Billing")).to_have_count(0)  # Bob is a developer
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
