"""Mallory and the deploy policy gates: a migrate check link works only in its own tenant."""

from __future__ import annotations

from django.test import Client
from django_tenants.utils import tenant_context

from compliance.governance.models import PolicyViolation
from deployments import pipeline


def test_an_acme_migrate_check_link_is_refused_on_globex(db, acme, globex, alice, mallory):
    with tenant_context(acme):
        token = pipeline.link_token(agent_id=1, run_id=1, purpose="migrate")
    response = Client(HTTP_HOST=mallory.host).post(
        f"/api/v1/deployments/agent-links/{token}/migrate/",
        {"backup_step": "succeeded"},
        content_type="application/json",
    )
    assert response.status_code == 403
    for tenant in (acme, globex):
        with tenant_context(tenant):
            assert not PolicyViolation.objects.filter(action="deploy.migrate").exists()


def test_a_backup_link_cannot_ask_the_migrate_check(db, acme, alice):
    with tenant_context(acme):
        token = pipeline.link_token(agent_id=1, run_id=1, purpose="backup")
    response = Client(HTTP_HOST=alice.host).post(
        f"/api/v1/deployments/agent-links/{token}/migrate/", {}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "not for this purpose" in response.json()["error"]["message"]
