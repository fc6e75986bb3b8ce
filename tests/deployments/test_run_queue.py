"""A second run for a busy environment queues, starts when the lock frees, and can be cancelled."""

from __future__ import annotations

from django.conf import settings
from django.test import Client
from django_tenants.utils import tenant_context

from deployments import pipeline
from deployments.models import DeployRun, DeployStep
from tests.conftest import session_for
from tests.deployments.conftest import wait_for
from tests.deployments.test_pipeline import _deploy, _final_run, _online_agent, _steps


def _status(acme, run_id: int) -> str:
    with tenant_context(acme):
        return DeployRun.objects.get(pk=run_id).status


def test_runs_queue_behind_the_running_one_and_start_in_order(
    deploy_settings, deploy_env, make_release, start_agent, acme, alice, tmp_path
):
    environment, raw = deploy_env()
    start_agent(host=alice.host, token=raw)
    _online_agent(acme, environment)
    gate = tmp_path / "let-migrate-finish"
    first = _deploy(acme, alice, environment, make_release("1.0.0", migrate_wait_for=str(gate)))
    wait_for(lambda: ("apply", "running") in _steps(acme, first), timeout=30)

    second = _deploy(acme, alice, environment, make_release("2.0.0"))
    third = _deploy(acme, alice, environment, make_release("3.0.0"))
    assert _status(acme, second.pk) == "queued"
    assert _status(acme, third.pk) == "queued"
    with tenant_context(acme):
        note = DeployStep.objects.get(run=second, name="authorize").output
    assert f"Queued behind run #{first.pk} (running)" in note

    # Visible in the run list (API and page), and a queued run can be cancelled.
    api = Client(HTTP_HOST=alice.host)
    api.cookies[settings.SESSION_COOKIE_NAME] = session_for(alice)  # committed: no `db` transaction
    listed = {run["id"]: run["status"] for run in api.get("/api/v1/deployments/runs/").json()["results"]}
    assert listed[second.pk] == "queued"
    assert listed[first.pk] == "running"
    assert api.post(f"/api/v1/deployments/runs/{third.pk}/cancel/").json()["status"] == "cancelled"
    assert "Queued" in api.get("/deployments/").content.decode()

    gate.write_text("go")  # the first run finishes; the lock frees and the second starts by itself
    assert _final_run(acme, first.pk).status == "succeeded"
    run = _final_run(acme, second.pk, timeout=60)
    assert run.status == "succeeded", run.error
    assert _status(acme, third.pk) == "cancelled"
    with tenant_context(acme):
        assert (
            DeployRun.objects.get(pk=second.pk).started_at >= DeployRun.objects.get(pk=first.pk).finished_at
        )


def test_a_queued_run_checks_versions_when_it_starts(
    deploy_settings, deploy_env, make_release, start_agent, acme, alice, tmp_path
):
    """Two queued deploys of the same older release: validation happens at start, not at request."""
    environment, raw = deploy_env()
    start_agent(host=alice.host, token=raw)
    _online_agent(acme, environment)
    gate = tmp_path / "gate"
    newer = make_release("2.0.0", migrate_wait_for=str(gate))
    first = _deploy(acme, alice, environment, newer)
    wait_for(lambda: ("apply", "running") in _steps(acme, first), timeout=30)
    older = _deploy(acme, alice, environment, make_release("1.0.0"))
    assert _status(acme, older.pk) == "queued"
    gate.write_text("go")
    assert _final_run(acme, first.pk).status == "succeeded"
    run = _final_run(acme, older.pk, timeout=60)
    assert run.status == "failed"
    assert "not newer" in run.error  # checked against what was live when it started


def test_a_waiting_run_is_cancelled_from_its_page(client_for, acme, alice, bob, mallory, unique):
    from django.core.files.base import ContentFile

    from deployments import services
    from tests.sample_app import build

    with tenant_context(acme):
        environment = services.environment_create(
            name=f"gate-{unique}", actor=alice.user(), approvals_required=1
        )
        release = services.release_create(
            version=f"1.0.0+{unique}",
            artifact=ContentFile(build.tarball("1"), name="a.tgz"),
            manifest=build.manifest(),
            actor=alice.user(),
        )
        first = pipeline.deploy_request(environment=environment, release=release, actor=alice.user())
        second = pipeline.deploy_request(environment=environment, release=release, actor=alice.user())
    assert first.status == second.status == "awaiting_approval"  # both wait; neither is refused

    alice_client = client_for(alice)
    assert "Cancel this run" in alice_client.get(f"/deployments/runs/{second.pk}/").content.decode()
    assert client_for(bob).post(f"/deployments/runs/{second.pk}/cancel/").status_code == 403
    mallory_client = client_for(mallory)
    mallory_client.defaults["HTTP_HOST"] = alice.host
    assert mallory_client.post(f"/deployments/runs/{second.pk}/cancel/").status_code in (302, 403)
    assert _status(acme, second.pk) == "awaiting_approval"

    response = alice_client.post(f"/deployments/runs/{second.pk}/cancel/", follow=True)
    assert f"Run #{second.pk} was cancelled." in response.content.decode()
    assert _status(acme, second.pk) == "cancelled"
    response = alice_client.post(f"/deployments/runs/{second.pk}/cancel/", follow=True)
    assert "Only a run that has not started can be cancelled." in response.content.decode()
    assert _status(acme, first.pk) == "awaiting_approval"
