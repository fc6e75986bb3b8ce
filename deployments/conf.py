"""Deployment settings with their defaults; tests override them with `settings`."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "DEPLOY_HEARTBEAT_SECONDS": 10.0,
    "DEPLOY_MISSED_HEARTBEATS": 3,
    "DEPLOY_CHALLENGE_SECONDS": 30,
    "DEPLOY_AUTH_TIMEOUT_SECONDS": 10.0,
    # `hello` on /ws/agent/ per fixed window; an agent's backoff stays well under these.
    "DEPLOY_HELLO_WINDOW_SECONDS": 60,
    "DEPLOY_HELLO_PER_IP": 300,  # a fleet behind one NAT reconnects at once after a portal restart
    "DEPLOY_HELLO_PER_AGENT": 20,
    "DEPLOY_TOKEN_MAX_DAYS": 30,
    "DEPLOY_ARTIFACT_MAX_BYTES": 200 * 1024 * 1024,
    "DEPLOY_LOG_RETENTION_DAYS": 14,
    "DEPLOY_LOG_BATCH_MAX_LINES": 2000,
    "DEPLOY_LOG_LINE_MAX_CHARS": 4000,
    "DEPLOY_VIEWER_BUFFER_LINES": 5000,
    "DEPLOY_VIEWER_FLUSH_SECONDS": 0.025,  # at most 40 frames/s per viewer under load
    "DEPLOY_STEP_OUTPUT_MAX_CHARS": 64000,
    "DEPLOY_LINK_SECONDS": 600,
    "DEPLOY_TERMINAL_IDLE_SECONDS": 15 * 60,
    "DEPLOY_TERMINAL_MAX_INPUT": 1024,
    "DEPLOY_TERMINAL_SPOOL_DIR": None,
}


def get(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])
