"""Plan limits in services, with upgrade messages; downgrade preview and refusal."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from tenants.billing.limits import PlanLimitExceeded, check_limit
from tenants.members.services import member_create
from tenants.models import Plan, Tenant


def _set_plan(tenant, slug):
    Tenant.objects.filter(pk=tenant.pk).update(plan=Plan.objects.get(slug=slug))
    tenant.refresh_from_db()


def test_check_limit_raises_a_clear_upgrade_message(acme, db):
    _set_plan(acme, "free")
    check_limit(acme, "agents", 1)
    with pytest.raises(PlanLimitExceeded) as caught:
        check_limit(acme, "agents", 2)
    message = caught.value.messages[0]
    assert "Free plan allows 2 agents" in message
    assert "Upgrade" in message
    assert isinstance(caught.value, ValidationError)


def test_unlimited_plans_never_refuse(acme, db):
    _set_plan(acme, "business")
    check_limit(acme, "members", 10_000)


def test_unknown_limit_is_a_programming_error(acme, db):
    with pytest.raises(KeyError):
        check_limit(acme, "spaceships", 1)


def test_member_create_refuses_the_member_beyond_the_plan(acme, db):
    _set_plan(acme, "free")  # 5 members; Alice and Bob exist
    with tenant_context(acme):
        for n in range(3):
            member_create(email=f"limit{n}@acme.test", role="viewer")
        with pytest.raises(PlanLimitExceeded, match="Free plan allows 5 members"):
            member_create(email="one-too-many@acme.test", role="viewer")


def test_downgrade_preview_lists_what_exceeds_and_confirm_is_refused(client_for, alice, acme, stripe_on):
    _set_plan(acme, "team")
    with tenant_context(acme):
        for n in range(4):
            member_create(email=f"extra{n}@acme.test", role="viewer")
    client = client_for(alice)
    preview = client.get("/billing/change/free/")
    assert preview.status_code == 200
    assert b"Members: 6 in use, Free allows 5" in preview.content
    assert b"Confirm change" not in preview.content
    refused = client.post("/billing/change/free/", {"interval": "month", "confirm": "on"})
    assert refused.status_code == 400
    assert b"You cannot move to Free yet: members: 6 of 5" in refused.content
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "team"


def test_downgrade_that_fits_without_a_subscription_applies_and_is_audited(
    client_for, alice, acme, stripe_on
):
    from compliance.models import AuditEvent

    _set_plan(acme, "team")
    client = client_for(alice)
    assert b"Confirm change to Free" in client.get("/billing/change/free/").content
    response = client.post("/billing/change/free/", {"interval": "month", "confirm": "on"})
    assert response.status_code == 302
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "free"
    assert AuditEvent.objects.filter(action="billing.plan.change", target_id=str(acme.pk)).exists()


def test_operator_assigns_plans_when_billing_is_off(client_for, oscar, acme, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.BILLING_ENABLED = False
    business = Plan.objects.get(slug="business")
    admin = client_for(oscar)
    assert admin.get("/admin/billing/tenantplan/").status_code == 200
    response = admin.post(
        f"/admin/billing/tenantplan/{acme.pk}/change/", {"plan": business.pk, "_save": "Save"}
    )
    assert response.status_code == 302, response.content[:500]
    assert Tenant.objects.get(pk=acme.pk).plan.slug == "business"
