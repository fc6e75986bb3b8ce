from __future__ import annotations

import json
import logging


def test_pages_send_csp_with_a_nonce_and_frame_deny(anon_client):
    response = anon_client().get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.content.decode()


def test_json_responses_get_the_strictest_fixed_policy(client_for, alice, anon_client):
    from portal.middleware import JSON_POLICY

    me = client_for(alice).get("/api/v1/me/")
    assert me.status_code == 200
    assert me["Content-Type"].startswith("application/json")
    assert me["Content-Security-Policy"] == JSON_POLICY == "default-src 'none'; frame-ancestors 'none'"
    assert me["X-Frame-Options"] == "DENY"
    refused = anon_client(alice.host).get("/api/v1/me/")  # errors are JSON too
    assert refused.status_code in (401, 403)
    assert refused["Content-Security-Policy"] == JSON_POLICY
    page = client_for(alice).get("/members/")  # a page keeps the page policy with its nonce
    assert "script-src 'self' 'nonce-" in page["Content-Security-Policy"]


def test_logs_are_json_with_tenant_and_request_id(client_for, alice, caplog):
    from portal.logging import ContextFilter, JSONFormatter

    seen: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(JSONFormatter().format(record))

    handler = Capture()
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = client_for(alice).get("/no-such-page/", HTTP_X_REQUEST_ID="req-for-log-test")
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 404
    entry = json.loads(seen[-1])
    assert entry["request_id"] == "req-for-log-test"
    assert entry["tenant"] == "t_acme"
    assert entry["level"] == "WARNING"
