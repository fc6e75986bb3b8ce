"""Policy and violation pages and API: CRUD, templates, resolve, bad input, roles."""

from __future__ import annotations

import json

from django_tenants.utils import tenant_context

from compliance import policies
from compliance.governance import services
from compliance.governance.models import Policy, PolicyViolation

API = "/api/v1/compliance"


def test_alice_installs_a_template_from_the_policy_page(client_for, alice, acme):
    client = client_for(alice)
    page = client.get("/compliance/policies/")
    assert page.status_code == 200
    assert b"No policies yet" in page.content
    assert b"Release must be signed" in page.content
    response = client.post("/compliance/policies/templates/release_must_be_signed/install/")
    assert response.status_code == 302
    with tenant_context(acme):
        assert Policy.objects.get().template == "release_must_be_signed"


def test_a_malformed_policy_json_is_a_form_error_not_a_500(client_for, alice, acme):
    response = client_for(alice).post(
        "/compliance/policies/new/",
        {"name": "Broken", "applies_to": "deploy.run", "conditions": '{"all": [', "action": "block"},
    )
    assert response.status_code == 400
    assert b"Conditions are not valid JSON" in response.content
    response = client_for(alice).post(
        "/compliance/policies/new/",
        {
            "name": "Broken",
            "applies_to": "deploy.run",
            "conditions": '{"all": [{"op": "eq"}]}',
            "action": "block",
        },
    )
    assert response.status_code == 400
    assert b"Conditions are not valid" in response.content
    with tenant_context(acme):
        assert not Policy.objects.exists()


def test_alice_creates_and_edits_a_policy_on_the_page(client_for, alice, acme):
    client = client_for(alice)
    data = {
        "name": "No deploys from interns",
        "applies_to": "deploy.run, deploy.migrate",
        "conditions": json.dumps({"field": "actor.role", "op": "eq", "value": "viewer"}),
        "action": "warn",
        "enabled": "on",
    }
    assert client.post("/compliance/policies/new/", data).status_code == 302
    with tenant_context(acme):
        policy = Policy.objects.get()
    assert policy.applies_to == ["deploy.run", "deploy.migrate"]
    assert client.get(f"/compliance/policies/{policy.pk}/").status_code == 200
    assert client.post(f"/compliance/policies/{policy.pk}/", {**data, "action": "block"}).status_code == 302
    with tenant_context(acme):
        assert Policy.objects.get().action == "block"
    assert client.post(f"/compliance/policies/{policy.pk}/delete/").status_code == 302
    with tenant_context(acme):
        assert not Policy.objects.exists()


def test_bob_reads_policies_but_cannot_change_them(client_for, bob):
    client = client_for(bob)
    assert client.get("/compliance/policies/").status_code == 200
    assert client.get("/compliance/policies/new/").status_code == 403
    assert client.post("/compliance/policies/templates/release_must_be_signed/install/").status_code == 403
    assert (
        client.post(f"{API}/policies/install-template/", {"template": "release_must_be_signed"}).status_code
        == 403
    )


def test_violations_are_listed_and_resolved_on_the_page(client_for, alice, acme):
    with tenant_context(acme):
        services.policy_install_template(key="release_must_be_signed", actor=alice.user())
        policies.evaluate("deploy.run", {"release_signed": False})
        violation = PolicyViolation.objects.get()
    client = client_for(alice)
    page = client.get("/compliance/violations/")
    assert b"Release must be signed" in page.content
    client.post(f"/compliance/violations/{violation.pk}/resolve/", {"note": "signed now"})
    with tenant_context(acme):
        violation.refresh_from_db()
    assert violation.resolved
    assert violation.resolution_note == "signed now"
    assert b"No open violations" in client.get("/compliance/violations/").content


def test_api_policy_crud(client_for, alice):
    client = client_for(alice)
    body = {
        "name": "Staging warns",
        "applies_to": ["deploy.run"],
        "conditions": {"all": [{"field": "environment", "op": "eq", "value": "staging"}]},
        "action": "warn",
    }
    created = client.post(f"{API}/policies/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    listing = client.get(f"{API}/policies/").json()
    assert [p["name"] for p in listing["results"]] == ["Staging warns"]
    patched = client.patch(f"{API}/policies/{pk}/", {"enabled": False}, content_type="application/json")
    assert patched.status_code == 200
    assert patched.json()["enabled"] is False
    assert client.delete(f"{API}/policies/{pk}/").status_code == 204
    assert len(client.get(f"{API}/policies/templates/").json()) == 8


def test_api_refuses_malformed_conditions_with_the_error_body(client_for, alice):
    client = client_for(alice)
    bad = {"name": "x", "applies_to": ["deploy.run"], "conditions": {"all": [{"field": "a", "op": "nope"}]}}
    response = client.post(f"{API}/policies/", bad, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "conditions" in error["fields"]
    response = client.post(
        f"{API}/policies/", '{"name": "x", "conditions": {', content_type="application/json"
    )
    assert response.status_code == 400
    unknown = {**bad, "conditions": {"field": "a", "op": "truthy"}, "applies_to": ["rocket.launch"]}
    response = client.post(f"{API}/policies/", unknown, content_type="application/json")
    assert response.status_code == 400
    assert "applies_to" in response.json()["error"]["fields"]


def test_api_lists_and_resolves_violations(client_for, alice, acme):
    with tenant_context(acme):
        services.policy_install_template(key="backup_before_migrate", actor=alice.user())
        policies.evaluate("deploy.migrate", {"backup_exists": False})
    client = client_for(alice)
    open_ = client.get(f"{API}/violations/?resolved=false").json()["results"]
    assert len(open_) == 1
    assert open_[0]["outcome"] == "block"
    resolved = client.post(f"{API}/violations/{open_[0]['id']}/resolve/", {"note": "backup taken"})
    assert resolved.status_code == 200
    assert resolved.json()["resolved"] is True
    assert client.get(f"{API}/violations/?resolved=false").json()["results"] == []


def test_compliance_home_sends_each_role_where_it_may_go(client_for, alice, bob):
    assert client_for(alice).get("/compliance/")["Location"] == "/compliance/overview/"
    assert client_for(bob).get("/compliance/")["Location"] == "/compliance/policies/"


def test_the_sub_navigation_only_links_pages_the_member_may_open(client_for, alice, bob):
    bobs = client_for(bob).get("/compliance/policies/").content
    assert b'href="/compliance/violations/"' in bobs
    assert b'href="/compliance/reports/"' not in bobs
    assert b'href="/compliance/privacy/requests/"' not in bobs
    alices = client_for(alice).get("/compliance/policies/").content
    assert b'href="/compliance/reports/"' in alices
    assert b'href="/compliance/audit/"' in alices
