"""Built-in deploy templates through the real deploy services (deployments.pipeline).

"Release must be signed" at the request, and "Production deploy requires approval" together
with the environment's approval gate: the policy is evaluated again when the gate opens, with
the approvals the run really has.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django_tenants.utils import tenant_context

from compliance import policies
from compliance.governance import engine, services
from compliance.governance.models import PolicyViolation

pipeline = pytest.importorskip("deployments.pipeline")
from deployments import services as deploy_services  # noqa: E402
from deployments.models import DeployRun, Release  # noqa: E402
from tests.sample_app import build  # noqa: E402


def _release(actor: Any, version: str, *, signed: bool = True) -> Release:
    release = deploy_services.release_create(
        version=version,
        artifact=ContentFile(build.tarball(version), name="app.tar.gz"),
        manifest=build.manifest(),
        actor=actor,
    )
    if not signed:  # as if uploaded before signing existed, or signed by nobody
        Release.objects.filter(pk=release.pk).update(signature="")
        release.refresh_from_db()
    return release


def _require_approvals(policy: Any, actor: Any, count: int) -> Any:
    """What a tenant does in the policy editor: raise the template's 'approvals lt 1'."""
    conditions = copy.deepcopy(policy.conditions)
    for leaf in conditions["all"][1]["any"]:
        if leaf["field"] == "approvals":
            leaf["value"] = count
    return services.policy_update(policy=policy, actor=actor, conditions=conditions)


def _enqueued(callbacks: list[Any]) -> int:
    return sum("_enqueue" in getattr(callback, "__qualname__", "") for callback in callbacks)


def test_an_unsigned_release_is_not_deployed_and_a_signed_one_is(in_acme, alice_user, unique):
    services.policy_install_template(key="release_must_be_signed", actor=alice_user)
    environment = deploy_services.environment_create(name=f"staging-{unique}", actor=alice_user)
    unsigned = _release(alice_user, f"1.0.0+{unique}", signed=False)
    signed = _release(alice_user, f"1.0.1+{unique}")

    with pytest.raises(policies.PolicyViolation, match="Release must be signed"):
        pipeline.deploy_request(environment=environment, release=unsigned, actor=alice_user)
    engine.flush_rolled_back()  # what the end of the request does for a blocked service
    assert not DeployRun.objects.filter(environment=environment).exists()
    violation = PolicyViolation.objects.get(action="deploy.run")
    assert violation.outcome == "block"
    assert violation.policy_name == "Release must be signed"
    assert violation.context["release_signed"] is False
    assert violation.context["release"] == unsigned.version
    assert violation.actor_label == alice_user.email

    run = pipeline.deploy_request(environment=environment, release=signed, actor=alice_user)
    assert run.status == "queued"
    assert PolicyViolation.objects.count() == 1  # the signed release matched nothing


def test_an_unsigned_deploy_through_the_api_is_a_403_and_the_attempt_is_kept(client_for, alice, acme, unique):
    with tenant_context(acme):
        user = alice.user()
        services.policy_install_template(key="release_must_be_signed", actor=user)
        environment = deploy_services.environment_create(name=f"staging-{unique}", actor=user)
        unsigned = _release(user, f"2.0.0+{unique}", signed=False)
    response = client_for(alice).post(
        "/api/v1/deployments/runs/",
        {"environment": environment.name, "release": unsigned.version},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "Release must be signed" in response.json()["error"]["message"]
    with tenant_context(acme):
        assert not DeployRun.objects.filter(environment=environment).exists()
        violation = PolicyViolation.objects.get(action="deploy.run", outcome="block")
        assert violation.context["release"] == unsigned.version


def test_production_without_an_approval_gate_is_refused_by_the_approval_template(in_acme, alice_user, unique):
    services.policy_install_template(key="prod_deploy_requires_approval", actor=alice_user)
    environment = deploy_services.environment_create(
        name=f"prod-open-{unique}", actor=alice_user, is_production=True, approvals_required=0
    )
    release = _release(alice_user, f"1.0.0+{unique}")
    with pytest.raises(policies.PolicyViolation, match="Production deploy requires approval"):
        pipeline.deploy_request(environment=environment, release=release, actor=alice_user)
    engine.flush_rolled_back()
    violation = PolicyViolation.objects.get(action="deploy.run")
    assert violation.context["approvals"] == 0


def test_a_policy_requiring_two_approvals_holds_a_one_approval_gate_until_the_second(
    in_acme, alice_user, make_member, unique, django_capture_on_commit_callbacks
):
    policy = services.policy_install_template(key="prod_deploy_requires_approval", actor=alice_user)
    _require_approvals(policy, alice_user, 2)
    environment = deploy_services.environment_create(
        name=f"prod-{unique}", actor=alice_user, is_production=True, approvals_required=1
    )
    release = _release(alice_user, f"1.0.0+{unique}")
    first, second = make_member("operator", "first-op"), make_member("operator", "second-op")

    run = pipeline.deploy_request(environment=environment, release=release, actor=alice_user)
    assert run.status == "awaiting_approval"  # the gate is there; the policy waits for it
    assert not PolicyViolation.objects.exists()

    # The requester cannot approve their own run, whatever the policy says.
    with pytest.raises(PermissionDenied, match="own deploy"):
        pipeline.deploy_approve(run=run, actor=alice_user)

    # One approval satisfies the environment's gate, not the policy: the run keeps waiting.
    with django_capture_on_commit_callbacks() as callbacks:
        run = pipeline.deploy_approve(run=run, actor=first)
    assert run.status == "awaiting_approval"
    assert not _enqueued(callbacks)
    authorize = run.steps.get(name="authorize")
    assert authorize.state == "running"
    assert "1 approval(s)" in authorize.output
    assert "still held by policy: Production deploy requires approval" in authorize.output
    violation = PolicyViolation.objects.get(action="deploy.run")
    assert (violation.outcome, violation.context["approvals"], violation.actor_label) == (
        "block",
        1,
        first.email,
    )

    # The same person approving twice is still one approval.
    run = pipeline.deploy_approve(run=run, actor=first)
    assert run.status == "awaiting_approval"
    assert run.approvals.count() == 1

    # A second person: two approvals, the policy is satisfied and the run is queued.
    with django_capture_on_commit_callbacks() as callbacks:
        run = pipeline.deploy_approve(run=run, actor=second)
    assert run.status == "queued"
    assert _enqueued(callbacks) == 1  # the execution is queued once this commits
    assert run.steps.get(name="authorize").state == "succeeded"
    assert PolicyViolation.objects.filter(action="deploy.run").count() == 2  # two held attempts, no more


def _held_run(alice_user: Any, make_member: Any, unique: str) -> tuple[Any, Any]:
    """A production run whose one approval is in, held by a policy that wants two."""
    policy = services.policy_install_template(key="prod_deploy_requires_approval", actor=alice_user)
    policy = _require_approvals(policy, alice_user, 2)
    environment = deploy_services.environment_create(
        name=f"prod-held-{unique}", actor=alice_user, is_production=True, approvals_required=1
    )
    run = pipeline.deploy_request(
        environment=environment, release=_release(alice_user, f"3.0.0+{unique}"), actor=alice_user
    )
    run = pipeline.deploy_approve(run=run, actor=make_member("operator", "approver"))
    assert run.status == "awaiting_approval"
    return run, policy


def test_a_held_run_goes_once_the_policy_is_switched_off_and_checked_again(
    in_acme, alice_user, make_member, unique, django_capture_on_commit_callbacks
):
    run, policy = _held_run(alice_user, make_member, unique)
    # Checking again while the policy still holds it changes nothing but the step's note.
    run = pipeline.deploy_recheck(run=run, actor=alice_user)
    assert run.status == "awaiting_approval"
    assert "Policies checked again by" in run.steps.get(name="authorize").output
    assert run.approvals.count() == 1  # checking adds no approval

    services.policy_update(policy=policy, actor=alice_user, enabled=False)
    with django_capture_on_commit_callbacks() as callbacks:
        run = pipeline.deploy_recheck(run=run, actor=alice_user)
    assert run.status == "queued"
    assert _enqueued(callbacks) == 1
    assert run.steps.get(name="authorize").state == "succeeded"
    from compliance.models import AuditEvent

    assert AuditEvent.objects.filter(action="deployments.run.rechecked", target_id=str(run.pk)).count() == 2
    with pytest.raises(ValidationError, match="not waiting"):
        pipeline.deploy_recheck(run=run, actor=alice_user)


def test_a_run_still_waiting_for_approvals_is_not_rechecked(in_acme, alice_user, unique):
    environment = deploy_services.environment_create(
        name=f"prod-gate-{unique}", actor=alice_user, is_production=True, approvals_required=1
    )
    run = pipeline.deploy_request(
        environment=environment, release=_release(alice_user, f"4.0.0+{unique}"), actor=alice_user
    )
    with pytest.raises(ValidationError, match="still needs 1 approval"):
        pipeline.deploy_recheck(run=run, actor=alice_user)
    run.refresh_from_db()
    assert run.status == "awaiting_approval"


def test_recheck_over_the_page_and_api_and_mallory_gets_nothing(
    client_for, alice, bob, mallory, acme, make_member, unique
):
    with tenant_context(acme):
        run, policy = _held_run(alice.user(), make_member, unique)
    alice_client = client_for(alice)
    page = alice_client.get(f"/deployments/runs/{run.pk}/")
    assert "Check policies again" in page.content.decode()
    response = alice_client.post(f"/deployments/runs/{run.pk}/recheck/", follow=True)
    assert "still held by a policy" in response.content.decode()

    # Bob (developer) may not; Mallory's Globex session gets nothing from Acme.
    assert client_for(bob).post(f"/api/v1/deployments/runs/{run.pk}/recheck/").status_code == 403
    mallory_client = client_for(mallory)
    assert mallory_client.post(f"/deployments/runs/{run.pk}/recheck/").status_code in (302, 403, 404)
    assert mallory_client.post(f"/api/v1/deployments/runs/{run.pk}/recheck/").status_code in (403, 404)
    with tenant_context(acme):
        assert DeployRun.objects.get(pk=run.pk).status == "awaiting_approval"
        services.policy_update(policy=policy, actor=alice.user(), enabled=False)
    response = alice_client.post(f"/api/v1/deployments/runs/{run.pk}/recheck/")
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    response = alice_client.post(f"/api/v1/deployments/runs/{run.pk}/recheck/")
    assert response.status_code == 400  # a queued run: a clear error, not a 500
    assert "not waiting" in response.content.decode()
