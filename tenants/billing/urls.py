"""Tenant self-service pages of tenants.billing."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "billing"
urlpatterns: list[URLPattern | URLResolver] = []
