"""Journeys of a tenant member: TOTP set-up and sign-in, a secret revealed with step-up.

Each journey gets a brand-new tenant from the pool, so the second factor it adds and the
secret it creates never leak into the shared Acme/Globex personas.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import pytest
from django_tenants.utils import schema_context
from playwright.sync_api import expect

from tests.conftest import PASSWORD, Persona

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def fresh_owner(journey: Any) -> Persona:
    """A new tenant (taken from the schema pool) and its owner, committed for the live server."""
    from tenants import pool, services
    from tenants.models import Tenant

    pool.pool_refill(max(1, pool.pool_level()))
    slug = f"ui-{secrets.token_hex(3)}"
    services.tenant_create(
        slug=slug,
        name=f"Tenant {slug}",
        admin_email=f"owner@{slug}.test",
        admin_password=PASSWORD,
        status=Tenant.Status.ACTIVE,
    )
    return Persona(
        "Owner", f"owner@{slug}.test", "owner", services.tenant_schema_name(slug), f"{slug}.localhost"
    )


def totp_code(hex_key: str, *, steps_ahead: int = 0) -> str:
    """What the owner's authenticator app shows (optionally for the next 30 s window)."""
    from django_otp.oath import TOTP

    totp = TOTP(bytes.fromhex(hex_key), step=30, digits=6)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def sign_in(page: Any, url: str, persona: Persona, key: str, *, steps_ahead: int) -> None:
    """Password, then the OTP challenge. The challenge comes from the identity app's session
    middleware; while that is not in MIDDLEWARE the portal signs in without it (noted)."""
    from django.conf import settings

    page.goto(url)
    page.get_by_label("Email").fill(persona.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    if "tenants.members.middleware.SessionSecurityMiddleware" in settings.MIDDLEWARE:
        page.get_by_label("One-time code").fill(totp_code(key, steps_ahead=steps_ahead))
        page.get_by_role("button", name="Verify").click()


def test_an_owner_sets_up_totp_signs_out_and_signs_back_in_with_a_code(journey, fresh_owner):
    slug = fresh_owner.host.split(".")[0]
    with journey("totp-setup-and-sign-in") as j:
        page = j.page(fresh_owner)
        page.goto(j.server.tenant_url(slug, "/members/security/totp/"))
        key = page.locator("code.secret-key").inner_text().strip()
        page.get_by_label("One-time code").fill(totp_code(key))
        page.get_by_role("button", name="Turn on two-step verification").click()
        expect(page.locator("main")).to_contain_text("backup")

        page.get_by_role("button", name="Sign out").click()
        # The enrolment used this window's code; the next window's is new and still accepted.
        sign_in(page, j.server.tenant_url(slug, "/accounts/login/"), fresh_owner, key, steps_ahead=1)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Tenant {slug}")


def test_an_owner_creates_a_secret_reveals_it_with_step_up_and_finds_the_reveal_in_the_audit_log(
    journey, fresh_owner
):
    from tenants.members import mfa

    slug = fresh_owner.host.split(".")[0]
    with schema_context(fresh_owner.schema_name):
        user = fresh_owner.user()
        device = mfa.totp_enrolment_begin(user=user)
        assert mfa.totp_enrolment_confirm(user=user, device=device, code=totp_code(device.key)) is not None
        key = device.key
    value = f"s3cr3t-{secrets.token_hex(4)}"
    with journey("vault-reveal-with-step-up") as j:
        page = j.page()
        sign_in(page, j.server.tenant_url(slug, "/accounts/login/"), fresh_owner, key, steps_ahead=1)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Tenant {slug}")

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Vault").click()
        page.goto(j.server.tenant_url(slug, "/vault/new/"))
        page.get_by_label("Name").fill("prod/db/password")
        page.get_by_label("Value", exact=True).fill(value)
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("prod/db/password")
        page.get_by_role("link", name="Reveal").click()
        step_up = page.get_by_role("link", name="Enter a one-time code")
        if step_up.count():  # step-up is fresh for 5 minutes after sign-in
            step_up.click()
            page.get_by_label("One-time code").fill(totp_code(key, steps_ahead=1))
            page.get_by_role("button", name="Continue").click()
        page.get_by_label("Reason").fill("INC-42: rotate the replica password")
        page.get_by_role("button", name="Reveal").click()
        expect(page.locator("#secret-value")).to_have_value(value)

        page.goto(j.server.tenant_url(slug, "/compliance/audit/"))
        expect(page.locator("main")).to_contain_text("vault.secret.reveal")
        expect(page.locator("main")).to_contain_text("prod/db/password")
        expect(page.locator("main")).not_to_contain_text(value)


def test_an_owner_invites_a_developer_who_accepts_and_cannot_see_billing(journey, fresh_owner):
    slug = fresh_owner.host.split(".")[0]
    invitee = f"dev-{secrets.token_hex(3)}@{slug}.test"
    with journey("invite-accept-no-billing") as j:
        j.allow("the server responded with a status of 403")  # the developer's /billing/ answer
        owner = j.page(fresh_owner)
        owner.goto(j.server.tenant_url(slug, "/members/"))
        owner.get_by_label("Email address").fill(invitee)
        owner.locator("#id_role").select_option("developer")  # the invitation form's role
        owner.get_by_role("button", name="Send invitation").click()
        expect(owner.locator(".messages")).to_contain_text(f"Invitation sent to {invitee}")

        found = re.search(r"https?://\S+/members/invitations/accept/[\w-]+/", j.server.mailbox())
        assert found, "no invitation link in the mail the server sent"
        developer = j.page()
        developer.goto(found.group(0))
        developer.get_by_label("Your name").fill("Bob Builder")
        developer.locator("#id_password1").fill(PASSWORD)
        developer.locator("#id_password2").fill(PASSWORD)
        developer.get_by_role("button", name="Create my account").click()
        expect(developer.locator(".messages")).to_contain_text(f"Welcome to Tenant {slug}")
        nav = developer.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Vault")).to_be_visible()
        expect(nav.get_by_role("link", name="Billing")).to_have_count(0)
        developer.goto(j.server.tenant_url(slug, "/billing/"))
        expect(developer.get_by_role("heading", level=1)).to_have_text("You don't have access to this page")
