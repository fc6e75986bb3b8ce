"""API routes of deployments, mounted under /api/v1/deployments/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from deployments.api import agent_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("agents/enroll/", agent_views.AgentEnrollView.as_view(), name="deployments-agent-enroll"),
    path("agent-links/<str:token>/", agent_views.AgentArtifactView.as_view(), name="deployments-agent-link"),
    path("alerts/", include("deployments.alerts.api.urls")),
]
