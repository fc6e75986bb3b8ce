"""A tenant's domain: self-service pages, allauth, the API."""

from __future__ import annotations

from django.urls import include, path

from portal import views as portal_views
from tenants import views as tenant_views
from tenants.members.views import saml as saml_views

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"

urlpatterns = [
    path("", portal_views.dashboard, name="home"),
    path("welcome/<str:token>/", tenant_views.welcome, name="welcome"),
    # In front of allauth's own FinishACSView (same URL and name): replay guard + audited refusals.
    path("accounts/saml/<str:organization_slug>/acs/finish/", saml_views.acs_finish, name="saml_finish_acs"),
    path("accounts/", include("allauth.urls")),
    path("members/", include("tenants.members.urls")),
    path("vault/", include("vault.urls")),
    path("deployments/", include("deployments.urls")),
    path("compliance/", include("compliance.urls")),
    path("billing/", include("tenants.billing.urls")),
    path("api/v1/", include("portal.urls_api")),
    path("", include("portal.urls_common")),
]
