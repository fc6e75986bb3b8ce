"""API routes of compliance, mounted under /api/v1/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("compliance.governance.api.urls")),
]
