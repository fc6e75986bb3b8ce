"""Websocket routes of the deployments app (agents, live logs, terminal)."""

from __future__ import annotations

websocket_urlpatterns: list = []
