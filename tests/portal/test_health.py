from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext


def test_health_answers_without_touching_the_database(anon_client):
    client = anon_client("no-such-host.example")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0


def test_ready_names_each_dependency(anon_client, settings):
    response = anon_client().get("/ready/")
    body = response.json()
    assert set(body["checks"]) == {"database", "redis", "celery", "storage"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    # No Celery worker runs in this test, so readiness must say so and fail with 503.
    assert response.status_code == 503
    assert body["failed"] == ["celery"]


def test_ready_reports_a_broken_database_url(anon_client, monkeypatch):
    from portal import health

    def broken() -> None:
        raise ConnectionError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    body = anon_client().get("/ready/").json()
    assert "database" in body["failed"]
    assert "connection refused" in body["checks"]["database"]["error"]


def test_every_response_carries_a_request_id(anon_client):
    response = anon_client().get("/")
    assert len(response["X-Request-ID"]) == 32
    echoed = anon_client().get("/", HTTP_X_REQUEST_ID="trace-1234-abcd")
    assert echoed["X-Request-ID"] == "trace-1234-abcd"
    forged = anon_client().get("/", HTTP_X_REQUEST_ID="bad id\nInjected: 1")
    assert forged["X-Request-ID"] != "bad id\nInjected: 1"
