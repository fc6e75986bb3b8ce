"""The facts alert rules read, from the real deployments and vault models."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import tenant_context

from deployments.alerts import selectors, services
from deployments.models import Agent, DeployRun, Environment, LogChunk, Release
from vault.models import Secret


def _agent(env, name, **kwargs):
    return Agent.objects.create(
        name=name, environment=env, public_key=f"key-{name}", host_fingerprint=f"sha256:{name}", **kwargs
    )


def test_offline_agents_are_those_marked_offline_or_silent_for_three_heartbeats(db, acme):
    now = timezone.now()
    with tenant_context(acme):
        env = Environment.objects.create(name="production")
        _agent(env, "fresh", status="online", last_seen=now - timedelta(seconds=5))
        _agent(env, "silent", status="online", last_seen=now - timedelta(seconds=31))
        _agent(env, "marked", status="offline", last_seen=now)
        _agent(env, "revoked", status="revoked", last_seen=now - timedelta(days=1), revoked_at=now)
        found = selectors.agents_offline(now=now)
    assert sorted(f["summary"] for f in found) == ["Agent marked is offline", "Agent silent is offline"]


def test_failed_and_rolled_back_runs_in_the_window(db, acme):
    now = timezone.now()
    with tenant_context(acme):
        env = Environment.objects.create(name="staging")
        release = Release.objects.create(version="1.2.3", artifact="releases/a.tgz", artifact_sha256="0" * 64)
        failed = DeployRun.objects.create(
            environment=env,
            release=release,
            status="failed",
            finished_at=now - timedelta(seconds=10),
            error="boom",
        )
        rolled = DeployRun.objects.create(
            environment=env, release=release, status="rolled_back", finished_at=now - timedelta(seconds=5)
        )
        DeployRun.objects.create(
            environment=env, release=release, status="failed", finished_at=now - timedelta(hours=2)
        )
        since = now - timedelta(minutes=1)
        failures = selectors.deploy_runs_ended(statuses=("failed",), since=since, until=now)
        rollbacks = selectors.rollback_runs(since=since, until=now)
    assert [f["subject"] for f in failures] == [f"run:{failed.pk}"]
    assert failures[0]["error"] == "boom"
    assert [f["subject"] for f in rollbacks] == [f"run:{rolled.pk}"]


def test_log_keyword_hits_count_lines_in_the_window(db, acme):
    now = timezone.now()
    with tenant_context(acme):
        env = Environment.objects.create(name="prod")
        agent = _agent(env, "web-1", status="online", last_seen=now)
        lines = [[now.isoformat(), "error", "stderr", "Traceback (most recent call last)"]] * 3 + [
            [now.isoformat(), "info", "stdout", "GET / 200"]
        ]
        LogChunk.objects.create(agent=agent, seq=1, received_at=now - timedelta(seconds=30), lines=lines)
        LogChunk.objects.create(agent=agent, seq=2, received_at=now - timedelta(hours=1), lines=lines)
        window = {"since": now - timedelta(minutes=5), "until": now}
        by_text = selectors.log_keyword_hits(keyword="traceback", **window)
        by_level = selectors.log_keyword_hits(keyword="ERROR", **window)
    assert by_text["count"] == 3
    assert by_text["agents"] == {"web-1": 3}
    assert by_level["count"] == 3


def test_secrets_and_certificates_due_for_rotation(db, acme, alice):
    now = timezone.now()
    with tenant_context(acme):
        Secret.objects.create(
            name="tls/web",
            secret_type="certificate",
            rotation_policy="monthly",
            rotated_at=now - timedelta(days=25),
        )
        Secret.objects.create(name="db/pw", rotation_policy="yearly", rotated_at=now)
        Secret.objects.create(name="static", rotation_policy="none", rotated_at=now - timedelta(days=999))
        found = selectors.secrets_expiring(now=now, within=timedelta(days=14))
        # End to end: the rule fires on the real data.
        channel = services.channel_create(
            actor=alice.user(), name="m", kind="email", recipients=["o@acme.test"]
        )
        services.rule_create(actor=alice.user(), name="exp", kind="expiring", channels=[channel])
        [event] = services.rules_evaluate(now=now)
    assert [f["subject"].split(":")[0] for f in found] == ["secret"]
    assert found[0]["summary"].startswith("Certificate tls/web expires")
    assert event.findings == found
