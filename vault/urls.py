"""Tenant self-service pages of vault."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "vault"
urlpatterns: list[URLPattern | URLResolver] = []
