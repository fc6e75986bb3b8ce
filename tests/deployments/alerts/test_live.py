"""End to end through a real Celery worker and Redis: beat's task → tenant evaluation → a signed
webhook on a real HTTP server. Data is committed (the worker threads use their own connections)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from deployments.alerts import senders, services, tasks
from deployments.alerts.models import AlertChannel, AlertDelivery, AlertEvent, AlertRule
from deployments.models import Agent, Environment
from portal.celery import app

pytestmark = pytest.mark.slow


def test_deliveries_retry_with_exponential_backoff(db):
    # Also makes pytest-django set up the test database when this file runs on its own:
    # it only does so for sessions that collect a test using `db`.
    task = tasks.alert_deliver
    assert task.autoretry_for == (senders.DeliveryFailed,)
    assert (task.retry_backoff, task.retry_backoff_max, task.retry_jitter, task.max_retries) == (
        5,
        600,
        True,
        5,
    )


@pytest.fixture
def worker(committed_db: None) -> Iterator[None]:
    from celery.contrib.testing.worker import start_worker

    app.control.purge()
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10):
        yield


@pytest.fixture
def acme_offline_agent(committed_db: None, acme: Any, unique: str) -> Iterator[Agent]:
    with tenant_context(acme):
        env = Environment.objects.create(name=f"live-{unique}")
        agent = Agent.objects.create(
            name=f"web-{unique}",
            environment=env,
            public_key=f"k-{unique}",
            host_fingerprint="sha256:x",
            status="offline",
        )
    yield agent
    with tenant_context(acme):
        AlertEvent.objects.all().delete()
        AlertRule.objects.all().delete()
        AlertChannel.objects.all().delete()
        Agent.objects.filter(pk=agent.pk).delete()
        Environment.objects.filter(pk=env.pk).delete()


def _wait(predicate: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return None


def test_beat_task_fires_and_delivers_a_signed_webhook(acme_offline_agent, worker, acme, alice, receiver):
    with tenant_context(acme):
        channel = services.channel_create(
            actor=alice.user(), name="live hook", kind="webhook", url=receiver.url
        )
        services.rule_create(
            actor=alice.user(), name="live offline", kind="agent_offline", channels=[channel]
        )
    started = timezone.now()
    tasks.alerts_evaluate_all.delay()  # what beat sends every 30 s

    assert _wait(lambda: receiver.requests), "no webhook arrived"
    request = receiver.requests[0]
    headers, body = request["headers"], request["body"]
    assert senders.verify(
        channel.signing_secret, headers["X-Tenantry-Timestamp"], body, headers["X-Tenantry-Signature"]
    )
    assert json.loads(body)["findings"][0]["summary"] == f"Agent {acme_offline_agent.name} is offline"

    def delivered() -> AlertDelivery | None:
        with tenant_context(acme):
            return AlertDelivery.objects.filter(status="sent", event__fired_at__gte=started).first()

    assert _wait(delivered)
    # A second beat within the cooldown adds no event.
    tasks.alerts_evaluate_all.delay()
    time.sleep(2)
    with tenant_context(acme):
        assert AlertEvent.objects.filter(rule_name="live offline").count() == 1
    assert len(receiver.requests) == 1
