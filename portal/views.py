"""The tenant shell's own pages: the dashboard and the error pages."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template import loader

from portal import selectors
from tenants.members.permissions import has_perm

log = logging.getLogger(__name__)


def dashboard(request: HttpRequest) -> HttpResponse:
    """Is my tenant OK? Deploys per environment, agents, overdue secrets, compliance, plan usage."""
    if not request.user.is_authenticated:
        return redirect(f"/accounts/login/?next={request.path}")
    data = selectors.tenant_dashboard(request.tenant)  # type: ignore[attr-defined]
    context = {
        "data": data,
        "recent_events": selectors.recent_audit_events(8) if has_perm(request.user, "audit.read") else None,
        "can_manage_members": has_perm(request.user, "members.manage"),
        "can_manage_agents": has_perm(request.user, "agents.manage"),
    }
    return render(request, "tenant/dashboard.html", context)


def _error(request: HttpRequest, template: str, status: int, message: str = "") -> HttpResponse:
    return render(request, template, {"message": message}, status=status)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, "errors/404.html", 404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Our PermissionDenied messages are written for users ("Your role does not allow …").
    message = str(exception) if exception is not None and str(exception) else ""
    return _error(request, "errors/403.html", 403, message)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, "errors/400.html", 400)


def server_error(request: HttpRequest) -> HttpResponse:
    """Render without the request context: whatever broke may be in a context processor."""
    try:
        body = loader.get_template("errors/500.html").render(
            {"request_id": getattr(request, "request_id", "")}
        )
    except Exception:  # the error page must never raise itself
        log.exception("the 500 page failed to render")
        body = "<h1>Something went wrong</h1>"
    return HttpResponseServerError(body)
