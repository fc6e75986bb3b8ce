"""Websocket routes of the deployments app (agents, live logs, terminal)."""

from __future__ import annotations

from django.urls import path

from deployments.consumers import AgentConsumer, LogViewerConsumer, TerminalConsumer

websocket_urlpatterns: list = [
    path("ws/agent/", AgentConsumer.as_asgi()),
    path("ws/deployments/logs/<str:kind>/<int:pk>/", LogViewerConsumer.as_asgi()),
    path("ws/deployments/terminal/<int:agent_id>/", TerminalConsumer.as_asgi()),
]
