"""The engine behind real callers: the vault's services pass their context to `evaluate`."""

from __future__ import annotations

import pytest

from compliance import policies
from compliance.governance import engine, services
from compliance.governance.models import PolicyViolation

vault_services = pytest.importorskip("vault.services")


def test_the_vault_refuses_a_secret_without_rotation_and_the_attempt_is_kept(in_acme, alice_user, unique):
    services.policy_install_template(key="secrets_must_rotate", actor=alice_user)
    with pytest.raises(policies.PolicyViolation, match="Secrets must have rotation"):
        vault_services.secret_create(actor=alice_user, name=f"app/{unique}/token", value="v4lue")
    engine.flush_rolled_back()  # what the end of the request does
    violation = PolicyViolation.objects.get()
    assert (violation.action, violation.outcome) == ("vault.write", "block")
    assert "v4lue" not in str(violation.context)
    secret = vault_services.secret_create(
        actor=alice_user, name=f"app/{unique}/key", value="v4lue", rotation_policy="monthly"
    )
    assert secret.pk


def test_a_request_blocked_by_policy_is_a_403_and_its_violation_is_kept(client_for, alice, acme, unique):
    from django_tenants.utils import tenant_context

    with tenant_context(acme):
        services.policy_install_template(key="secrets_must_rotate", actor=alice.user())
    response = client_for(alice).post(
        "/api/v1/vault/secrets/", {"name": f"app/{unique}/x", "value": "v"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "Secrets must have rotation" in response.json()["error"]["message"]
    with tenant_context(acme):
        assert PolicyViolation.objects.filter(action="vault.write", outcome="block").count() == 1
