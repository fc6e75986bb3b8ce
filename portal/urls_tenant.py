"""A tenant's domain: self-service pages, allauth, the API."""

from __future__ import annotations

from django.urls import include, path

from tenants import views as tenant_views

urlpatterns = [
    path("", tenant_views.tenant_home, name="home"),
    path("welcome/<str:token>/", tenant_views.welcome, name="welcome"),
    path("accounts/", include("allauth.urls")),
    path("members/", include("tenants.members.urls")),
    path("vault/", include("vault.urls")),
    path("deployments/", include("deployments.urls")),
    path("compliance/", include("compliance.urls")),
    path("billing/", include("tenants.billing.urls")),
    path("api/v1/", include("portal.urls_api")),
    path("", include("portal.urls_common")),
]
