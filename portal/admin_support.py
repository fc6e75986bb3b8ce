"""Support access: an operator looks at a tenant's data, read-only, and the tenant sees it.

Flow: the operator states a reason (start) → a 30-minute grant for that one tenant is kept
in the operator's session → every page view of the support view writes a `support.access`
event into the tenant's own audit chain (and the operator chain) before any data is read.
Nothing here can write tenant data, and secret values are never read: the support view only
lists metadata columns from an allow-list.
"""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal import selectors, services
from tenants.models import Tenant

GRANTS_SESSION_KEY = "support_grants"
GRANT_SECONDS = 30 * 60


class SupportReasonForm(forms.Form):
    reason = forms.CharField(
        label="Why do you need to look?",
        min_length=services.SUPPORT_REASON_MIN_LENGTH,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown to the tenant's admins in their audit log. Quote the ticket, e.g. "
        "“Ticket #4182: customer reports failed deploys”.",
    )


def _tenant(tenant_id: int) -> Tenant:
    tenant = get_object_or_404(Tenant.objects.select_related("plan"), pk=tenant_id)
    if tenant.schema_name == "public" or not tenant.is_ready:
        raise PermissionDenied("This tenant has no data to look at.")
    return tenant


def _grant(request: HttpRequest, tenant: Tenant) -> dict[str, Any] | None:
    grant = request.session.get(GRANTS_SESSION_KEY, {}).get(str(tenant.pk))
    if not grant or grant.get("expires", 0) < time.time() or grant.get("operator") != request.user.pk:
        return None
    return grant


def _require_operator(request: HttpRequest) -> None:
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied


def _admin_root() -> str:
    return reverse("admin:index")


def support_start(request: HttpRequest, site: AdminSite, tenant_id: int) -> HttpResponse:
    _require_operator(request)
    tenant = _tenant(tenant_id)
    form = SupportReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            services.support_access_record(
                tenant=tenant, operator=request.user, reason=reason, section="start"
            )
        except ValidationError as exc:
            form.add_error("reason", exc)
        else:
            grants = request.session.get(GRANTS_SESSION_KEY, {})
            grants[str(tenant.pk)] = {
                "reason": " ".join(reason.split()),
                "expires": time.time() + GRANT_SECONDS,
                "operator": request.user.pk,
            }
            request.session[GRANTS_SESSION_KEY] = grants
            return redirect(f"{_admin_root()}support/{tenant.pk}/view/")
    context = {
        **site.each_context(request),
        "title": f"Support access to {tenant.name}",
        "tenant": tenant,
        "form": form,
        "admin_root": _admin_root(),
        "grant_minutes": GRANT_SECONDS // 60,
    }
    return TemplateResponse(
        request, "admin/console/support_start.html", context, status=400 if form.errors else 200
    )


def support_view(request: HttpRequest, site: AdminSite, tenant_id: int) -> HttpResponse:
    _require_operator(request)
    tenant = _tenant(tenant_id)
    grant = _grant(request, tenant)
    if grant is None:
        messages.info(
            request, "State a reason to open support access (it is recorded in the tenant's audit log)."
        )
        return redirect(f"{_admin_root()}support/{tenant.pk}/")
    # Audit first: if the event cannot be written, nothing is shown.
    services.support_access_record(
        tenant=tenant, operator=request.user, reason=grant["reason"], section="view"
    )
    context = {
        **site.each_context(request),
        "title": f"{tenant.name} (read-only support view)",
        "tenant": tenant,
        "grant": grant,
        "minutes_left": max(0, int((grant["expires"] - time.time()) // 60)),
        "snapshot": selectors.support_snapshot(tenant),
        "admin_root": _admin_root(),
    }
    return TemplateResponse(request, "admin/console/support_view.html", context)


@require_POST
def support_end(request: HttpRequest, site: AdminSite, tenant_id: int) -> HttpResponse:
    _require_operator(request)
    grants = request.session.get(GRANTS_SESSION_KEY, {})
    if grants.pop(str(tenant_id), None) is not None:
        request.session[GRANTS_SESSION_KEY] = grants
        messages.success(request, "Support access ended.")
    return redirect(f"{_admin_root()}tenants/tenant/{tenant_id}/change/")
