"""Tenant self-service pages of deployments."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

app_name = "deployments"
urlpatterns: list[URLPattern | URLResolver] = [
    path("alerts/", include("deployments.alerts.urls")),
]
