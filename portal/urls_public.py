"""The public domain: landing, signup, central login, the operator console, billing hooks."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from portal.accounts.public_views import public_accounts
from tenants import views as tenant_views

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"

urlpatterns = [
    path("", tenant_views.landing, name="landing"),
    path("signup/", tenant_views.signup, name="signup"),
    path("signup/<str:token>/", tenant_views.signup_status, name="signup-status"),
    path("login/", tenant_views.find_workspace, name="find-workspace"),
    # allauth lives on tenant domains only; its paths here lead to "find your portal".
    path("accounts/login/", public_accounts, {"rest": "login/"}, name="account_login"),
    re_path(r"^accounts/(?P<rest>.*)$", public_accounts, name="public-accounts"),
    path("admin/", admin.site.urls),
    path("billing/", include("tenants.billing.urls")),
    path("api/v1/", include("portal.urls_api")),
    path("", include("portal.urls_common")),
]
