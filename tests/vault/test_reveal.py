"""Reveal: a separate POST, step-up MFA and a reason, audited before the value leaves."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django_tenants.utils import tenant_context
from rest_framework.test import APIRequestFactory, force_authenticate

from compliance.models import AuditEvent
from vault.api.views import RevealView


def _reveal(api, secret, **body):
    return api.post(f"/secrets/{secret['id']}/reveal/", body)


def test_alice_reveals_with_step_up_and_a_reason(api_for, alice, acme):
    api = api_for(alice)
    secret = api.create(name="prod/db/password", value="pa55-word-xyz", environment="production")
    response = _reveal(api, secret, reason="incident 42")
    assert response.status_code == 200, response.content
    assert response.json() == {"name": "prod/db/password", "version": 1, "value": "pa55-word-xyz"}
    assert response["Cache-Control"] == "no-store"
    with tenant_context(acme):
        event = AuditEvent.objects.filter(action="vault.secret.reveal").latest("id")
        assert event.payload == {"version": 1, "reason": "incident 42"}
        assert event.actor_label == "alice@acme.test"
        assert "pa55-word-xyz" not in str(AuditEvent.objects.values_list("payload", flat=True))


def test_reveal_of_an_older_version(api_for, alice):
    api = api_for(alice)
    secret = api.create(name="app/key", value="first")
    api.post(f"/secrets/{secret['id']}/rotate/", {"value": "second", "reason": "r"})
    assert _reveal(api, secret, reason="diff", version=1).json()["value"] == "first"
    assert _reveal(api, secret, reason="diff").json()["value"] == "second"
    assert _reveal(api, secret, reason="diff", version=7).status_code == 400


def test_reveal_without_step_up_is_refused(api_for, alice):
    secret = api_for(alice).create(name="app/key")
    response = _reveal(api_for(alice, otp=False), secret, reason="because")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "step_up_required"
    assert "s3cr3t" not in response.content.decode()


def test_reveal_without_a_reason_is_refused(api_for, alice):
    api = api_for(alice)
    secret = api.create(name="app/key")
    for body in ({}, {"reason": "   "}):
        response = _reveal(api, secret, **body)
        assert response.status_code == 400
        assert "reason" in response.json()["error"]["fields"]


def test_metadata_get_is_not_a_reveal(api_for, alice):
    api = api_for(alice)
    secret = api.create(name="app/key")
    assert api.client.get(f"/api/v1/vault/secrets/{secret['id']}/reveal/").status_code == 405


def test_bob_may_reveal_development_but_not_production(api_for, alice, bob):
    alice_api = api_for(alice)
    dev = alice_api.create(name="dev/key", value="dev-value", environment="development")
    prod = alice_api.create(name="prod/key", value="prod-value", environment="production")
    bob_api = api_for(bob)
    assert _reveal(bob_api, dev, reason="debugging").json()["value"] == "dev-value"
    refused = _reveal(bob_api, prod, reason="debugging")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Developers may not reveal production secrets."
    assert "prod-value" not in refused.content.decode()


def test_a_role_not_in_allowed_roles_is_refused(api_for, alice, bob):
    secret = api_for(alice).create(name="dev/owners-only", allowed_roles=["owner"])
    refused = _reveal(api_for(bob), secret, reason="please")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Only these roles may reveal this secret: owner."
    assert _reveal(api_for(alice), secret, reason="mine").status_code == 200


def test_if_the_audit_write_fails_the_reveal_fails(api_for, alice, acme, monkeypatch):
    from compliance import audit

    api = api_for(alice)
    secret = api.create(name="app/key", value="must-not-leak")

    def broken(**kwargs):
        if kwargs["action"] == "vault.secret.reveal":
            raise DatabaseError("audit table unavailable")
        return original(**kwargs)

    original = audit.record
    monkeypatch.setattr(audit, "record", broken)
    response = _reveal(api, secret, reason="incident")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "audit_unavailable"
    assert "must-not-leak" not in response.content.decode()


class _Token:
    def __init__(self, scopes):
        self.scopes = scopes


@pytest.fixture
def robot(acme, db):
    """A service-account user (the identity app's shape: a User with is_service_account)."""
    from portal.accounts.models import User

    with tenant_context(acme):
        user = User.objects.create_user(email="ci-robot@service-accounts.invalid", role="operator")
        user.is_service_account = True  # set on the instance: works before and after that column exists
        yield user


def _robot_reveal(acme, robot, secret_id, scopes):
    request = APIRequestFactory().post(f"/api/v1/vault/secrets/{secret_id}/reveal/", {}, format="json")
    force_authenticate(request, user=robot, token=_Token(scopes))
    with tenant_context(acme):
        return RevealView.as_view()(request, pk=secret_id)


def test_service_account_needs_the_vault_scope_and_a_listing(api_for, alice, acme, robot):
    api = api_for(alice)
    listed = api.create(name="ci/deploy-key", value="ci-value", allowed_service_accounts=[robot.email])
    unlisted = api.create(name="ci/other", value="other")
    assert _robot_reveal(acme, robot, listed["id"], ["read"]).status_code == 403
    ok = _robot_reveal(acme, robot, listed["id"], ["vault"])
    assert ok.status_code == 200
    assert ok.data["value"] == "ci-value"
    assert _robot_reveal(acme, robot, unlisted["id"], ["vault"]).status_code == 403
    with tenant_context(acme):
        event = AuditEvent.objects.filter(action="vault.secret.reveal").latest("id")
        assert event.payload["reason"] == "service account fetch"


def test_a_blocking_policy_stops_the_reveal_before_any_value_is_read(acme, alice, db):
    governance = pytest.importorskip("compliance.governance.services")
    from compliance.policies import PolicyViolation
    from portal.accounts.models import User
    from vault import services

    with tenant_context(acme):
        secret = services.secret_create(actor=alice.user(), name="app/ops", value="ops-value")
        operator = User.objects.create_user(email="olga@acme.test", role="operator")
        governance.policy_install_template(key="operators_need_mfa", actor=alice.user())
        with pytest.raises(PolicyViolation):
            services.secret_reveal(secret=secret, actor=operator, reason="night shift")
        assert not AuditEvent.objects.filter(
            action="vault.secret.reveal", actor_label="olga@acme.test"
        ).exists()
