"""The operator console's dashboard: one page that answers "is everything OK?".

`console_urls(site)` returns the console's extra admin URLs (dashboard, support access)
wrapped in `site.admin_view`, so they carry whatever protection the admin site has
(staff login plus OTP: the site is identity's OperatorAdminSite, whose `get_urls()` adds
them in front of the admin's own URLs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.admin import AdminSite
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone

from portal import selectors
from portal.health import run_checks
from tenants.pool import pool_level

FLEET_CACHE_KEY = "console:fleet"
FLEET_CACHE_SECONDS = 30
QUEUE_DEPTH_WARN = 500
WEBHOOK_BACKLOG_WARN = 20


@dataclass
class Finding:
    level: str  # "bad" or "warn"
    text: str
    href: str = ""


def _fleet(refresh: bool) -> dict[str, Any]:
    cached = None if refresh else cache.get(FLEET_CACHE_KEY)
    if cached is None:
        fleet = selectors.fleet_summary()
        cached = {"fleet": fleet, "at": timezone.now()}
        cache.set(FLEET_CACHE_KEY, cached, FLEET_CACHE_SECONDS)
    return cached


def dashboard_data(*, refresh: bool = False) -> dict[str, Any]:
    by_status = selectors.tenants_by_status()
    provisioning = selectors.provisioning_counts()
    fleet = _fleet(refresh)
    ready = run_checks()
    data = {
        "by_status": by_status,
        "tenant_total": sum(by_status.values()),
        "provisioning": provisioning,
        "pool_level": pool_level(),
        "pool_target": settings.TENANT_POOL_SIZE,
        "fleet": fleet["fleet"],
        "fleet_at": fleet["at"],
        "webhook_backlog": selectors.webhook_backlog(),
        "chain": selectors.audit_chain_state(),
        "queue_depth": selectors.celery_queue_depth(),
        "queue_name": settings.CELERY_TASK_DEFAULT_QUEUE,
        "ready": ready,
    }
    data["findings"] = findings(data)
    return data


def findings(data: dict[str, Any]) -> list[Finding]:
    """What needs an operator's attention, worst first."""
    found: list[Finding] = []
    failed_checks = [name for name, result in data["ready"].items() if not result["ok"]]
    if failed_checks:
        found.append(Finding("bad", f"Readiness check failing: {', '.join(failed_checks)}."))
    if data["chain"].ok is False:
        found.append(Finding("bad", f"Audit chain verification failed: {data['chain'].detail}"))
    if data["provisioning"].get("failed"):
        found.append(
            Finding(
                "bad",
                f"{data['provisioning']['failed']} tenant(s) failed provisioning.",
                "tenants/tenant/?provisioning__exact=failed",
            )
        )
    if data["fleet"].failed_deploys_24h:
        found.append(
            Finding(
                "warn",
                f"{data['fleet'].failed_deploys_24h} failed deploy(s) in the last 24 h "
                f"({', '.join(data['fleet'].failed_tenants[:5])}).",
            )
        )
    if data["pool_level"] < data["pool_target"]:
        found.append(
            Finding(
                "warn", f"Provisioning pool is low: {data['pool_level']} of {data['pool_target']} spares."
            )
        )
    if data["queue_depth"] is not None and data["queue_depth"] > QUEUE_DEPTH_WARN:
        found.append(Finding("warn", f"Celery queue backlog: {data['queue_depth']} messages."))
    if data["webhook_backlog"] and data["webhook_backlog"] > WEBHOOK_BACKLOG_WARN:
        found.append(Finding("warn", f"{data['webhook_backlog']} Stripe webhook events not processed yet."))
    if data["fleet"].offline:
        found.append(Finding("warn", f"{data['fleet'].offline} agent(s) offline across tenants."))
    return sorted(found, key=lambda finding: finding.level != "bad")


def dashboard_view(request: HttpRequest, site: AdminSite) -> HttpResponse:
    partial = request.GET.get("partial") == "1"
    context = {
        **site.each_context(request),
        "title": "Platform status",
        "data": dashboard_data(refresh=request.GET.get("refresh") == "1"),
        "now": timezone.now(),
    }
    template = "admin/console/_dashboard_body.html" if partial else "admin/console/dashboard.html"
    return TemplateResponse(request, template, context)


def console_urls(site: AdminSite) -> list[URLPattern]:
    from portal import admin_support

    def wrap(view: Any) -> Any:
        def bound(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return view(request, site, *args, **kwargs)

        return site.admin_view(bound)

    return [
        path("dashboard/", wrap(dashboard_view), name="console-dashboard"),
        path("support/<int:tenant_id>/", wrap(admin_support.support_start), name="console-support-start"),
        path("support/<int:tenant_id>/view/", wrap(admin_support.support_view), name="console-support-view"),
        path("support/<int:tenant_id>/end/", wrap(admin_support.support_end), name="console-support-end"),
    ]
