"""API docs: Swagger UI and Redoc served from our own static files, under our CSP."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_load_no_third_party_assets(anon_client, alice, path):
    for host in (None, alice.host):
        response = anon_client(host).get(path)
        assert response.status_code == 200
        body = response.content.decode()
        assert "cdn.jsdelivr.net" not in body
        assert "fonts.googleapis.com" not in body
        assert "/static/drf_spectacular_sidecar/" in body
        assert "<script>" not in body  # every script has a src and the nonce


def test_swagger_init_script_is_a_separate_request(anon_client):
    response = anon_client().get("/api/docs/?script=")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")


def test_only_redoc_relaxes_style_src(anon_client):
    swagger = anon_client().get("/api/docs/")["Content-Security-Policy"]
    redoc = anon_client().get("/api/redoc/")["Content-Security-Policy"]
    assert "'unsafe-inline'" not in swagger
    style = next(part for part in redoc.split(";") if part.strip().startswith("style-src"))
    assert "'unsafe-inline'" in style
    script = next(part for part in redoc.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script


def test_the_schema_is_served(anon_client):
    response = anon_client().get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi" in response.content
