"""API routes of vault, mounted under /api/v1/vault/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from vault.api import views

router = SimpleRouter()
router.register("secrets", views.SecretViewSet, basename="vault-secret")

urlpatterns: list[URLPattern | URLResolver] = [
    path("secrets/<int:pk>/reveal/", views.RevealView.as_view(), name="vault-secret-reveal"),
    path("fetch/", views.FetchView.as_view(), name="vault-fetch"),
    path("stats/", views.StatsView.as_view(), name="vault-stats"),
    path("rotation-needed/", views.RotationNeededView.as_view(), name="vault-rotation-needed"),
    *router.urls,
]
