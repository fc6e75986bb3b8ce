"""A tenant's domain: self-service pages, allauth, the API."""

from __future__ import annotations

from allauth.socialaccount.providers.openid_connect import views as oidc_views
from allauth.socialaccount.providers.saml import views as allauth_saml_views
from django.urls import include, path

from portal import views as portal_views
from tenants import views as tenant_views
from tenants.members.views import saml as saml_views
from tenants.members.views.sso import allow_idp_form_action

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"

urlpatterns = [
    path("", portal_views.dashboard, name="home"),
    path("welcome/<str:token>/", tenant_views.welcome, name="welcome"),
    # In front of allauth's own views (same URLs and names). ACS finish: replay guard and
    # audited refusals. SSO start pages: the tenant's IdP origin in that page's form-action.
    path("accounts/saml/<str:organization_slug>/acs/finish/", saml_views.acs_finish, name="saml_finish_acs"),
    path(
        "accounts/saml/<str:organization_slug>/login/",
        allow_idp_form_action(allauth_saml_views.login, "saml"),
        name="saml_login",
    ),
    path(
        "accounts/oidc/<str:provider_id>/login/",
        allow_idp_form_action(oidc_views.login, "openid_connect"),
        name="openid_connect_login",
    ),
    path("accounts/", include("allauth.urls")),
    path("members/", include("tenants.members.urls")),
    path("vault/", include("vault.urls")),
    path("deployments/", include("deployments.urls")),
    path("compliance/", include("compliance.urls")),
    path("billing/", include("tenants.billing.urls")),
    path("api/v1/", include("portal.urls_api")),
    path("", include("portal.urls_common")),
]
