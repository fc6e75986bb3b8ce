"""The deployments API: the happy paths, the role checks, one error body, the schema."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.sample_app import build


def test_an_admin_sets_up_an_environment_token_and_release(
    client_for, alice, unique, deploy_settings, django_capture_on_commit_callbacks
):
    api = client_for(alice)
    response = api.post(
        "/api/v1/deployments/environments/", {"name": f"api-{unique}"}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    env_id = response.json()["id"]
    response = api.post(
        f"/api/v1/deployments/environments/{env_id}/variables/",
        {"name": "APP_PORT", "value": "8000"},
        content_type="application/json",
    )
    assert response.status_code == 200
    response = api.post(
        "/api/v1/deployments/tokens/",
        {"environment": f"api-{unique}", "max_uses": 2},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["token"].startswith("tte_")
    assert response["Cache-Control"] == "no-store"
    token_id = response.json()["id"]
    assert api.post(f"/api/v1/deployments/tokens/{token_id}/revoke/").json()["revoked_at"]

    upload = SimpleUploadedFile("app.tar.gz", build.tarball("1.0.0"), content_type="application/gzip")
    response = api.post(
        "/api/v1/deployments/releases/",
        {"version": f"1.0.0+{unique}", "artifact": upload, "manifest": json.dumps(build.manifest())},
    )
    assert response.status_code == 201, response.content
    assert response.json()["signature"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/deployments/runs/",
            {"environment": f"api-{unique}", "release": f"1.0.0+{unique}"},
            content_type="application/json",
        )
    assert response.status_code == 201
    run = api.get(f"/api/v1/deployments/runs/{response.json()['id']}/").json()
    assert run["status"] == "failed"  # no agent enrolled: refused before any change
    assert "has no enrolled agent" in run["error"]
    assert [step["name"] for step in run["steps"]] == ["authorize", "validate", "record"]


def test_a_corrupted_artifact_upload_is_refused(client_for, alice, unique):
    upload = SimpleUploadedFile("app.tar.gz", b"\x1f\x8b not really gzip", content_type="application/gzip")
    response = client_for(alice).post(
        "/api/v1/deployments/releases/",
        {"version": f"1.0.0+{unique}", "artifact": upload, "manifest": json.dumps(build.manifest())},
    )
    assert response.status_code == 400
    assert "not a readable tar archive" in json.dumps(response.json()["error"]["fields"])


def test_bob_the_developer_cannot_mint_tokens_or_deploy(client_for, bob, unique):
    api = client_for(bob)
    response = api.post("/api/v1/deployments/tokens/", {"environment": "x"}, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert api.post("/api/v1/deployments/runs/", {}, content_type="application/json").status_code == 403
    assert api.get("/api/v1/deployments/agents/").status_code == 200


def test_everything_is_in_the_openapi_schema(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = set(schema["paths"])
    for expected in (
        "/api/v1/deployments/agents/enroll/",
        "/api/v1/deployments/environments/",
        "/api/v1/deployments/tokens/",
        "/api/v1/deployments/agents/{id}/logs/",
        "/api/v1/deployments/releases/",
        "/api/v1/deployments/runs/{id}/approve/",
        "/api/v1/deployments/terminal-sessions/{id}/recording/",
    ):
        assert expected in paths, expected


def test_logs_are_filtered_searched_and_exported_as_csv(client_for, acme, bob, unique):
    from django_tenants.utils import tenant_context

    from deployments import logstore
    from deployments.models import Agent, Environment

    with tenant_context(acme):
        env = Environment.objects.create(name=f"logapi-{unique}")
        agent = Agent.objects.create(name="n", environment=env, public_key=f"l{unique}", host_fingerprint="h")
        lines = [[1.0, "info", "stdout", "GET /health 200"], [2.0, "error", "stderr", "db timeout"]]
        logstore.chunk_store(agent_id=agent.pk, seq=1, run_id=None, lines=lines)
    api = client_for(bob)
    body = api.get(f"/api/v1/deployments/agents/{agent.pk}/logs/?level=warning").json()
    assert [line["text"] for line in body["lines"]] == ["db timeout"]
    body = api.get(f"/api/v1/deployments/agents/{agent.pk}/logs/?search=HEALTH").json()
    assert [line["level"] for line in body["lines"]] == ["info"]
    response = api.get(f"/api/v1/deployments/agents/{agent.pk}/logs/?export=csv")
    assert response["Content-Type"].startswith("text/csv")
    assert b"db timeout" in b"".join(response.streaming_content)
