"""`/api/v1/`, the same on every domain; each app contributes its routes."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [
    path("", include("tenants.members.api.urls")),
    path("vault/", include("vault.api.urls")),
    path("deployments/", include("deployments.api.urls")),
    path("compliance/", include("compliance.api.urls")),
    path("billing/", include("tenants.billing.api.urls")),
]
