"""Mallory (Globex) attacks Acme's alerts over HTTP, the API and Celery."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from deployments.alerts import services, tasks
from deployments.alerts.models import AlertChannel, AlertDelivery, AlertEvent, AlertRule


def _acme_alerts(acme, alice):
    with tenant_context(acme):
        channel = services.channel_create(
            actor=alice.user(), name="acme-secret-hook", kind="webhook", url="https://hooks.acme.test/x"
        )
        rule = services.rule_create(actor=alice.user(), name="acme-rule", kind="rollback", channels=[channel])
        event = AlertEvent.objects.create(
            rule=rule, rule_name="acme-rule", kind="rollback", severity="warning", title="t"
        )
        delivery = AlertDelivery.objects.create(event=event, channel=channel, channel_name=channel.name)
    return channel, rule, delivery


def test_mallory_cannot_see_acmes_alerts_over_http(client_for, mallory, alice, acme):
    _, rule, _ = _acme_alerts(acme, alice)
    client = client_for(mallory)
    # Her cookie means nothing on Acme's host.
    response = client.get("/deployments/alerts/", HTTP_HOST=alice.host)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    # On her own host, Acme's ids do not exist.
    client = client_for(mallory)
    assert client.get(f"/deployments/alerts/rules/{rule.pk}/").status_code == 404
    page = client.get("/deployments/alerts/")
    assert b"acme-rule" not in page.content
    assert b"acme-secret-hook" not in page.content


def test_mallory_cannot_read_or_edit_acmes_alerts_over_the_api(client_for, mallory, alice, acme):
    channel, rule, _ = _acme_alerts(acme, alice)
    client = client_for(mallory)
    assert client.get(f"/api/v1/deployments/alerts/rules/{rule.pk}/").status_code == 404
    assert client.get("/api/v1/deployments/alerts/channels/").json()["results"] == []
    patch = client.patch(
        f"/api/v1/deployments/alerts/channels/{channel.pk}/",
        {"url": "https://evil.test/"},
        content_type="application/json",
    )
    assert patch.status_code == 404
    assert client.delete(f"/api/v1/deployments/alerts/rules/{rule.pk}/").status_code == 404
    # Nor with her session against Acme's API host.
    assert client_for(mallory).get("/api/v1/deployments/alerts/rules/", HTTP_HOST=alice.host).status_code in (
        401,
        403,
    )
    with tenant_context(acme):
        assert AlertChannel.objects.get(pk=channel.pk).url == "https://hooks.acme.test/x"
        assert AlertRule.objects.filter(pk=rule.pk).exists()


def test_a_task_sent_from_globex_cannot_deliver_acmes_alert(db, alice, acme, globex):
    _, _, delivery = _acme_alerts(acme, alice)
    with tenant_context(globex):
        result = tasks.alert_deliver.apply(args=[delivery.pk])
    assert result.result == "missing"
    with tenant_context(acme):
        assert AlertDelivery.objects.get(pk=delivery.pk).attempts == 0


def test_a_delivery_task_without_a_tenant_fails_closed(db, alice, acme):
    from portal.celery import TenantContextMissing

    _, _, delivery = _acme_alerts(acme, alice)
    result = tasks.alert_deliver.apply(args=[delivery.pk])
    assert isinstance(result.result, TenantContextMissing)
