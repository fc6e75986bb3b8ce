"""The operator console: dashboard, tenant detail, status changes, support access."""

from __future__ import annotations

from django_tenants.utils import schema_context

from compliance.models import AuditEvent
from tenants.models import Tenant


def test_the_dashboard_answers_is_everything_ok(client_for, oscar, acme):
    response = client_for(oscar).get("/admin/dashboard/")
    assert response.status_code == 200
    data = response.context["data"]
    assert data["by_status"]["active"] >= 2  # Acme and Globex
    assert data["pool_level"] >= 0
    assert set(data["ready"]) >= {"database", "redis", "celery", "storage"}
    assert data["queue_depth"] is not None  # Redis answered LLEN
    body = response.content.decode()
    for heading in (
        "Tenants",
        "Provisioning pool",
        "Agents across tenants",
        "Failed deploys, last 24 h",
        "Stripe webhook backlog",
        "Audit chain",
        "Celery queue",
        "Readiness",
    ):
        assert heading in body
    # No Celery worker runs here: the dashboard must say so rather than claim all is well.
    assert "Readiness check failing: celery" in body


def test_the_dashboard_refreshes_itself_as_a_fragment(client_for, oscar):
    response = client_for(oscar).get("/admin/dashboard/?partial=1", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'id="console-body"' in response.content
    assert b"<html" not in response.content


def test_the_admin_index_links_to_the_dashboard(client_for, oscar):
    body = client_for(oscar).get("/admin/").content.decode()
    assert 'href="/admin/dashboard/"' in body


def test_the_tenant_list_stays_fast(client_for, oscar):
    """One page, one filtered count (no full count), plans joined, the plan filter's choices."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(oscar)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/tenants/tenant/")
    assert response.status_code == 200
    assert b"Acme Corp" in response.content
    tenant_queries = [q["sql"] for q in queries if 'FROM "tenants_tenant"' in q["sql"]]
    assert len(tenant_queries) <= 2, tenant_queries  # the page and its count, plan joined in
    assert not any("MIN(" in sql or "DATE_TRUNC" in sql for sql in tenant_queries)


def test_the_tenant_detail_shows_plan_usage_domains_and_operator_actions(client_for, oscar, acme):
    response = client_for(oscar).get(f"/admin/tenants/tenant/{acme.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Usage against" in body
    assert "acme.localhost" in body
    assert "Recent operator actions" in body
    assert f"/admin/support/{acme.pk}/" in body
    assert "Suspend…" in body
    usage = {row.label: row for row in response.context["usage"]}
    assert usage["Members"].used >= 2


def test_oscar_suspends_globex_with_a_reason_and_both_chains_record_it(client_for, oscar, globex):
    client = client_for(oscar)
    url = f"/admin/tenants/tenant/{globex.pk}/status/"
    assert client.get(url + "?status=suspended").status_code == 200
    missing_reason = client.post(url, {"status": "suspended", "reason": ""})
    assert missing_reason.status_code == 200
    assert b"This field is required" in missing_reason.content
    response = client.post(url, {"status": "suspended", "reason": "chargeback on invoice 42"})
    assert response.status_code == 302
    # A fresh row, never refresh_from_db(): `globex` is shared by the whole session.
    assert Tenant.objects.get(pk=globex.pk).status == Tenant.Status.SUSPENDED
    with schema_context(globex.schema_name):
        event = AuditEvent.objects.filter(action="tenant.status").latest("id")
        assert event.payload["reason"] == "chargeback on invoice 42"
        assert event.actor_label == oscar.email
    detail = client.get(f"/admin/tenants/tenant/{globex.pk}/change/").content.decode()
    assert "chargeback on invoice 42" in detail
    assert "Reactivate…" in detail


def test_bulk_reactivate_asks_for_a_reason_first(client_for, oscar, globex):
    from tenants.services import tenant_set_status

    tenant_set_status(
        tenant=Tenant.objects.get(pk=globex.pk), status="suspended", actor=oscar.user(), reason="test"
    )
    client = client_for(oscar)
    data = {"action": "reactivate_selected", "_selected_action": [str(globex.pk)]}
    intermediate = client.post("/admin/tenants/tenant/", data)
    assert intermediate.status_code == 200
    assert b"Change status" in intermediate.content
    assert Tenant.objects.get(pk=globex.pk).status == "suspended"
    done = client.post(
        "/admin/tenants/tenant/", {**data, "apply": "1", "status": "active", "reason": "paid in full"}
    )
    assert done.status_code == 302
    assert Tenant.objects.get(pk=globex.pk).status == "active"


def test_tenants_cannot_be_added_or_deleted_from_the_admin(client_for, oscar, acme):
    client = client_for(oscar)
    assert client.get("/admin/tenants/tenant/add/").status_code == 403
    assert client.get(f"/admin/tenants/tenant/{acme.pk}/delete/").status_code == 403


def test_support_access_needs_a_reason(client_for, oscar, acme):
    client = client_for(oscar)
    # Straight to the view without a grant: back to the reason form.
    response = client.get(f"/admin/support/{acme.pk}/view/")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/support/{acme.pk}/")
    short = client.post(f"/admin/support/{acme.pk}/", {"reason": "why"})
    assert short.status_code == 400
    with schema_context(acme.schema_name):
        assert not AuditEvent.objects.filter(action="support.access").exists()


def test_support_access_is_written_into_the_tenants_own_chain(client_for, oscar, alice, acme):
    client = client_for(oscar)
    reason = "Ticket #4182: Alice reports a failed deploy"
    response = client.post(f"/admin/support/{acme.pk}/", {"reason": reason})
    assert response.status_code == 302
    view = client.get(response["Location"])
    assert view.status_code == 200
    body = view.content.decode()
    assert alice.email in body  # members, read in Acme's schema
    assert "Read-only support view" in body
    with schema_context(acme.schema_name):
        events = list(AuditEvent.objects.filter(action="support.access").order_by("id"))
    assert [e.payload["section"] for e in events] == ["start", "view"]
    assert all(e.payload["reason"] == reason and e.actor_label == oscar.email for e in events)
    assert all(e.actor_type == "operator" for e in events)
    with schema_context("public"):
        assert AuditEvent.objects.filter(action="support.access", target_id=str(acme.pk)).count() == 2
    # Alice sees who looked and why on her own dashboard.
    dashboard = client_for(alice).get("/").content.decode()
    assert "support.access" in dashboard
    assert reason in dashboard


def test_each_support_page_view_is_another_audit_event(client_for, oscar, acme):
    client = client_for(oscar)
    client.post(f"/admin/support/{acme.pk}/", {"reason": "Ticket #1: checking members"})
    client.get(f"/admin/support/{acme.pk}/view/")
    client.get(f"/admin/support/{acme.pk}/view/")
    with schema_context(acme.schema_name):
        assert AuditEvent.objects.filter(action="support.access", payload__section="view").count() == 2


def test_ending_support_access_revokes_the_grant(client_for, oscar, acme):
    client = client_for(oscar)
    client.post(f"/admin/support/{acme.pk}/", {"reason": "Ticket #2: checking deploys"})
    assert client.post(f"/admin/support/{acme.pk}/end/").status_code == 302
    assert client.get(f"/admin/support/{acme.pk}/view/").status_code == 302


def test_the_support_view_never_shows_secret_columns():
    from portal.selectors import SUPPORT_SAFE_COLUMNS

    forbidden = ("value", "ciphertext", "plaintext", "nonce", "wrapped_key", "dek", "token")
    assert not any(word in column for column in SUPPORT_SAFE_COLUMNS for word in forbidden)


def test_console_pages_have_no_inline_styles_or_scripts(client_for, oscar, acme):
    """Our CSP blocks inline styles; django-tenants' admin templates use them, ours must not."""
    client = client_for(oscar)
    paths = [
        "/admin/",
        "/admin/dashboard/",
        "/admin/tenants/tenant/",
        f"/admin/tenants/tenant/{acme.pk}/change/",
        f"/admin/tenants/tenant/{acme.pk}/status/",
        f"/admin/support/{acme.pk}/",
    ]
    for path in paths:
        body = client.get(path).content.decode()
        assert "<style" not in body, path
        assert ' style="' not in body, path
        assert "<script>" not in body, path
