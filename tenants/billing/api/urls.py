"""API routes of tenants.billing, mounted under /api/v1/billing/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from tenants.billing.api.views import BillingOverviewView

urlpatterns: list[URLPattern | URLResolver] = [
    path("", BillingOverviewView.as_view(), name="billing-overview"),
]
