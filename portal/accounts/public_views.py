"""allauth's well-known paths on the public domain, where allauth is deliberately not mounted.

Accounts live in tenant schemas: a member's login, password reset and email verification all
happen at their portal (`<slug>.<PORTAL_DOMAIN>/accounts/…`), and every link allauth emails
is built on that host. The public schema holds only platform operators, who sign in to the
OTP admin (`/admin/`). So on the public domain `/accounts/…` never signs anyone in: it sends
members to "find your portal" (`/login/`, whose email carries a sign-in and a password-reset
link per portal), and in the community edition to the same path at the single tenant. No
public `/accounts/` address answers 404, and a member's credentials have nothing to match on
the public schema.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from portal import editions
from tenants.selectors import serving_tenants, tenant_base_url


def public_accounts(request: HttpRequest, rest: str = "") -> HttpResponse:
    if not editions.enabled("multi_tenant"):
        tenant = serving_tenants().first()
        if tenant is not None:
            return redirect(f"{tenant_base_url(tenant)}/accounts/{rest}")
    return redirect("find-workspace")
