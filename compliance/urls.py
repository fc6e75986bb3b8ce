"""Tenant self-service pages of compliance."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

app_name = "compliance"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("compliance.governance.urls")),
]
