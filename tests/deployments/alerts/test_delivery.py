"""Delivering alerts: a signed webhook to a real HTTP server, Slack, email, retries with backoff."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from django_tenants.utils import tenant_context

from deployments.alerts import senders, services, tasks
from deployments.alerts.models import AlertChannel, AlertDelivery, AlertEvent, AlertRule


def _event_with_delivery(alice: Any, channel: AlertChannel) -> AlertDelivery:
    rule = services.rule_create(actor=alice.user(), name="offline", kind="agent_offline", channels=[channel])
    event = AlertEvent.objects.create(
        rule=rule,
        rule_name=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        title="1 agent(s) offline",
        findings=[{"subject": "agent:1", "summary": "Agent web-1 is offline"}],
        fired_at=timezone.now(),
    )
    return AlertDelivery.objects.create(event=event, channel=channel, channel_name=channel.name)


def test_the_webhook_is_hmac_signed_and_the_receiver_can_verify_it(db, acme, alice, receiver):
    with tenant_context(acme):
        channel = services.channel_create(
            actor=alice.user(), name="ops hook", kind="webhook", url=receiver.url
        )
        delivery = _event_with_delivery(alice, channel)
        result = tasks.alert_deliver.apply(args=[delivery.pk])
        delivery.refresh_from_db()
    assert result.result == "sent"
    assert delivery.status == AlertDelivery.Status.SENT
    assert delivery.response_code == 200
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    assert senders.verify(
        channel.signing_secret, headers["X-Tenantry-Timestamp"], body, headers["X-Tenantry-Signature"]
    )
    # A tampered body, or another channel's secret, does not verify.
    assert not senders.verify(
        channel.signing_secret, headers["X-Tenantry-Timestamp"], body + b" ", headers["X-Tenantry-Signature"]
    )
    assert not senders.verify(
        "another-secret", headers["X-Tenantry-Timestamp"], body, headers["X-Tenantry-Signature"]
    )
    data = json.loads(body)
    assert data["tenant"] == "acme"
    assert data["findings"][0]["summary"] == "Agent web-1 is offline"
    assert headers["X-Tenantry-Delivery"] == str(delivery.pk)


def test_slack_gets_a_text_message(db, acme, alice, receiver):
    with tenant_context(acme):
        channel = services.channel_create(actor=alice.user(), name="slack", kind="slack", url=receiver.url)
        delivery = _event_with_delivery(alice, channel)
        tasks.alert_deliver.apply(args=[delivery.pk])
    text = json.loads(receiver.requests[0]["body"])["text"]
    assert "1 agent(s) offline" in text
    assert "Agent web-1 is offline" in text


def test_email_goes_to_every_recipient(db, acme, alice):
    mail.outbox.clear()
    with tenant_context(acme):
        channel = services.channel_create(
            actor=alice.user(), name="mail", kind="email", recipients=["ops@acme.test", "Oncall@acme.test"]
        )
        delivery = _event_with_delivery(alice, channel)
        tasks.alert_deliver.apply(args=[delivery.pk])
        delivery.refresh_from_db()
    assert delivery.status == AlertDelivery.Status.SENT
    [message] = mail.outbox
    assert sorted(message.to) == ["oncall@acme.test", "ops@acme.test"]
    assert "Agent web-1 is offline" in message.body


def test_a_failing_receiver_is_retried_until_it_answers(db, acme, alice, receiver):
    receiver.codes = [500, 503]
    with tenant_context(acme):
        channel = services.channel_create(actor=alice.user(), name="flaky", kind="webhook", url=receiver.url)
        delivery = _event_with_delivery(alice, channel)
        tasks.alert_deliver.apply(args=[delivery.pk])
        delivery.refresh_from_db()
    assert delivery.status == AlertDelivery.Status.SENT
    assert delivery.attempts == 3
    assert len(receiver.requests) == 3


def test_a_receiver_that_never_answers_ends_failed_after_the_last_retry(db, acme, alice, receiver):
    receiver.codes = [500] * 10
    with tenant_context(acme):
        channel = services.channel_create(actor=alice.user(), name="down", kind="webhook", url=receiver.url)
        delivery = _event_with_delivery(alice, channel)
        tasks.alert_deliver.apply(args=[delivery.pk])
        delivery.refresh_from_db()
    assert delivery.status == AlertDelivery.Status.FAILED
    assert delivery.attempts == tasks.alert_deliver.max_retries + 1
    assert "HTTP 500" in delivery.last_error


def test_a_client_error_is_not_retried(db, acme, alice, receiver):
    receiver.codes = [404]
    with tenant_context(acme):
        channel = services.channel_create(actor=alice.user(), name="gone", kind="webhook", url=receiver.url)
        delivery = _event_with_delivery(alice, channel)
        tasks.alert_deliver.apply(args=[delivery.pk])
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (AlertDelivery.Status.FAILED, 1)


def test_private_webhook_addresses_are_refused_outside_development(db, acme, alice, settings):
    settings.ALERTS_ALLOW_PRIVATE_WEBHOOKS = False
    with tenant_context(acme), pytest.raises(Exception, match="non-public address"):
        services.channel_create(actor=alice.user(), name="ssrf", kind="webhook", url="http://127.0.0.1:6379/")
    with pytest.raises(senders.DeliveryRefused):
        senders.url_check("http://169.254.169.254/latest/meta-data/")


def test_a_deleted_rule_keeps_its_history(db, acme, alice):
    with tenant_context(acme):
        channel = services.channel_create(
            actor=alice.user(), name="m", kind="email", recipients=["a@acme.test"]
        )
        delivery = _event_with_delivery(alice, channel)
        services.rule_delete(rule=AlertRule.objects.get(name="offline"), actor=alice.user())
        event = AlertEvent.objects.get(pk=delivery.event_id)
    assert event.rule is None
    assert event.rule_name == "offline"
