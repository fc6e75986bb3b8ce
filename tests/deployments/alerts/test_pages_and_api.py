"""Alert pages and API: Alice manages, Bob reads, everything is in the OpenAPI schema."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from deployments.alerts import services
from deployments.alerts.models import AlertChannel, AlertRule


def test_alice_creates_a_channel_and_a_rule_through_the_pages(client_for, alice, acme):
    client = client_for(alice)
    assert client.get("/deployments/alerts/").status_code == 200
    response = client.post(
        "/deployments/alerts/channels/new/",
        {"name": "ops mail", "kind": "email", "recipients": "ops@acme.test, oncall@acme.test"},
    )
    assert response.status_code == 302
    with tenant_context(acme):
        channel = AlertChannel.objects.get(name="ops mail")
    assert channel.recipients == ["oncall@acme.test", "ops@acme.test"]
    response = client.post(
        "/deployments/alerts/rules/new/",
        {
            "name": "errors",
            "kind": "log_keyword",
            "severity": "critical",
            "channels": [channel.pk],
            "cooldown_seconds": 600,
            "is_active": "on",
            "keyword": "Traceback",
            "threshold": 3,
            "window_minutes": 10,
        },
    )
    assert response.status_code == 302, response.content
    with tenant_context(acme):
        rule = AlertRule.objects.get(name="errors")
        assert list(rule.channels.all()) == [channel]
    assert rule.params == {"keyword": "Traceback", "threshold": 3, "window_minutes": 10}
    page = client.get("/deployments/alerts/")
    assert b"errors" in page.content
    assert b"ops mail" in page.content


def test_a_bad_channel_shows_the_error_on_the_page(client_for, alice):
    response = client_for(alice).post(
        "/deployments/alerts/channels/new/", {"name": "x", "kind": "email", "recipients": "not-an-address"}
    )
    assert response.status_code == 200
    assert b"is not an email address" in response.content


def test_bob_reads_alerts_but_cannot_change_them(client_for, bob):
    client = client_for(bob)
    assert client.get("/deployments/alerts/").status_code == 200
    assert client.get("/deployments/alerts/rules/new/").status_code == 403
    response = client.post("/api/v1/deployments/alerts/rules/", {"name": "x", "kind": "rollback"})
    assert response.status_code == 403
    assert client.get("/api/v1/deployments/alerts/rules/").status_code == 200


def test_the_api_manages_channels_and_rules(client_for, alice, acme, receiver):
    client = client_for(alice)
    created = client.post(
        "/api/v1/deployments/alerts/channels/",
        {"name": "hook", "kind": "webhook", "url": receiver.url},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    channel = created.json()
    assert len(channel["signing_secret"]) > 20
    listed = client.get("/api/v1/deployments/alerts/channels/").json()["results"]
    assert [c["name"] for c in listed] == ["hook"]
    assert "signing_secret" not in listed[0]
    rule = client.post(
        "/api/v1/deployments/alerts/rules/",
        {"name": "offline", "kind": "agent_offline", "channels": [channel["id"]], "cooldown_seconds": 120},
        content_type="application/json",
    )
    assert rule.status_code == 201, rule.content
    assert rule.json()["channels"] == [channel["id"]]
    patched = client.patch(
        f"/api/v1/deployments/alerts/rules/{rule.json()['id']}/",
        {"is_active": False},
        content_type="application/json",
    )
    assert patched.json()["is_active"] is False
    bad = client.post(
        "/api/v1/deployments/alerts/rules/",
        {"name": "bad", "kind": "expiring", "params": {"days": 9999}},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"
    rotated = client.post(f"/api/v1/deployments/alerts/channels/{channel['id']}/rotate-secret/")
    assert rotated.json()["signing_secret"] != channel["signing_secret"]
    assert client.delete(f"/api/v1/deployments/alerts/channels/{channel['id']}/").status_code == 204


def test_history_is_listed_by_the_api(client_for, alice, acme):
    with tenant_context(acme):
        rule = services.rule_create(actor=alice.user(), name="r", kind="rollback")
        rule.events.create(rule_name="r", kind="rollback", severity="warning", title="1 rollback(s) happened")
    events = client_for(alice).get("/api/v1/deployments/alerts/events/").json()["results"]
    assert [e["title"] for e in events] == ["1 rollback(s) happened"]


def test_alerts_are_in_the_openapi_schema(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = set(schema["paths"])
    for path in ("channels", "rules", "events"):
        assert any(p.endswith(f"/deployments/alerts/{path}/") for p in paths), path
