"""Evidence read from the deployments app: second-person approval, backups, terminal recordings.

Rows are made directly with the ORM: these tests are about what the collectors read, not how
the pipeline writes it. They skip if the deployments app lacks the fields the collectors use.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.apps import apps
from django.utils import timezone

from compliance.governance import collectors
from compliance.governance.collectors import Period, collect

PERIOD = Period(date(2000, 1, 1), timezone.now().date())


@pytest.fixture
def prod(in_acme, unique):
    try:
        collectors.model("deployments.DeployRun", "environment", "requested_by", "created_at", "status")
        collectors.model("deployments.DeployApproval", "run", "approver")
        collectors.model("deployments.DeployTarget", "run", "backup_name", "agent")
        collectors.model("deployments.TerminalSession", "recording", "started_at", "ended_at", "agent")
    except collectors.Missing as exc:
        pytest.skip(str(exc))
    environment = apps.get_model("deployments.Environment").objects.create(
        name=f"prod-{unique}", is_production=True
    )
    release = apps.get_model("deployments.Release").objects.create(
        version=f"1.0.{unique}", artifact="releases/x.tar.gz", artifact_sha256="0" * 64
    )
    agent = apps.get_model("deployments.Agent").objects.create(
        name="node-1", environment=environment, public_key=f"key-{unique}", host_fingerprint="fp"
    )
    return environment, release, agent


def _run(prod, requested_by, status="succeeded"):
    environment, release, _ = prod
    return apps.get_model("deployments.DeployRun").objects.create(
        environment=environment, release=release, requested_by=requested_by, status=status
    )


def test_a_production_deploy_approved_only_by_its_requester_fails(prod, alice_user, bob_user):
    approval = apps.get_model("deployments.DeployApproval")
    run = _run(prod, alice_user)
    approval.objects.create(run=run, approver=alice_user)
    evidence = collect("deploy_second_approval", PERIOD)
    assert evidence.status == "fail"
    assert "0 of 1" in evidence.summary
    approval.objects.create(run=run, approver=bob_user)
    assert collect("deploy_second_approval", PERIOD).status == "pass"


def test_every_target_of_a_production_deploy_needs_a_backup(prod, alice_user):
    target = apps.get_model("deployments.DeployTarget")
    run = _run(prod, alice_user)
    row = target.objects.create(run=run, agent=prod[2], backup_name="")
    assert collect("backup_before_prod_deploy", PERIOD).status == "fail"
    row.backup_name = "backups/pre-deploy.sql.gz"
    row.save()
    assert collect("backup_before_prod_deploy", PERIOD).status == "pass"


def test_terminal_sessions_without_a_recording_fail(prod, alice_user):
    session = apps.get_model("deployments.TerminalSession").objects.create(
        agent=prod[2], user=alice_user, ended_at=timezone.now(), recording=""
    )
    assert collect("terminal_sessions_recorded", PERIOD).status == "fail"
    session.recording = "terminal/1.cast"
    session.save()
    evidence = collect("terminal_sessions_recorded", PERIOD)
    assert evidence.status == "pass"
    assert "1 of 1" in evidence.summary
