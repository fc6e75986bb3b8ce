"""API routes of deployments, mounted under /api/v1/deployments/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path
from rest_framework.routers import SimpleRouter

from deployments.api import agent_views, key_views, views

router = SimpleRouter()
router.register("environments", views.EnvironmentViewSet, basename="deployments-environment")
router.register("tokens", views.TokenViewSet, basename="deployments-token")
router.register("agents", views.AgentViewSet, basename="deployments-agent")
router.register("releases", views.ReleaseViewSet, basename="deployments-release")
router.register("release-keys", key_views.ReleaseKeyViewSet, basename="deployments-release-key")
router.register("runs", views.RunViewSet, basename="deployments-run")
router.register("terminal-commands", views.AllowedCommandViewSet, basename="deployments-terminal-command")
router.register("terminal-sessions", views.TerminalSessionViewSet, basename="deployments-terminal-session")

urlpatterns: list[URLPattern | URLResolver] = [
    path("agents/enroll/", agent_views.AgentEnrollView.as_view(), name="deployments-agent-enroll"),
    path("agent-links/<str:token>/", agent_views.AgentArtifactView.as_view(), name="deployments-agent-link"),
    path(
        "agent-links/<str:token>/migrate/",
        agent_views.AgentMigrateCheckView.as_view(),
        name="deployments-agent-migrate-check",
    ),
    path("alerts/", include("deployments.alerts.api.urls")),
    *router.urls,
]
