"""HTTP tenant routing and tenant status enforcement."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django_tenants.middleware.main import TenantMainMiddleware

from tenants.routing import hostname_from_header, tenant_for_hostname


class TenantRoutingMiddleware(TenantMainMiddleware):
    """django-tenants' router with a cached lookup and clear pages for odd hosts."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        connection.set_schema_to_public()
        hostname = hostname_from_header(request.META.get("HTTP_HOST", ""))
        tenant = tenant_for_hostname(hostname) if hostname else None
        if tenant is None or tenant.status == tenant.Status.DELETED:
            return render(request, "errors/unknown_host.html", {"hostname": hostname}, status=404)
        if not tenant.is_ready:
            return render(request, "tenants/provisioning.html", {"tenant": tenant}, status=503)
        tenant.domain_url = hostname
        request.tenant = tenant
        connection.set_tenant(tenant)
        self.setup_url_routing(request)
        return None


# Paths a suspended tenant can still use: paying, signing in and out, exporting its data.
SUSPENDED_ALLOWED = ("/billing/", "/accounts/", "/static/", "/compliance/exports/", "/api/v1/me")
READ_ONLY_ALLOWED_WRITES = ("/billing/", "/accounts/", "/compliance/exports/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _refuse(request: HttpRequest, code: str, message: str, template: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": code, "message": message}}, status=403)
    return render(request, template, {"message": message}, status=403)


class TenantStatusMiddleware:
    """Access follows the tenant's status: past_due warns, read_only refuses writes,
    suspended leaves only billing and exports. No data is touched by any of them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.schema_name == "public":
            return self.get_response(request)
        status = tenant.status
        if status == tenant.Status.SUSPENDED and not request.path.startswith(SUSPENDED_ALLOWED):
            return _refuse(
                request,
                "tenant_suspended",
                f"{tenant.name} is suspended. Only billing and data export are available.",
                "tenants/suspended.html",
            )
        if (
            status == tenant.Status.READ_ONLY
            and request.method not in SAFE_METHODS
            and not request.path.startswith(READ_ONLY_ALLOWED_WRITES)
        ):
            return _refuse(
                request,
                "tenant_read_only",
                f"{tenant.name} is read-only until the outstanding invoice is paid. "
                "You can still view everything and export your data.",
                "tenants/read_only.html",
            )
        return self.get_response(request)
