"""Settings + URLs for benchmarks/routing.py: one tiny view, with or without tenant routing.

BENCH_TENANT_ROUTING=1 → the portal's full middleware stack (tenant routing included).
BENCH_TENANT_ROUTING=0 → the same stack minus the two tenant middlewares (the baseline).
"""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.urls import path

from portal.settings import *  # noqa: F403
from portal.settings import MIDDLEWARE

ROUTED = os.environ.get("BENCH_TENANT_ROUTING", "1") == "1"
TENANT_MIDDLEWARE = {
    "tenants.middleware.TenantRoutingMiddleware",
    "tenants.middleware.TenantStatusMiddleware",
}
if not ROUTED:
    MIDDLEWARE = [m for m in MIDDLEWARE if m not in TENANT_MIDDLEWARE]
ROOT_URLCONF = "routing_app"
PUBLIC_SCHEMA_URLCONF = "routing_app"
DEBUG = False
LOGGING_CONFIG = None


def hello(request: HttpRequest) -> HttpResponse:
    tenant = getattr(request, "tenant", None)
    return HttpResponse(f"hello {tenant.schema_name if tenant else 'world'}", content_type="text/plain")


urlpatterns = [path("hello/", hello)]
