"""Operators change a tenant's plan only through `plan_assign`: downgrade preview, a reason to
force, and an audit event in the operator's and the tenant's chain. Oscar uses the OTP admin."""

from __future__ import annotations

from typing import Any

from django_tenants.utils import schema_context, tenant_context

from compliance.models import AuditEvent
from tenants.billing.selectors import usage_count
from tenants.members.services import member_create
from tenants.models import Plan, Tenant


def _set_plan(tenant: Any, slug: str) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(plan=Plan.objects.get(slug=slug))


def _plan_of(tenant: Any) -> str:
    return Tenant.objects.select_related("plan").get(pk=tenant.pk).plan.slug


def _plan_events(tenant: Any, schema: str) -> list[AuditEvent]:
    with schema_context(schema):
        return list(
            AuditEvent.objects.filter(action="billing.plan.change", target_id=str(tenant.pk)).order_by("id")
        )


def _over_free_on_members(acme: Any) -> None:
    """Acme on Team with one member more than Free allows."""
    _set_plan(acme, "team")
    free = Plan.objects.get(slug="free")
    with tenant_context(acme):
        for n in range(free.max_members + 1 - usage_count("members")):
            member_create(email=f"seat{n}@acme.test", role="viewer")


def test_the_tenant_form_shows_the_plan_read_only_and_links_to_the_audited_form(client_for, oscar, acme):
    response = client_for(oscar).get(f"/admin/tenants/tenant/{acme.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="plan"' not in body  # no way to write Tenant.plan around plan_assign
    assert f'href="/admin/billing/tenantplan/{acme.pk}/change/"' in body
    assert "Change plan…" in body


def test_oscar_upgrades_acme_and_both_chains_record_it(client_for, oscar, acme):
    _set_plan(acme, "free")
    business = Plan.objects.get(slug="business")
    admin = client_for(oscar)
    form = admin.get(f"/admin/billing/tenantplan/{acme.pk}/change/")
    assert form.status_code == 200
    assert "Usage now" in form.content.decode()
    response = admin.post(
        f"/admin/billing/tenantplan/{acme.pk}/change/",
        {"plan": business.pk, "reason": "sales deal #42", "_save": "Save"},
    )
    assert response.status_code == 302, response.content[:800]
    assert _plan_of(acme) == "business"
    for schema in ("public", acme.schema_name):
        event = _plan_events(acme, schema)[-1]
        assert event.payload["from"] == "free"
        assert event.payload["to"] == "business"
        assert event.payload["reason"] == "sales deal #42"
        assert event.actor_label == "oscar@tenantry.test"


def test_a_downgrade_over_the_limits_is_refused_with_the_list(client_for, oscar, acme):
    _over_free_on_members(acme)
    free = Plan.objects.get(slug="free")
    before = len(_plan_events(acme, "public"))
    response = client_for(oscar).post(
        f"/admin/billing/tenantplan/{acme.pk}/change/", {"plan": free.pk, "_save": "Save"}
    )
    assert response.status_code == 200  # the form again, with the error
    body = response.content.decode()
    assert "You cannot move to Free yet: members: 6 of 5" in body
    assert "Assign even if usage exceeds the plan" in body
    assert _plan_of(acme) == "team"
    assert len(_plan_events(acme, "public")) == before


def test_forcing_a_downgrade_needs_a_reason_and_is_audited_as_forced(client_for, oscar, acme):
    _over_free_on_members(acme)
    free = Plan.objects.get(slug="free")
    admin = client_for(oscar)
    url = f"/admin/billing/tenantplan/{acme.pk}/change/"
    no_reason = admin.post(url, {"plan": free.pk, "force": "on", "reason": "", "_save": "Save"})
    assert no_reason.status_code == 200
    assert "Say why you assign a plan the tenant" in no_reason.content.decode()
    assert _plan_of(acme) == "team"
    forced = admin.post(
        url, {"plan": free.pk, "force": "on", "reason": "non-payment, agreed", "_save": "Save"}
    )
    assert forced.status_code == 302, forced.content[:800]
    assert _plan_of(acme) == "free"
    for schema in ("public", acme.schema_name):
        payload = _plan_events(acme, schema)[-1].payload
        assert payload["forced"] is True
        assert payload["reason"] == "non-payment, agreed"
        assert payload["over_limits"][0]["kind"] == "members"
    with tenant_context(acme):  # nothing was deleted
        assert usage_count("members") == free.max_members + 1


def test_the_plan_list_has_no_bulk_edit_that_skips_the_preview(client_for, oscar, acme):
    body = client_for(oscar).get("/admin/billing/tenantplan/").content.decode()
    assert "Acme" in body
    assert 'name="form-0-plan"' not in body


def test_mallory_cannot_reach_the_plan_form_from_her_tenant_or_change_acmes_plan(client_for, mallory, acme):
    _set_plan(acme, "free")
    business = Plan.objects.get(slug="business")
    client = client_for(mallory)
    response = client.post(
        f"/admin/billing/tenantplan/{acme.pk}/change/", {"plan": business.pk, "_save": "Save"}
    )
    assert response.status_code in (302, 403, 404)
    assert _plan_of(acme) == "free"
    assert client.get(f"/admin/billing/tenantplan/{acme.pk}/change/").status_code in (302, 403, 404)
