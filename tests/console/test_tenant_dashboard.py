"""The tenant dashboard and the shell around it."""

from __future__ import annotations

from django_tenants.utils import schema_context


def test_it_shows_alice_her_tenant_at_a_glance(client_for, alice):
    response = client_for(alice).get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Acme Corp" in body
    assert "Plan usage" in body
    assert "Members" in body
    assert 'aria-current="page"' in body  # the Dashboard link is marked current


def test_plan_usage_counts_members_against_the_plan_limit(client_for, alice, acme):
    response = client_for(alice).get("/")
    usage = {row.label: row for row in response.context["data"].usage}
    with schema_context(acme.schema_name):
        from portal.accounts.models import User

        members = User.objects.filter(is_active=True).count()
    assert usage["Members"].used == members
    assert usage["Members"].limit == response.wsgi_request.tenant.plan.max_members  # not the shared `acme`


def test_anonymous_visitors_are_sent_to_sign_in(anon_client, alice):
    response = anon_client(alice.host).get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_bob_does_not_get_a_billing_link(client_for, bob, monkeypatch):
    from portal import navigation

    monkeypatch.setattr(navigation, "_first_existing", lambda urlconf, paths: paths[0])
    body = client_for(bob).get("/").content.decode()
    assert 'href="/vault/"' in body
    assert 'href="/billing/"' not in body


def test_alice_gets_the_billing_link_once_billing_has_pages(client_for, alice, monkeypatch):
    from portal import navigation

    monkeypatch.setattr(navigation, "_first_existing", lambda urlconf, paths: paths[0])
    body = client_for(alice).get("/").content.decode()
    assert 'href="/billing/"' in body


def test_the_shell_has_no_inline_scripts_or_styles(client_for, alice):
    body = client_for(alice).get("/").content.decode()
    assert "<style" not in body
    assert " style=" not in body
    assert " onclick=" not in body
    for tag in body.split("<script")[1:]:
        assert 'src="' in tag.split(">")[0]
        assert "nonce=" in tag.split(">")[0]


def test_unknown_pages_get_the_friendly_404(client_for, alice):
    response = client_for(alice).get("/no-such-page/")
    assert response.status_code == 404
    assert b"We couldn't find that page" in response.content


def test_permission_denied_gets_the_friendly_403(db, rf, alice, acme):
    from django.core.exceptions import PermissionDenied

    from portal import views

    request = rf.get("/billing/", HTTP_HOST=alice.host)
    request.tenant = acme
    request.user = alice.user()
    response = views.permission_denied(request, PermissionDenied("Your role does not allow billing.read."))
    assert response.status_code == 403
    assert b"Your role does not allow billing.read." in response.content


def test_the_500_page_renders_without_a_request_context(rf):
    from portal import views

    request = rf.get("/")
    request.request_id = "abc123"
    response = views.server_error(request)
    assert response.status_code == 500
    assert b"abc123" in response.content


def test_the_dashboard_reads_every_app_once_they_exist(client_for, alice):
    data = client_for(alice).get("/").context["data"]
    assert data.environments == []  # deployments installed, nothing created yet
    assert data.agents == {"online": 0, "offline": 0}
    assert isinstance(data.secrets_overdue, int)
    assert data.compliance_score is None or 0 <= data.compliance_score <= 100


def test_the_console_verifies_the_operator_chain(client_for, oscar):
    from django.core.cache import cache

    cache.delete("console:chain-state")
    chain = client_for(oscar).get("/admin/dashboard/").context["data"]["chain"]
    assert chain.ok is True, chain.detail


def test_only_the_closest_nav_link_is_current(rf, alice, acme, db):
    from portal import navigation

    request = rf.get("/members/security/", HTTP_HOST=alice.host)
    request.user, request.tenant, request.urlconf = alice.user(), acme, "portal.urls_tenant"
    current = [item["label"] for item in navigation.nav_items(request) if item["current"]]
    assert current == ["Security"]
