"""`deploy.migrate`: the agent asks the portal's policies just before it migrates.

Real daphne, a real agent subprocess and the sample app. With "Backup must exist before
migrate" installed, a release whose backup step leaves no backup is stopped before its
migrate command and rolled back; a release with a backup goes through.
"""

from __future__ import annotations

from typing import Any

from django.core.files.base import ContentFile
from django_tenants.utils import tenant_context

from compliance.governance import services as governance_services
from compliance.governance.models import PolicyViolation
from compliance.models import AuditEvent
from deployments import services
from tests.deployments.test_pipeline import (
    _app_version,
    _deploy,
    _final_run,
    _online_agent,
    _port,
    _run_log,
    _steps,
)
from tests.sample_app import build


def _release_without_backup(acme: Any, alice: Any, version: str) -> Any:
    """The backup command succeeds but writes nothing: the portal gets no backup."""
    manifest = build.manifest()
    manifest["commands"]["backup"] = ["{python}", "-c", "print('INFO nothing to back up')"]
    with tenant_context(acme):
        return services.release_create(
            version=version,
            artifact=ContentFile(build.tarball(version), name="app.tar.gz"),
            manifest=manifest,
            actor=alice.user(),
        )


def test_a_release_without_a_backup_is_stopped_before_migrate_and_rolled_back(
    deploy_settings, deploy_env, make_release, start_agent, acme, alice, unique
):
    environment, raw = deploy_env()
    agent = start_agent(host=alice.host, token=raw)
    _online_agent(acme, environment)
    port = _port(acme, environment)
    with tenant_context(acme):
        governance_services.policy_install_template(key="backup_before_migrate", actor=alice.user())

    # A backup exists: the policy lets migrate run.
    good = make_release("1.0.0")
    run = _final_run(acme, _deploy(acme, alice, environment, good).pk)
    assert run.status == "succeeded", run.error
    with tenant_context(acme):
        assert not PolicyViolation.objects.filter(action="deploy.migrate").exists()

    # No backup: blocked at the migrate step, the normal rollback brings 1.0.0 back.
    bare = _release_without_backup(acme, alice, f"2.0.0+{unique}")
    run = _final_run(acme, _deploy(acme, alice, environment, bare).pk)
    assert run.status == "rolled_back", run.error
    assert "migrate refused by the portal (403)" in run.error
    assert "Backup must exist before migrate" in run.error
    assert "restored" not in run.error  # migrate never started: nothing to restore
    steps = _steps(acme, run)
    assert ("backup", "succeeded") in steps
    assert ("apply", "failed") in steps
    assert ("rollback", "succeeded") in steps
    assert "migrating to schema of 2.0.0" not in agent.output() + _run_log(acme, run)
    assert (agent.state_dir / "data" / "schema.txt").read_text() == "1.0.0"
    assert _app_version(port) == "1.0.0"

    with tenant_context(acme):
        violation = PolicyViolation.objects.get(action="deploy.migrate")
        assert violation.outcome == "block"
        assert violation.policy_name == "Backup must exist before migrate"
        assert violation.context["backup_exists"] is False
        assert violation.context["backup_key"] == ""
        assert violation.context["backup_step"] == "succeeded"
        assert violation.context["run"] == run.pk
        assert violation.actor_label == alice.email
        blocked = AuditEvent.objects.get(action="deployments.run.migrate_blocked", target_id=str(run.pk))
        assert "Backup must exist before migrate" in str(blocked.payload)
