"""Tenant self-service pages of deployments."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from deployments import key_views, setup_views, views

app_name = "deployments"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("deploy/", views.deploy, name="deploy"),
    path("releases/new/", views.release_create, name="release_create"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/rollback/", views.rollback, name="rollback"),
    path("runs/<int:pk>/approve/", views.approve, name="approve"),
    path("runs/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("runs/<int:pk>/recheck/", views.recheck, name="recheck"),
    path("agents/<int:pk>/", views.agent_detail, name="agent"),
    path("agents/<int:pk>/terminal/", views.terminal, name="terminal"),
    path("terminal-sessions/<int:pk>/playback/", views.playback, name="playback"),
    path("environments/", setup_views.environments, name="environments"),
    path("environments/<int:pk>/", setup_views.environment_detail, name="environment"),
    path("environments/<int:pk>/settings/", setup_views.environment_settings, name="environment_settings"),
    path("environments/<int:pk>/variables/", setup_views.variable_set, name="variable_set"),
    path(
        "environments/<int:pk>/variables/<int:variable_pk>/delete/",
        setup_views.variable_delete,
        name="variable_delete",
    ),
    path("environments/<int:pk>/tokens/", setup_views.token_create, name="token_create"),
    path("tokens/<int:pk>/revoke/", setup_views.token_revoke, name="token_revoke"),
    path("terminal-commands/", setup_views.terminal_commands, name="terminal_commands"),
    path(
        "terminal-commands/<int:pk>/delete/",
        setup_views.terminal_command_delete,
        name="terminal_command_delete",
    ),
    path("release-keys/", key_views.release_key_list, name="release_keys"),
    path("release-keys/rotate/", key_views.release_key_rotate, name="release_key_rotate"),
    path("alerts/", include("deployments.alerts.urls")),
]
