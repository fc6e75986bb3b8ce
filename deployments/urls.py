"""Tenant self-service pages of deployments."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from deployments import views

app_name = "deployments"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("deploy/", views.deploy, name="deploy"),
    path("releases/new/", views.release_create, name="release_create"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/rollback/", views.rollback, name="rollback"),
    path("runs/<int:pk>/approve/", views.approve, name="approve"),
    path("agents/<int:pk>/", views.agent_detail, name="agent"),
    path("agents/<int:pk>/terminal/", views.terminal, name="terminal"),
    path("terminal-sessions/<int:pk>/playback/", views.playback, name="playback"),
    path("alerts/", include("deployments.alerts.urls")),
]
