"""Deployments pages: overview, release upload, live run view, agent, terminal, playback."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from deployments.models import Agent, DeployRun, Environment, Release, TerminalSession
from tests.sample_app import build


def _objects(acme, alice, unique):
    from deployments import services

    with tenant_context(acme):
        env = Environment.objects.create(name=f"pg-{unique}")
        agent = Agent.objects.create(
            name=f"node-{unique}", environment=env, public_key=f"p{unique}", host_fingerprint="h"
        )
        release = services.release_create(
            version=f"1.0.0+{unique}",
            artifact=SimpleUploadedFile("a.tgz", build.tarball("1.0.0")),
            manifest=build.manifest(),
            actor=alice.user(),
        )
        run = DeployRun.objects.create(environment=env, release=release, status="succeeded")
        session = TerminalSession.objects.create(
            agent=agent, recording="terminal/x.cast", recording_sha256="ab"
        )
    return env, agent, release, run, session


def test_pages_render_for_a_developer_without_inline_scripts(client_for, acme, alice, bob, unique):
    _env, agent, release, run, _session = _objects(acme, alice, unique)
    client = client_for(bob)
    for url in ("/deployments/", f"/deployments/runs/{run.pk}/", f"/deployments/agents/{agent.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"<script>" not in response.content
        assert b"style=" not in response.content
    assert release.version.encode() in client.get("/deployments/").content
    assert b"data-log-socket" in client.get(f"/deployments/runs/{run.pk}/").content
    # Bob may not deploy, roll back or open terminals.
    assert client.post(f"/deployments/runs/{run.pk}/rollback/").status_code == 403
    assert client.get(f"/deployments/agents/{agent.pk}/terminal/").status_code == 403


def test_terminal_page_asks_for_step_up_then_loads_xterm(client_for, acme, alice, unique):
    _, agent, _, _, session = _objects(acme, alice, unique)
    response = client_for(alice, otp=False).get(f"/deployments/agents/{agent.pk}/terminal/")
    assert response.status_code == 302
    assert "next=" in response["Location"]
    response = client_for(alice).get(f"/deployments/agents/{agent.pk}/terminal/")
    assert response.status_code == 200
    assert b"vendor/xterm/xterm.js" in response.content
    assert (
        b"asciinema-player"
        in client_for(alice).get(f"/deployments/terminal-sessions/{session.pk}/playback/").content
    )


def test_one_click_rollback_and_release_upload_from_the_pages(
    client_for, acme, alice, unique, deploy_settings, django_capture_on_commit_callbacks
):
    env, _, release, run, _ = _objects(acme, alice, unique)
    client = client_for(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/deployments/runs/{run.pk}/rollback/")
    assert response.status_code == 302
    with tenant_context(acme):
        new = DeployRun.objects.filter(environment=env).exclude(pk=run.pk).get()
        assert new.kind == "rollback"
        assert new.release == release
    response = client.post(
        "/deployments/releases/new/",
        {
            "version": f"2.0.0+{unique}",
            "artifact": SimpleUploadedFile("a.tgz", build.tarball("2.0.0")),
            "manifest": json.dumps(build.manifest()),
        },
    )
    assert response.status_code == 302
    with tenant_context(acme):
        assert Release.objects.get(version=f"2.0.0+{unique}").signature
